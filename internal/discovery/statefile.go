// Copyright 2026 The warden_exporter Authors
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log/level"
	"golang.org/x/sys/unix"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// The state file keeps what discovery learned across restarts. It is read
// once, at the start, and only what the exporter could have written is
// kept (load). It is written off the evaluation's path, by stateWriter: a
// state at the caps is ~3 MB and an fsync can take tens of milliseconds. A
// write that fails (a full or read-only disk) is counted, logged and tried
// again until it succeeds, and /-/forget waits for its own write, so what
// the exporter says it forgot is what a restart loads.

// load reads the state file. A missing file is a first start; an unreadable
// or corrupt one is logged and ignored: the exporter learns again. Entries
// the exporter could not have written are dropped one by one, so a bad
// entry costs itself and not what else was learned (see parseState).
func (d *Discovery) load() {
	if d.opts.StateFile == "" {
		return
	}
	data, err := readStateFile(d.opts.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		level.Warn(d.opts.Logger).Log("msg", "cannot read the discovery state file, starting afresh", "file", d.opts.StateFile, "err", err)
		return
	}
	// Units are decoded one by one (and their ports too) so a null or a
	// value of the wrong type drops its entry, not the file.
	var raw struct {
		Version int                        `json:"version"`
		Units   map[string]json.RawMessage `json:"units"`
	}
	if err := json.Unmarshal(data, &raw); err != nil || raw.Version != discoveryStateVersion || raw.Units == nil {
		level.Warn(d.opts.Logger).Log("msg", "the discovery state file is corrupt or of another version, starting afresh", "file", d.opts.StateFile, "err", err)
		return
	}
	var rep stateReport
	d.st = parseState(raw.Units, d.opts.Now(), &rep)
	capState(d.st, &rep)
	if rep.droppedUnits+rep.droppedPorts+rep.mended > 0 {
		level.Warn(d.opts.Logger).Log("msg", "the discovery state file holds entries the exporter could not have written: dropped or mended them, kept the rest",
			"file", d.opts.StateFile, "dropped_units", rep.droppedUnits, "dropped_ports", rep.droppedPorts, "mended", rep.mended, "first", rep.first)
	}
}

// maxStateFileBytes bounds the state file load reads. saveLocked encodes a
// learned port in 220 to 300 bytes and a unit in about 80 plus its name, so
// 4 MiB holds over 13,000 ports: far more than a host has (the file of a
// host with a hundred services is tens of kilobytes). A larger file was not
// written by the exporter, and parsing it could outlast a scrape and fill
// memory: it is refused whole.
const maxStateFileBytes = 4 << 20

// readStateFile reads the state file, refusing anything but a regular file
// of at most maxStateFileBytes.
func readStateFile(path string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer, and the exporter's start with it. A regular file ignores it.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Stat the opened file, not the path: nothing can be swapped in
	// between.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot stat the state file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (mode %s)", path, fi.Mode())
	}
	// Sized by the file, so reading does not grow (and copy) the buffer:
	// ReadFrom grows it when less than MinRead is free. The size is only a
	// hint: the file may grow as it is read.
	buf := bytes.NewBuffer(make([]byte, 0, min(fi.Size(), maxStateFileBytes)+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, maxStateFileBytes+1)); err != nil {
		return nil, fmt.Errorf("cannot read the state file: %w", err)
	}
	data := buf.Bytes()
	if len(data) > maxStateFileBytes {
		return nil, fmt.Errorf("%s is larger than the limit of %d bytes", path, maxStateFileBytes)
	}
	return data, nil
}

// stateReport counts what load dropped or mended, for one warning per load
// rather than one per entry (a hostile file could hold thousands).
type stateReport struct {
	droppedUnits, droppedPorts, mended int    // entries
	first                              string // the first reason, in name and key order
}

func (r *stateReport) note(count *int, format string, args ...any) {
	*count++
	if r.first == "" {
		r.first = fmt.Sprintf(format, args...)
	}
}

// parseState keeps the units and ports Learn could have written, as
// Learn would have written them. It goes in name and key order, so what
// is dropped from a file and the reason logged are always the same.
func parseState(units map[string]json.RawMessage, now time.Time, rep *stateReport) discoveryState {
	// Sized for what may be kept, not for what the file holds: a file
	// within the size cap can list 300,000 nulls.
	st := discoveryState{Version: discoveryStateVersion, Units: make(map[string]*learnedUnit, min(len(units), maxStateUnits))}
	names := slices.AppendSeq(make([]string, 0, len(units)), maps.Keys(units))
	slices.Sort(names)
	for _, name := range names {
		if lu := parseUnit(name, units[name], now, rep); lu != nil {
			st.Units[name] = lu
		}
	}
	return st
}

// learnedUnitName is config's unit-name rule (systemd's) for the names
// discovery learns, which are service units only, never podman's health
// checks' (serviceOf): a name in the file is asked of systemd by name at
// every scrape.
func learnedUnitName(name string) error {
	if !strings.HasSuffix(name, ".service") || name == ".service" {
		return errors.New("is not a service unit")
	}
	if systemd.IsContainerHealthCheckUnit(name) {
		return errors.New("is a podman container's health-check unit")
	}
	return config.ValidUnitName(name)
}

func parseUnit(name string, raw json.RawMessage, now time.Time, rep *stateReport) *learnedUnit {
	if err := learnedUnitName(name); err != nil {
		rep.note(&rep.droppedUnits, "unit %q %v", name, err)
		return nil
	}
	var u struct {
		LastLoaded time.Time                  `json:"last_loaded"`
		Ports      map[string]json.RawMessage `json:"ports"`
		RunStart   time.Time                  `json:"run_start"`
		Moves      int                        `json:"moves"`
		Varies     []string                   `json:"varies"`
	}
	if isJSONNull(raw) {
		rep.note(&rep.droppedUnits, "unit %q is null", name)
		return nil
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		rep.note(&rep.droppedUnits, "unit %q: %v", name, err)
		return nil
	}
	// Only tcp and udp, once each, in order: what noteRun writes.
	var varies []string
	for _, p := range []string{"tcp", "udp"} {
		if slices.Contains(u.Varies, p) {
			varies = append(varies, p)
		}
	}
	if len(u.Ports) == 0 && len(varies) == 0 {
		// Learn removes a unit with no ports before it saves, unless
		// its ports vary (between runs it may hold none).
		rep.note(&rep.droppedUnits, "unit %q has no ports", name)
		return nil
	}
	// last_loaded may be zero: a socket unit declares the ports of a
	// service that was never seen loaded.
	var um mending
	lu := &learnedUnit{LastLoaded: notAfter(u.LastLoaded, now, &um, "last_loaded"), Ports: make(map[string]*learnedPort, len(u.Ports)),
		RunStart: notAfter(u.RunStart, now, &um, "run_start"), Moves: min(max(u.Moves, 0), varyAfterMoves), Varies: varies}
	if um.why != "" {
		rep.note(&rep.mended, "unit %q %s", name, um.why)
	}
	for _, key := range slices.Sorted(maps.Keys(u.Ports)) {
		var pm mending
		lp, err := parsePort(u.Ports[key], now, &pm)
		if err != nil {
			rep.note(&rep.droppedPorts, "unit %q port %q %v", name, key, err)
			continue
		}
		// The key is derived from the entry, and Learn finds a port by
		// it: an entry under another key would be learned a second time.
		k := learnedKey(lp.Proto, lp.Address, lp.Port)
		if prev := lu.Ports[k]; prev != nil {
			rep.note(&rep.droppedPorts, "unit %q port %q is the same port as %q", name, key, k)
			if prev.Learned || !lp.Learned {
				continue
			}
		} else {
			if k != key {
				pm.note("is keyed %q", k)
			}
			if pm.why != "" {
				rep.note(&rep.mended, "unit %q port %q %s", name, key, pm.why)
			}
		}
		lu.Ports[k] = lp
	}
	if len(lu.Ports) == 0 && len(lu.Varies) == 0 {
		return nil // each port was counted
	}
	return lu
}

// capState trims a loaded state to the caps. It keeps what is most likely
// still true: the most recently loaded units and, in each, the learned
// ports, the most recently seen first. Ties go by name and key, so a file
// is trimmed the same way whatever its order.
func capState(st discoveryState, rep *stateReport) {
	names := slices.Collect(maps.Keys(st.Units))
	slices.SortFunc(names, func(a, b string) int {
		if c := st.Units[b].LastLoaded.Compare(st.Units[a].LastLoaded); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	ports := 0
	for i, name := range names {
		lu := st.Units[name]
		room := min(maxStateUnitPorts, maxStatePorts-ports)
		switch {
		case i >= maxStateUnits:
			rep.note(&rep.droppedUnits, "unit %q is over the cap of %d units", name, maxStateUnits)
			delete(st.Units, name)
			continue
		case room == 0:
			rep.note(&rep.droppedUnits, "unit %q is over the cap of %d ports", name, maxStatePorts)
			delete(st.Units, name)
			continue
		case len(lu.Ports) > room:
			keys := slices.Collect(maps.Keys(lu.Ports))
			slices.SortFunc(keys, func(a, b string) int {
				pa, pb := lu.Ports[a], lu.Ports[b]
				if pa.Learned != pb.Learned {
					if pa.Learned {
						return -1
					}
					return 1
				}
				if c := pb.LastSeen.Compare(pa.LastSeen); c != 0 {
					return c
				}
				return strings.Compare(a, b)
			})
			for _, k := range keys[room:] {
				rep.note(&rep.droppedPorts, "unit %q port %q is over the cap of %d ports per unit and %d in all", name, k, maxStateUnitPorts, maxStatePorts)
				delete(lu.Ports, k)
			}
		}
		ports += len(lu.Ports)
	}
}

// mending is why an entry was changed on load: its first reason only, as
// the entry counts once.
type mending struct{ why string }

func (m *mending) note(format string, args ...any) {
	if m.why == "" {
		m.why = fmt.Sprintf(format, args...)
	}
}

func parsePort(raw json.RawMessage, now time.Time, m *mending) (*learnedPort, error) {
	if isJSONNull(raw) {
		return nil, errors.New("is null")
	}
	var lp learnedPort
	if err := json.Unmarshal(raw, &lp); err != nil {
		return nil, fmt.Errorf("does not decode: %w", err)
	}
	if lp.FirstSeen.IsZero() || lp.LastSeen.IsZero() {
		// Learn stamps both when it first sees a port; a zero
		// first_seen would also make a candidate learned at once.
		return nil, errors.New("has no first_seen or last_seen")
	}
	addr, err := learnedPortValid(lp.Proto, lp.Address, lp.Port)
	if err != nil {
		return nil, err
	}
	if addr != lp.Address {
		m.note("has address %q, spelt %q", lp.Address, addr)
		lp.Address = addr
	}
	lp.FirstSeen = notAfter(lp.FirstSeen, now, m, "first_seen")
	lp.LastSeen = notAfter(lp.LastSeen, now, m, "last_seen")
	lp.DetourSince = notAfter(lp.DetourSince, now, m, "detour_since")
	return &lp, nil
}

// notAfter sets a time in the future to now. A future last_loaded would keep
// a unit from being forgotten, a future first_seen a candidate from being
// learned, until the clock caught up. They are mended rather than dropped:
// a host whose clock is behind at boot (no RTC, restored from the last
// shutdown) would otherwise lose everything it learned at every boot.
func notAfter(t, now time.Time, m *mending, field string) time.Time {
	if t.After(now) {
		m.note("has %s %s, in the future", field, t.Format(time.RFC3339))
		return now
	}
	return t
}

func isJSONNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

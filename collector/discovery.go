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

package collector

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/warden-exporter/warden_exporter/config"
)

// Discovery learns implicit checks: every loaded service unit that holds a
// listener (itself, or through the socket unit that activates it), or whose
// socket unit declares Listen= addresses, becomes a check named after the
// unit, expecting the ports it was seen with. What is learned is kept for
// the life of the process and, with a state file, across restarts: a port
// that disappears later is exactly what the check is for.

// DiscoveryOptions configures discovery.
type DiscoveryOptions struct {
	// StateFile keeps what was learned across restarts; "" keeps it in
	// memory only.
	StateFile string
	// MinAge is how long a port must be seen before it is learned, so a
	// short-lived listener (a one-off tool, a test) is not.
	MinAge time.Duration
	// ForgetAfter is how long a unit may be gone (not loaded) before its
	// learned ports are forgotten.
	ForgetAfter time.Duration
	Logger      log.Logger
	// Now is time.Now outside tests.
	Now func() time.Time
}

type discovery struct {
	opts DiscoveryOptions
	mu   sync.Mutex
	st   discoveryState
}

// discoveryState is what the state file holds.
type discoveryState struct {
	Version int                     `json:"version"`
	Units   map[string]*learnedUnit `json:"units"`
}

type learnedUnit struct {
	LastLoaded time.Time               `json:"last_loaded"`
	Ports      map[string]*learnedPort `json:"ports"`
}

type learnedPort struct {
	Proto     string    `json:"proto"`
	Address   string    `json:"address"`
	Port      int       `json:"port"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Learned   bool      `json:"learned"`
}

const discoveryStateVersion = 1

func newDiscovery(opts DiscoveryOptions) *discovery {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ForgetAfter <= 0 {
		opts.ForgetAfter = 24 * time.Hour
	}
	d := &discovery{opts: opts, st: discoveryState{Version: discoveryStateVersion, Units: map[string]*learnedUnit{}}}
	d.load()
	return d
}

// load reads the state file. A missing file is a first start; an unreadable
// or corrupt one is logged and ignored: the exporter learns again.
func (d *discovery) load() {
	if d.opts.StateFile == "" {
		return
	}
	data, err := os.ReadFile(d.opts.StateFile)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		level.Warn(d.opts.Logger).Log("msg", "cannot read the discovery state file, starting afresh", "file", d.opts.StateFile, "err", err)
		return
	}
	var st discoveryState
	if err := json.Unmarshal(data, &st); err != nil || st.Version != discoveryStateVersion || st.Units == nil {
		level.Warn(d.opts.Logger).Log("msg", "the discovery state file is corrupt or of another version, starting afresh", "file", d.opts.StateFile, "err", err)
		return
	}
	for name, u := range st.Units {
		if u == nil || u.Ports == nil {
			delete(st.Units, name)
		}
	}
	d.st = st
}

// save writes the state atomically (a temporary file renamed over the
// old one), so a crash or a full disk never leaves half a file. A failure
// is logged; the exporter goes on.
func (d *discovery) save() {
	if d.opts.StateFile == "" {
		return
	}
	data, err := json.MarshalIndent(d.st, "", " ")
	if err == nil {
		err = writeFileAtomic(d.opts.StateFile, data)
	}
	if err != nil {
		level.Warn(d.opts.Logger).Log("msg", "cannot write the discovery state file", "file", d.opts.StateFile, "err", err)
	}
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// observe learns from this scrape and returns the implicit checks: one per
// service unit with learned ports, except units (and names) the configured
// checks already cover.
func (d *discovery) observe(cfg *config.Config, r readings, owners []Owner, triggers func(string) []string) []config.Check {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.opts.Now()
	changed := false
	if r.units != nil && r.listeners != nil {
		seen := map[string]map[string]learnedPort{}
		note := func(unit, proto, addr string, port int) {
			if seen[unit] == nil {
				seen[unit] = map[string]learnedPort{}
			}
			key := proto + " " + addr + " " + strconv.Itoa(port)
			seen[unit][key] = learnedPort{Proto: proto, Address: addr, Port: port}
		}
		for i, l := range r.listeners.listeners {
			if i >= len(owners) || owners[i].Unit == "" {
				continue
			}
			for _, svc := range serviceOf(owners[i].Unit, triggers) {
				if u, ok := r.units.Unit(svc); ok && u.LoadState == "loaded" {
					note(svc, l.Proto, l.Addr.String(), int(l.Port))
				}
			}
		}
		// Socket units declare their ports: learned as soon as seen.
		declared := map[string]bool{}
		for _, name := range r.units.snap.names {
			u := r.units.snap.units[name]
			if !strings.HasSuffix(name, ".socket") {
				continue
			}
			for _, ls := range u.Listen {
				addr, port, ok := parseListenAddress(ls.Address)
				proto := map[string]string{"Stream": "tcp", "Datagram": "udp"}[ls.Type]
				if !ok || proto == "" {
					continue
				}
				a := ""
				if addr.IsValid() {
					a = addr.String()
				}
				for _, svc := range serviceOf(name, triggers) {
					note(svc, proto, a, int(port))
					declared[svc+" "+proto+" "+a+" "+strconv.Itoa(int(port))] = true
				}
			}
		}
		for unit, ports := range seen {
			lu := d.st.Units[unit]
			if lu == nil {
				lu = &learnedUnit{Ports: map[string]*learnedPort{}}
				d.st.Units[unit] = lu
			}
			for key, p := range ports {
				lp := lu.Ports[key]
				if lp == nil {
					lp = &learnedPort{Proto: p.Proto, Address: p.Address, Port: p.Port, FirstSeen: now}
					lu.Ports[key] = lp
				}
				lp.LastSeen = now
				if !lp.Learned && (now.Sub(lp.FirstSeen) >= d.opts.MinAge || declared[unit+" "+key]) {
					lp.Learned, changed = true, true
				}
			}
		}
		// Candidates not seen again within min-age were ephemeral.
		for unit, lu := range d.st.Units {
			for key, lp := range lu.Ports {
				if !lp.Learned && now.Sub(lp.LastSeen) > d.opts.MinAge {
					delete(lu.Ports, key)
				}
			}
			if u, ok := r.units.Unit(unit); ok && u.LoadState == "loaded" {
				if now.Sub(lu.LastLoaded) > time.Hour {
					changed = true // refresh the file's record now and then
				}
				lu.LastLoaded = now
			} else if !lu.LastLoaded.IsZero() && now.Sub(lu.LastLoaded) > d.opts.ForgetAfter {
				level.Info(d.opts.Logger).Log("msg", "forgetting a unit gone for longer than --discovery.forget-after", "unit", unit)
				delete(d.st.Units, unit)
				changed = true
				continue
			}
			if len(lu.Ports) == 0 {
				delete(d.st.Units, unit)
			}
		}
	}
	if changed {
		d.save()
	}
	configured := map[string]bool{}
	for _, c := range cfg.Checks {
		configured[c.Unit] = true
		configured[c.Name] = true
	}
	var out []config.Check
	for unit, lu := range d.st.Units {
		if configured[unit] {
			continue
		}
		c := config.Check{Name: unit, Unit: unit}
		for _, lp := range lu.Ports {
			if lp.Learned {
				c.Ports = append(c.Ports, config.Port{Proto: lp.Proto, Address: lp.Address, Port: lp.Port})
			}
		}
		if len(c.Ports) == 0 {
			continue
		}
		sort.Slice(c.Ports, func(i, j int) bool { return portLess(c.Ports[i], c.Ports[j]) })
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func portLess(a, b config.Port) bool {
	if a.Port != b.Port {
		return a.Port < b.Port
	}
	if a.Proto != b.Proto {
		return a.Proto < b.Proto
	}
	return a.Address < b.Address
}

// serviceOf maps an owner unit to the service units it stands for: itself
// if it is a service, the services a socket unit activates.
func serviceOf(unit string, triggers func(string) []string) []string {
	switch {
	case strings.HasSuffix(unit, ".service"):
		return []string{unit}
	case strings.HasSuffix(unit, ".socket"):
		var out []string
		for _, t := range triggers(unit) {
			if strings.HasSuffix(t, ".service") {
				out = append(out, t)
			}
		}
		return out
	}
	return nil
}

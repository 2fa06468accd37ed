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

package systemd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

func (c *unitCache) startListing() {
	if c.listing {
		c.listAgain = true
		return
	}
	c.listing = true
	c.outstanding[c.processed]++
	issue, trig := c.processed, c.processed
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.callTimeout)
		defer cancel()
		listed, err := c.list(ctx)
		c.results <- fetchResult{issueSeq: issue, trigSeq: trig, listed: listed, err: err}
	}()
}

func (c *unitCache) list(ctx context.Context) ([]sdbus.UnitStatus, error) {
	var listed []sdbus.UnitStatus
	err := c.budget.do(ctx, func(ctx context.Context) (err error) {
		if c.patterns != nil {
			listed, err = c.sd.ListUnitsByPatternsContext(ctx, nil, c.patterns)
		} else {
			listed, err = c.sd.ListUnitsContext(ctx)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing units: %w", err)
	}
	cleanStatuses(listed)
	var extra []string
	for name := range c.extraNames {
		extra = append(extra, name)
	}
	if len(extra) > 0 {
		more, err := c.listByName(ctx, extra)
		if err != nil {
			return nil, fmt.Errorf("listing units by name: %w", err)
		}
		listed = append(listed, more...)
	}
	return listed, nil
}

// listByName lists the named units, loaded or not, within the budget.
func (c *unitCache) listByName(ctx context.Context, names []string) ([]sdbus.UnitStatus, error) {
	var listed []sdbus.UnitStatus
	err := c.budget.do(ctx, func(ctx context.Context) (err error) {
		listed, err = c.sd.ListUnitsByNamesContext(ctx, names)
		return err
	})
	cleanStatuses(listed)
	return listed, err
}

// namedExtras is what a scrape reads of a check's unit besides its status.
type namedExtras struct {
	// FileState is the UnitFileState (enabled, disabled, static, masked,
	// ...): whether the unit comes back at boot.
	FileState string
	// StateChange is when the unit last changed ActiveState, in
	// microseconds since the epoch: the "since" of a failure.
	StateChange uint64
	// StartLimitBurst and StartLimitInterval (microseconds) are a failed
	// unit's start limit, what a reason says systemd gave up at.
	StartLimitBurst    uint32
	StartLimitInterval uint64
}

// namedExtrasBatch is how many calls namedExtras pipelines at once: what
// the budget (64) holds beside the cache's fetches and the reserve.
const namedExtrasBatch = 16

// namedExtras reads UnitFileState and StateChangeTimestamp of the loaded
// units among statuses, pipelined within the budget. Read per scrape for
// the checks' units only: systemd signals no change of the file state on
// the unit (enable/disable only reload the unit files), and the cache does
// not keep the timestamp for every unit.
func (c *unitCache) namedExtras(ctx context.Context, statuses []sdbus.UnitStatus) (map[string]namedExtras, error) {
	var calls []*busCall
	var names []string
	// The calls of names[i] start at first[i]; a failed unit's end with
	// its start limit's two, which only a failed unit's reason uses: a
	// scrape of 100 healthy checks makes no more calls for them.
	var first []int
	for _, st := range statuses {
		if st.LoadState == "not-found" || st.Path == "" {
			continue
		}
		obj := c.conn.Object(dbusSystemdName, st.Path)
		first = append(first, len(calls))
		calls = append(calls,
			&busCall{obj: obj, method: dbusPropsIface + ".Get", args: []any{dbusUnitIface, "UnitFileState"}},
			&busCall{obj: obj, method: dbusPropsIface + ".Get", args: []any{dbusUnitIface, "StateChangeTimestamp"}})
		if st.ActiveState == "failed" {
			calls = append(calls,
				&busCall{obj: obj, method: dbusPropsIface + ".Get", args: []any{dbusUnitIface, "StartLimitBurst"}},
				&busCall{obj: obj, method: dbusPropsIface + ".Get", args: []any{dbusUnitIface, "StartLimitIntervalUSec"}})
		}
		names = append(names, st.Name)
	}
	if len(calls) == 0 {
		return nil, nil
	}
	// In batches the budget can hold: a pipeline asks for all its calls at
	// once, and one larger than the budget would wait for ever (100 checks
	// are 200 calls; the budget is 64).
	for batch := range slices.Chunk(calls, namedExtrasBatch) {
		if err := c.budget.pipeline(ctx, batch); err != nil {
			return nil, err
		}
	}
	out := make(map[string]namedExtras, len(names))
	for i, name := range names {
		var x namedExtras
		var v dbus.Variant
		get := func(j int) bool {
			// A unit gone meanwhile answers an error: nothing of it this
			// scrape.
			j += first[i]
			end := len(calls)
			if i+1 < len(first) {
				end = first[i+1]
			}
			return j < end && calls[j].call.Err == nil && calls[j].call.Store(&v) == nil
		}
		if get(0) {
			x.FileState = propWord(v)
		}
		if get(1) {
			x.StateChange, _ = v.Value().(uint64)
		}
		if get(2) {
			x.StartLimitBurst, _ = v.Value().(uint32)
		}
		if get(3) {
			x.StartLimitInterval, _ = v.Value().(uint64)
		}
		out[name] = x
	}
	return out, nil
}

// dispatch starts queued fetches up to the concurrency bound.
func (c *unitCache) dispatch() {
	for c.running < maxUnitFetches && len(c.queue) > 0 {
		name := c.queue[0]
		c.queue = c.queue[1:]
		e := c.units[name]
		if e == nil || e.fetch != fetchQueued {
			continue
		}
		e.fetch = fetchRunning
		c.running++
		issue, trig := c.processed, e.countedSeq
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.callTimeout)
			defer cancel()
			u, gone, err := fetchUnit(ctx, c.conn, c.budget, unitFetchShape, name)
			c.results <- fetchResult{name: name, entry: e, issueSeq: issue, trigSeq: trig, unit: u, gone: gone, err: err}
		}()
	}
}

// The properties we read per unit. Not a service's RemainAfterExit:
// nothing reads it (a oneshot that exited with it is active).
var (
	unitProps    = []string{"LoadState", "ActiveState", "SubState", "ActiveEnterTimestamp"}
	serviceProps = []string{"Result", "NRestarts", "MainPID", "ControlGroup"}
	socketProps  = []string{"ControlGroup", "Listen"}
)

// timerJobProps tell a timer's job: a service's Type (Service interface;
// a running oneshot is activating, not down) and TriggeredBy (Unit
// interface; idle between a timer's runs is up). Two more calls in a
// service's fetch, pipelined with the rest (~0.04 ms each).
var (
	timerJobServiceProps = []string{"Type"}
	timerJobUnitProps    = []string{"TriggeredBy"}
)

// fetchShape is how a unit's properties are read.
type fetchShape int

const (
	// fetchByGet pipelines one Properties.Get per property: 10 calls for a
	// service, small answers.
	fetchByGet fetchShape = iota
	// fetchByGetAll makes one Properties.GetAll per interface: 2 calls, but
	// the Unit interface alone answers ~100 properties.
	fetchByGetAll
)

// unitFetchShape is the shape the cache uses. Measured per unit, every
// loaded service, as many units in flight as callBudget allows for the
// shape (BenchmarkFetchUnitShapes, 2-core VM): system bus of a booted
// Debian 12 host (dbus-daemon, 313 services) Get 429-502 us, GetAll
// 680-744 us; session bus with the system bus's limit (304) Get 312 us,
// GetAll 595 us. Without a budget, on a private socket: Get 0.33 ms, Unit
// + Service GetAll 2.4 ms. Pipelined Gets win everywhere.
const unitFetchShape = fetchByGet

// callsPerFetch is how many calls one unit's fetch makes at most.
func callsPerFetch(shape fetchShape) int {
	if shape == fetchByGetAll {
		return 2
	}
	return len(unitProps) + len(serviceProps) +
		len(timerJobServiceProps) + len(timerJobUnitProps)
}

// maxUnitFetches bounds the units fetched at once, so that their calls fit
// the connection's budget beside the listings' and the scrapes'.
var maxUnitFetches = (callBudget - reservedCalls) / callsPerFetch(unitFetchShape)

// fetchUnit reads the properties we need of one unit, all its calls in
// flight at once, within the connection's budget.
func fetchUnit(ctx context.Context, conn *dbus.Conn, budget *busBudget, shape fetchShape, name string) (Unit, bool, error) {
	obj := conn.Object(dbusSystemdName, unitPath(name))
	type part struct {
		iface string
		prop  string // "" for GetAll
	}
	var parts []part
	add := func(iface string, names []string) {
		if shape == fetchByGetAll {
			parts = append(parts, part{iface: iface})
			return
		}
		for _, n := range names {
			parts = append(parts, part{iface, n})
		}
	}
	switch {
	case strings.HasSuffix(name, ".service"):
		add(dbusUnitIface, unitProps)
		add(dbusServiceIface, serviceProps)
		add(dbusUnitIface, timerJobUnitProps)
		add(dbusServiceIface, timerJobServiceProps)
	case strings.HasSuffix(name, ".socket"):
		add(dbusUnitIface, append(slices.Clone(unitProps), "Triggers"))
		add(dbusSocketIface, socketProps)
	default:
		add(dbusUnitIface, unitProps)
	}
	calls := make([]*busCall, len(parts))
	for i, p := range parts {
		if p.prop == "" {
			calls[i] = &busCall{obj: obj, method: dbusPropsIface + ".GetAll", args: []any{p.iface}}
		} else {
			calls[i] = &busCall{obj: obj, method: dbusPropsIface + ".Get", args: []any{p.iface, p.prop}}
		}
	}
	if err := budget.pipeline(ctx, calls); err != nil {
		return Unit{}, false, err
	}
	u := Unit{Name: name, IsService: strings.HasSuffix(name, ".service")}
	var firstErr error
	for i, p := range parts {
		call := calls[i].call
		if call.Err != nil {
			if isGone(call.Err) {
				return Unit{}, true, nil
			}
			if isUnknownProperty(call.Err) {
				continue // an older systemd without it (NRestarts < 235)
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("%s %s: %w", p.iface, p.prop, call.Err)
			}
			continue
		}
		var m map[string]dbus.Variant
		if p.prop == "" {
			if err := call.Store(&m); err != nil {
				firstErr = cmp.Or(firstErr, err)
				continue
			}
		} else {
			var v dbus.Variant
			if err := call.Store(&v); err != nil {
				firstErr = cmp.Or(firstErr, err)
				continue
			}
			m = map[string]dbus.Variant{p.prop: v}
		}
		if p.iface == dbusUnitIface {
			setUnitProps(&u, m)
		} else {
			setTypeProps(&u, m)
		}
	}
	return u, false, firstErr
}

func isGone(err error) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name == "org.freedesktop.systemd1.NoSuchUnit" || de.Name == "org.freedesktop.DBus.Error.UnknownObject"
	}
	return false
}

func isUnknownProperty(err error) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name == "org.freedesktop.DBus.Error.UnknownProperty" || de.Name == "org.freedesktop.DBus.Error.InvalidArgs"
	}
	return false
}

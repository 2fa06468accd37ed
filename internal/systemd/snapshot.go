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
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
)

// Snapshot is one reading of systemd: immutable, safe to share.
type Snapshot struct {
	snap *cacheView
	// conn is the connection it was read on (Client.Connections then).
	conn  uint64
	named map[string]sdbus.UnitStatus // the checks' units, read this scrape
	// extras are the checks' loaded units' file state and state change
	// time, read this scrape.
	extras map[string]namedExtras

	triggeredOnce sync.Once
	triggeredBy   map[string][]string // unit -> the socket units that trigger it

	// The failed units Failed lists (see failed.go), and when the ones
	// not read by name failed, read this scrape.
	failedOnce  sync.Once
	failed      []string
	failedMore  int
	failedSince map[string]uint64
}

// Connection is the number of the connection the snapshot's units were
// read on (see Client.Connections); 0 for one not read from a manager.
func (r *Snapshot) Connection() uint64 { return r.conn }

// Unit returns what is known of a unit: its state (fresh this scrape for the
// checks' units) and the cached extras.
func (r *Snapshot) Unit(name string) (Unit, bool) {
	u, cached := r.snap.units[name]
	st, named := r.named[name]
	if !named {
		return u, cached
	}
	u.Name, u.LoadState, u.ActiveState, u.SubState = name, st.LoadState, st.ActiveState, st.SubState
	x := r.extras[name]
	u.StateChangeTimestamp = x.StateChange
	u.StartLimitBurst, u.StartLimitIntervalUSec = x.StartLimitBurst, x.StartLimitInterval
	return u, true
}

// Triggers returns, for a socket unit, the services it activates:
// Triggers= when systemd reported it, else the service of the same name.
// r may be nil (systemd not read): the default then.
func (r *Snapshot) Triggers(socket string) []string {
	u := Unit{Name: socket}
	if r != nil {
		u, _ = r.Unit(socket)
		u.Name = socket
	}
	return u.Activates()
}

// Activators returns the socket units that activate service, as the cache
// last saw them: those whose Triggers= name it (by default foo.socket
// triggers foo.service). Only watched socket units are known; the default
// --systemd.unit-include watches every one.
func (r *Snapshot) Activators(service string) []Unit {
	r.triggeredOnce.Do(func() {
		r.triggeredBy = map[string][]string{}
		for _, name := range r.snap.names {
			if !strings.HasSuffix(name, ".socket") {
				continue
			}
			for _, t := range r.snap.units[name].Activates() {
				r.triggeredBy[t] = append(r.triggeredBy[t], name)
			}
		}
	})
	var out []Unit
	for _, name := range r.triggeredBy[service] {
		if u, ok := r.Unit(name); ok {
			out = append(out, u)
		}
	}
	return out
}

// Names are the cached units, sorted. The slice is shared: do not modify.
func (r *Snapshot) Names() []string { return r.snap.names }

// SocketUnits are the cached units whose names end in .socket, sorted,
// found once per view: walking the 2,000 names of a host at every scrape
// and watch tick to find them was 4.7% of a compact scrape's CPU. The
// slice is shared: do not modify.
func (r *Snapshot) SocketUnits() []string {
	v := r.snap
	v.socketsOnce.Do(func() {
		for _, name := range v.names {
			if strings.HasSuffix(name, ".socket") {
				v.sockets = append(v.sockets, name)
			}
		}
	})
	return v.sockets
}

// Named reports whether name was read by name in this snapshot.
func (r *Snapshot) Named(name string) bool {
	_, ok := r.named[name]
	return ok
}

// NamedUnits are the units read by name in this snapshot, sorted.
func (r *Snapshot) NamedUnits() []string {
	return slices.Sorted(maps.Keys(r.named))
}

// FileState is the UnitFileState of a unit read by name (enabled,
// disabled, static, masked, ...); "" when unknown.
func (r *Snapshot) FileState(name string) string { return r.extras[name].FileState }

// SameCache reports whether r and o were read from the same state of the
// cache (nil is never the same): what is derived from the cached units
// alone can be kept from one to the other.
func (r *Snapshot) SameCache(o *Snapshot) bool {
	return r != nil && o != nil && r.snap == o.snap
}

// Current reports whether the view holds what the manager last signalled
// of unit name, its properties (ControlGroup) included. It does not for a
// unit it watches that it does not hold yet, or whose properties are still
// being read: the watch judges the view a change left with listeners read
// later, and a unit started since then may already listen (on a booted
// host, a stranger's listener was named "outside every known unit" from
// such a view). A unit the view does not watch is current: it is never
// held.
func (r *Snapshot) Current(name string) bool {
	v := r.snap
	if v.pending[name] {
		return false
	}
	if _, ok := v.units[name]; ok || v.watches == nil {
		return true
	}
	return !v.watches(name)
}

// SnapshotWatching is SnapshotOf a view that watches the units watches
// accepts and is still reading pending's properties: a view older than
// the units, for tests.
func SnapshotWatching(watches func(string) bool, pending []string, units ...Unit) *Snapshot {
	r := SnapshotOf(units...)
	r.snap.watches, r.snap.pending = watches, map[string]bool{}
	for _, name := range pending {
		r.snap.pending[name] = true
	}
	return r
}

// SnapshotOf returns a snapshot holding units as cached, none read by
// name: captured or made-up data for the layers above, in tests and
// benchmarks.
func SnapshotOf(units ...Unit) *Snapshot {
	v := &cacheView{units: make(map[string]Unit, len(units)), names: make([]string, 0, len(units))}
	for _, u := range units {
		if _, dup := v.units[u.Name]; !dup {
			v.names = append(v.names, u.Name)
		}
		v.units[u.Name] = u
	}
	sort.Strings(v.names)
	return &Snapshot{snap: v}
}

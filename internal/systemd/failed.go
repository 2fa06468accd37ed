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
	"context"
	"slices"

	"github.com/godbus/dbus/v5"
)

// FailedListed bounds the failed units a snapshot lists (Failed) and reads
// the time of failure of: a host with hundreds of failed units (a broken
// image) costs one pipelined Get per listed unit a scrape, at most 50
// (~0.3 ms in all on the 2-core VM), and the page a screenful.
const FailedListed = 50

// Failed returns the units in ActiveState failed that the snapshot knows
// (the watched ones and the checks'), by name, at most FailedListed of
// them with their StateChangeTimestamp (when they failed), and how many
// more there are.
func (r *Snapshot) Failed() (units []Unit, more int) {
	names, more := r.failedNames()
	units = make([]Unit, 0, len(names))
	for _, name := range names {
		u, _ := r.Unit(name)
		if t, ok := r.failedSince[name]; ok && !r.Named(name) {
			u.StateChangeTimestamp = t
		}
		units = append(units, u)
	}
	return units, more
}

// failedNames are the failed units Failed lists, and how many it leaves
// out. Computed once per snapshot: read() asks before Failed does.
func (r *Snapshot) failedNames() ([]string, int) {
	r.failedOnce.Do(func() {
		var all []string
		for _, name := range r.snap.failedUnits() {
			if _, named := r.named[name]; !named {
				all = append(all, name)
			}
		}
		for name, st := range r.named {
			if st.ActiveState == "failed" {
				all = append(all, name)
			}
		}
		slices.Sort(all)
		if len(all) > FailedListed {
			r.failedMore = len(all) - FailedListed
			all = all[:FailedListed]
		}
		r.failed = all
	})
	return r.failed, r.failedMore
}

// failedUnits are the view's units in ActiveState failed, sorted: found
// once per cache state, not at every scrape (the walk of 2,000 units was
// 0.45 ms of the 1.9 ms of CPU a scrape took, bench/scrape.sh).
func (v *cacheView) failedUnits() []string {
	v.failedOnce.Do(func() {
		for _, name := range v.names {
			if v.units[name].Failed() {
				v.failed = append(v.failed, name)
			}
		}
	})
	return v.failed
}

// readFailedSince reads when each listed failed unit that was not read by
// name (those have it in their extras) entered its state. A call that
// fails leaves that time unknown (0): the list is worth more than its
// times, and the systemd layer does not fail for one.
func (r *Snapshot) readFailedSince(ctx context.Context, c *unitCache) {
	names, _ := r.failedNames()
	var calls []*busCall
	var which []string
	for _, name := range names {
		if r.Named(name) {
			continue
		}
		obj := c.conn.Object(dbusSystemdName, unitPath(name))
		calls = append(calls, &busCall{obj: obj, method: dbusPropsIface + ".Get", args: []any{dbusUnitIface, "StateChangeTimestamp"}})
		which = append(which, name)
	}
	if len(calls) == 0 {
		return
	}
	since := make(map[string]uint64, len(calls))
	// In batches the budget holds beside the cache's fetches (see
	// namedExtras).
	for batch := range slices.Chunk(calls, namedExtrasBatch) {
		if c.budget.pipeline(ctx, batch) != nil {
			break
		}
	}
	for i, call := range calls {
		var v dbus.Variant
		if call.call != nil && call.call.Err == nil && call.call.Store(&v) == nil {
			since[which[i]], _ = v.Value().(uint64)
		}
	}
	r.failedSince = since
}

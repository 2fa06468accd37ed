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

import sdbus "github.com/coreos/go-systemd/v22/dbus"

// ReadByName returns r with units read by name, as Client.Snapshot reads
// the checks' units each scrape (their load, active and sub state, and
// their UnitFileState from fileStates): captured or made-up data for the
// layers above, in tests, beside SnapshotOf, whose units are the cache's
// only (the checks' units get their load and file state series only when
// read by name). A unit r does not hold is one systemd has not loaded
// (not-found, masked...).
func (r *Snapshot) ReadByName(fileStates map[string]string, units ...Unit) *Snapshot {
	out := &Snapshot{snap: r.snap, conn: r.conn,
		named: make(map[string]sdbus.UnitStatus, len(units)), extras: make(map[string]namedExtras, len(units))}
	for _, u := range units {
		out.named[u.Name] = sdbus.UnitStatus{Name: u.Name, LoadState: u.LoadState, ActiveState: u.ActiveState, SubState: u.SubState}
		out.extras[u.Name] = namedExtras{FileState: fileStates[u.Name], StateChange: u.StateChangeTimestamp,
			StartLimitBurst: u.StartLimitBurst, StartLimitInterval: u.StartLimitIntervalUSec}
	}
	return out
}

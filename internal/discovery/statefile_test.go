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
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// A restart judges a learned unit by the state file's last_loaded. On a
// quiet host nothing else changes, and the file kept the time the unit was
// learned: after 30 hours of the unit loaded, a restart with it stopped
// (or its unit file gone) forgot it at once instead of after the grace.
func TestDiscoveryRestartKeepsTheGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		name string
		// after is the unit as the restarted exporter reads it (nil: not
		// in the reading at all).
		after *systemd.Unit
		// keptAt and goneBy are since the restart.
		keptAt, goneBy time.Duration
	}{
		{name: "a unit no longer loaded waits for --discovery.forget-after (24h)", after: nil,
			keptAt: 22 * time.Hour, goneBy: 24*time.Hour + time.Minute},
		{name: "a unit systemd reports not-found waits ten minutes", after: &systemd.Unit{LoadState: "not-found", ActiveState: "inactive"},
			keptAt: 9 * time.Minute, goneBy: 11 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "learned.json")
			c := &clock{t: time.Unix(1_800_000_000, 0)}
			opts := Options{StateFile: state, MinAge: time.Minute, ForgetAfter: 24 * time.Hour, Now: c.now}
			d := New(opts)
			cfg := config.Default()
			scene := discoveryScene{
				units:     map[string]systemd.Unit{"web.service": {LoadState: "loaded", ActiveState: "active"}},
				listeners: []listeners.Listener{lst("tcp", "0.0.0.0", 80, false)},
				owners:    []owner.Owner{{Unit: "web.service"}},
			}
			learnedChecks(d, cfg, scene)
			// Scraped every minute for 30 hours: nothing changes.
			for range 30 * 60 {
				c.t = c.t.Add(time.Minute)
				if got := learnedChecks(d, cfg, scene); len(got) != 1 {
					t.Fatalf("at %s: %+v", c.t, got)
				}
			}
			if lastLoaded := fileLastLoaded(t, state, "web.service"); c.t.Sub(lastLoaded) > time.Hour {
				t.Errorf("after 30 hours loaded, the file's last_loaded is %s old (want at most 1h)", c.t.Sub(lastLoaded))
			}

			// Restarted a minute later; the unit is stopped (or gone).
			c.t = c.t.Add(time.Minute)
			restart := c.t
			after := discoveryScene{units: map[string]systemd.Unit{}}
			if tc.after != nil {
				after.units["web.service"] = *tc.after
			}
			d = New(opts)
			if got := learnedChecks(d, cfg, after); len(got) != 1 {
				t.Fatalf("forgotten at the restart: %+v", got)
			}
			c.t = restart.Add(tc.keptAt)
			if got := learnedChecks(d, cfg, after); len(got) != 1 {
				t.Fatalf("forgotten %s after the restart: %+v", tc.keptAt, got)
			}
			c.t = restart.Add(tc.goneBy)
			if got := learnedChecks(d, cfg, after); len(got) != 0 {
				t.Errorf("still learned %s after the restart: %+v", tc.goneBy, got)
			}
		})
	}
}

// fileLastLoaded reads a unit's last_loaded from the state file.
func fileLastLoaded(t *testing.T, path, unit string) time.Time {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st discoveryState
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	lu := st.Units[unit]
	if lu == nil {
		t.Fatalf("%s is not in the state file:\n%s", unit, data)
	}
	return lu.LastLoaded
}

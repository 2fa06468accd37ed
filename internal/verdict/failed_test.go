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

package verdict

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

func TestFailed(t *testing.T) {
	checks := []config.Check{{Name: "db", Unit: "db.service"}}
	many := make([]systemd.Unit, systemd.FailedListed+3)
	for i := range many {
		many[i] = systemd.Unit{Name: fmt.Sprintf("u%03d.service", i), ActiveState: "failed"}
	}
	for _, tc := range []struct {
		name  string
		units *systemd.Snapshot
		want  FailedUnits
	}{
		{name: "systemd not read", want: FailedUnits{}},
		{name: "none failed", units: systemd.SnapshotOf(systemd.Unit{Name: "a.service", ActiveState: "active"}), want: FailedUnits{Known: true, Units: []FailedUnit{}}},
		{
			name: "a check's and another",
			units: systemd.SnapshotOf(
				systemd.Unit{Name: "db.service", ActiveState: "failed", Result: "signal", StateChangeTimestamp: 1_700_000_000_000_000},
				systemd.Unit{Name: "boot.service", ActiveState: "failed", Result: "exit-code"},
				systemd.Unit{Name: "web.service", ActiveState: "active"},
			),
			want: FailedUnits{Known: true, Units: []FailedUnit{
				{Unit: "boot.service", Result: "exit-code"},
				{Unit: "db.service", Result: "signal", Since: "2023-11-14T22:13:20Z", Check: "db"},
			}},
		},
		{
			name:  "clipped, with a count",
			units: systemd.SnapshotOf(many...),
			want:  FailedUnits{Known: true, More: 3},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Failed(tc.units, checks)
			if tc.want.More > 0 {
				if len(got.Units) != systemd.FailedListed || got.More != tc.want.More || got.Units[0].Unit != "u000.service" {
					t.Errorf("got %d units (first %+v) and %d more, want %d and %d", len(got.Units), got.Units[0], got.More, systemd.FailedListed, tc.want.More)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

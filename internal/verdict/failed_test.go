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
)

func TestFailed(t *testing.T) {
	checks := []config.Check{{Name: "db", Unit: "db.service"}}
	many := make([]Unit, testFailedListed+3)
	for i := range many {
		many[i] = sdv(sd{Name: fmt.Sprintf("u%03d.service", i), ActiveState: "failed"})
	}
	for _, tc := range []struct {
		name  string
		units Units
		want  FailedUnits
	}{
		{name: "systemd not read", want: FailedUnits{}},
		{name: "none failed", units: unitsOf(sdv(sd{Name: "a.service", ActiveState: "active"})), want: FailedUnits{Known: true, Units: []FailedUnit{}}},
		{
			name: "a check's and another",
			units: unitsOf(
				sdv(sd{Name: "db.service", ActiveState: "failed", Result: "signal", StateChangeTimestamp: 1_700_000_000_000_000}),
				sdv(sd{Name: "boot.service", ActiveState: "failed", Result: "exit-code"}),
				sdv(sd{Name: "web.service", ActiveState: "active"}),
			),
			want: FailedUnits{Known: true, Units: []FailedUnit{
				{Unit: "boot.service", Result: "exit-code"},
				{Unit: "db.service", Result: "signal", Since: "2023-11-14T22:13:20Z", Check: "db"},
			}},
		},
		{
			name:  "clipped, with a count",
			units: unitsOf(many...),
			want:  FailedUnits{Known: true, More: 3},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Failed(tc.units, checks)
			if tc.want.More > 0 {
				if len(got.Units) != testFailedListed || got.More != tc.want.More || got.Units[0].Unit != "u000.service" {
					t.Errorf("got %d units (first %+v) and %d more, want %d and %d", len(got.Units), got.Units[0], got.More, testFailedListed, tc.want.More)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

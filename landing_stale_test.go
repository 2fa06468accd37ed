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

package main

import (
	"testing"

	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// A probe whose result is stale is shown so on the landing page, in bold,
// with its age — not as the ok or the failure it last was.
func TestLandingShowsAStaleProbe(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    verdict.ProbeVerdict
		want landingCell
	}{
		{"stale, last ok", verdict.ProbeVerdict{Target: "127.0.0.1:80", Known: true, Success: true, AgeSeconds: 12.3, Stale: true}, landingCell{Text: "127.0.0.1:80 stale: last result 12 s old", Bad: true}},
		{"stale, last failing", verdict.ProbeVerdict{Target: "127.0.0.1:80", Known: true, Reason: "timeout", AgeSeconds: 7, Stale: true}, landingCell{Text: "127.0.0.1:80 stale: last result 7 s old", Bad: true}},
		{"fresh", verdict.ProbeVerdict{Target: "127.0.0.1:80", Known: true, Success: true, DurationSeconds: 0.0012, AgeSeconds: 0.4}, landingCell{Text: "127.0.0.1:80 ok, 1.2 ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := rowOf(verdict.Verdict{Check: "web", Status: verdict.Unknown, Probes: []verdict.ProbeVerdict{tc.p}})
			if len(row.Probes) != 1 || row.Probes[0] != tc.want {
				t.Errorf("probe cell %+v, want %+v", row.Probes, tc.want)
			}
		})
	}
}

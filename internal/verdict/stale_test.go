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
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/config"
)

// A stale probe result (older than interval + timeout + StaleSlack) is
// neither a success nor a failure: the check is unknown, unless a layer
// below is known down or another probe is known failing, which say more.
func TestStaleProbeResults(t *testing.T) {
	every := func(target string, interval time.Duration) config.Probe {
		return config.Probe{Target: target, Timeout: model.Duration(time.Second), Interval: model.Duration(interval)}
	}
	a, b := every("127.0.0.1:1", time.Second), every("127.0.0.1:2", time.Second)
	scraped := config.Probe{Target: "127.0.0.1:3", Timeout: model.Duration(time.Second)}
	up := sdp(sd{Name: "x.service", LoadState: "loaded", ActiveState: "active", SubState: "running"})
	down := sdp(sd{Name: "x.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed"})
	ok := func(p config.Probe) ProbeResult { return ProbeResult{Target: p.Target, Success: true} }
	bad := func(p config.Probe) ProbeResult { return ProbeResult{Target: p.Target, Reason: "refused"} }
	// a and b's results are stale past 1 s + 1 s + StaleSlack = 3 s.
	for _, tc := range []struct {
		name       string
		probes     []config.Probe
		unit       *Unit
		results    []ProbeResult
		ages       map[string]time.Duration
		want       Status
		wantReason string
	}{
		{"fresh, at the limit", []config.Probe{a}, up, []ProbeResult{ok(a)}, map[string]time.Duration{a.Target: 3 * time.Second}, OK, "every layer is healthy"},
		{"stale and ok", []config.Probe{a}, up, []ProbeResult{ok(a)}, map[string]time.Duration{a.Target: 12 * time.Second}, Unknown, "probe result for 127.0.0.1:1 is 12 s old (interval 1s)"},
		{"stale and failing: not a failure", []config.Probe{a}, up, []ProbeResult{bad(a)}, map[string]time.Duration{a.Target: 4 * time.Second}, Unknown, "probe result for 127.0.0.1:1 is 4 s old (interval 1s)"},
		{"a fresh failure beside a stale one", []config.Probe{a, b}, up, []ProbeResult{ok(a), bad(b)}, map[string]time.Duration{a.Target: 12 * time.Second, b.Target: time.Second}, ProbeFailed, "probe of 127.0.0.1:2 (refused) failed"},
		{"the unit down beside a stale one", []config.Probe{a}, down, []ProbeResult{ok(a)}, map[string]time.Duration{a.Target: 12 * time.Second}, ServiceDown, "x.service is failed/failed"},
		{"a probe without an interval is never stale", []config.Probe{scraped}, up, []ProbeResult{ok(scraped)}, map[string]time.Duration{scraped.Target: time.Hour}, OK, "every layer is healthy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Check{Name: "x", Unit: "x.service", Probes: tc.probes}
			v := judge(c, false, layers{unit: tc.unit, probes: tc.results, probesOK: true, probeAges: tc.ages})
			if v.Status != tc.want || v.Reason != tc.wantReason {
				t.Errorf("%s %q, want %s %q", v.Status, v.Reason, tc.want, tc.wantReason)
			}
			for i, pv := range v.Probes {
				age := tc.ages[tc.probes[i].Target]
				if wantStale := tc.probes[i].Interval > 0 && age > StaleAfter(tc.probes[i]); pv.Stale != wantStale || pv.AgeSeconds != age.Seconds() {
					t.Errorf("probe %s: stale %v, age %v s; want %v, %v s", pv.Target, pv.Stale, pv.AgeSeconds, wantStale, age.Seconds())
				}
			}
		})
	}
}

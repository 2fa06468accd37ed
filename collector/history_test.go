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
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

func TestCheckHistory(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	type step struct {
		after    time.Duration // since t0
		status   verdict.Status
		complete bool
	}
	for _, tc := range []struct {
		name        string
		steps       []step
		wantChanges map[verdict.Status]uint64
		wantDown    time.Duration
		wantLast    time.Duration
	}{
		{name: "first judged is no change", steps: []step{{0, verdict.ServiceDown, true}},
			wantChanges: map[verdict.Status]uint64{}, wantDown: 0, wantLast: 0},
		{name: "down for 3 s between watch looks", steps: []step{{0, verdict.OK, true}, {time.Second, verdict.PortDown, false}, {2 * time.Second, verdict.PortDown, false}, {4 * time.Second, verdict.OK, false}},
			wantChanges: map[verdict.Status]uint64{verdict.PortDown: 1, verdict.OK: 1}, wantDown: 3 * time.Second, wantLast: 4 * time.Second},
		{name: "unknown and back in the same status is no new outage", steps: []step{{0, verdict.OK, true}, {time.Second, verdict.ServiceDown, true}, {2 * time.Second, verdict.Unknown, true}, {3 * time.Second, verdict.ServiceDown, true}},
			wantChanges: map[verdict.Status]uint64{verdict.ServiceDown: 1, verdict.Unknown: 1}, wantDown: 2 * time.Second, wantLast: 3 * time.Second},
		{name: "an evaluation older than the last is ignored", steps: []step{{0, verdict.OK, true}, {2 * time.Second, verdict.OK, true}, {time.Second, verdict.ServiceDown, true}},
			wantChanges: map[verdict.Status]uint64{}, wantDown: 0, wantLast: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h checkHistory
			for _, s := range tc.steps {
				h.record(t0.Add(s.after), []verdict.Verdict{{Check: "c", Status: s.status}}, kindOf(s.complete))
			}
			got, ok := h.of("c")
			if !ok {
				t.Fatal("no history for c")
			}
			if !maps.Equal(got.changes, tc.wantChanges) || got.down != tc.wantDown || !got.lastChange.Equal(t0.Add(tc.wantLast)) {
				t.Errorf("changes %v down %v last change +%v, want %v %v +%v", got.changes, got.down, got.lastChange.Sub(t0), tc.wantChanges, tc.wantDown, tc.wantLast)
			}
		})
	}
	var h checkHistory
	h.record(t0, []verdict.Verdict{{Check: "kept"}, {Check: "removed"}}, byScrape)
	h.record(t0.Add(time.Second), []verdict.Verdict{{Check: "kept"}}, byWatch)
	if _, ok := h.of("removed"); !ok {
		t.Error("a watch's evaluation that left a check out must not drop it")
	}
	h.record(t0.Add(2*time.Second), []verdict.Verdict{{Check: "kept"}}, byScrape)
	if _, ok := h.of("removed"); ok {
		t.Error("a check no scrape judges any more must be dropped")
	}
}

// The log gets each change of a check's status, with its full reason, and
// a check first judged not ok; not every evaluation, and not a verdict that
// a request's deadline made (a cut-short probe).
func TestCheckHistoryReturnsTheChangesToLog(t *testing.T) {
	var h checkHistory
	t0 := time.Unix(1_000_000, 0)
	cut := verdict.Verdict{Check: "c", Status: verdict.ProbeFailed, Reason: "cut", Probes: []verdict.ProbeVerdict{{Known: true, CutShort: true}}}
	for i, step := range []struct {
		verdicts []verdict.Verdict
		kind     evaluationKind
		want     []string // "check from->to reason"
	}{
		{verdicts: []verdict.Verdict{{Check: "c", Status: verdict.OK}, {Check: "d", Status: verdict.PortDown, Reason: "nothing listens on tcp *:80 (pid 42)"}},
			want: []string{"d ->port_down nothing listens on tcp *:80 (pid 42)"}},
		{verdicts: []verdict.Verdict{{Check: "c", Status: verdict.OK}, {Check: "d", Status: verdict.PortDown, Reason: "nothing listens on tcp *:80 (pid 42)"}}},
		{verdicts: []verdict.Verdict{cut, {Check: "d", Status: verdict.OK, Reason: "every layer is healthy"}},
			want: []string{"d port_down->ok every layer is healthy"}},
		{verdicts: []verdict.Verdict{{Check: "c", Status: verdict.Unknown, Reason: "could not read: probes"}}, kind: byHurriedScrape},
		{verdicts: []verdict.Verdict{{Check: "c", Status: verdict.ServiceDown, Reason: "c.service is failed/failed since 2026-12-04T01:00:00Z"}},
			want: []string{"c ok->service_down c.service is failed/failed since 2026-12-04T01:00:00Z"}},
		{verdicts: []verdict.Verdict{{Check: "c", Status: verdict.Unknown, Reason: "could not read: unit state"}}, kind: byScrape,
			want: []string{"c service_down->unknown could not read: unit state"}},
	} {
		var got []string
		for _, c := range h.record(t0.Add(time.Duration(i)*time.Second), step.verdicts, step.kind) {
			got = append(got, fmt.Sprintf("%s %s->%s %s", c.to.Check, c.from, c.to.Status, c.to.Reason))
		}
		if !slices.Equal(got, step.want) {
			t.Errorf("evaluation %d: changes %q, want %q", i, got, step.want)
		}
	}
}

func kindOf(complete bool) evaluationKind {
	if complete {
		return byScrape
	}
	return byWatch
}

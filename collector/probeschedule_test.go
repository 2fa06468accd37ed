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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// freshSlack is how late past interval + timeout a reading of a probe on
// schedule may be in these tests: verdict.StaleSlack's figure.
const freshSlack = time.Second

// hangingTarget accepts on loopback and never answers: a probe that
// expects a reply waits there for its whole timeout. It counts the
// connections, and each connection's handler says on started when it
// began and on ended when the client closed (nil: not said).
func hangingTarget(t *testing.T, accepted *atomic.Int64, started, ended chan<- struct{}) string {
	t.Helper()
	return testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		accepted.Add(1)
		say(started)
		// Until the client closes (its timeout) or Serve's 30 s bound;
		// the probe sends nothing, so this reads nothing.
		io.Copy(io.Discard, io.LimitReader(c, 1<<10))
		say(ended)
	})
}

// say sends on ch without blocking (nil: nothing).
func say(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// pongTarget answers +PONG at once.
func pongTarget(t *testing.T) string {
	t.Helper()
	return testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { io.WriteString(c, "+PONG\r\n") })
}

// intervalProbe is a probe of target every interval that expects +PONG.
func intervalProbe(target string, timeout, interval time.Duration) config.Probe {
	return config.Probe{
		Target: target, Timeout: model.Duration(timeout), Interval: model.Duration(interval), IPProtocol: "auto",
		QueryResponse: []config.Step{{Expect: re(`^\+PONG`)}},
	}
}

// startExporter runs e's background work; the returned stop ends it and
// waits (at most 10 s) until it has.
func startExporter(t *testing.T, e *Exporter) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("the exporter's background work did not stop within 10 s")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// readingAge is how old the result of probe k is at now, as a scrape
// reads it; before its first result, how long the exporter has run
// (started): a probe with no result is as late as one with an old one.
func readingAge(e *Exporter, k probeKey, now, started time.Time) time.Duration {
	if run, ok := e.probes.lastOf(k); ok {
		return now.Sub(run.at)
	}
	return now.Sub(started)
}

// staleReadings tallies readings older than a limit.
type staleReadings struct {
	limit         time.Duration
	readings, old int
	oldest        time.Duration
	example       string
}

func (s *staleReadings) add(k probeKey, age time.Duration) {
	s.readings++
	if age > s.oldest {
		s.oldest, s.example = age, k.check
	}
	if age >= s.limit {
		s.old++
	}
}

func (s *staleReadings) String() string {
	return fmt.Sprintf("%d of %d readings at least %v old (the oldest %v, %s)", s.old, s.readings, s.limit, s.oldest.Round(time.Millisecond), s.example)
}

// Beside one probe hung for 20 s (two runs of 10 s, back to back: its
// timeout is its interval), eight `interval: 1s` probes kept reading
// fresh: each runs on its own schedule. Before, probes due in the same
// tick ran as one batch, and those batched with the hung one stayed
// running with it — 42 of 88 readings were older than 3.5 s. (A healthy
// probe was due in the hung one's tick one time in four: two hung runs
// make it all but certain that one of the eight was.)
func TestIntervalProbesAreNotHeldByAHungOne(t *testing.T) {
	const healthy, interval, timeout, hang, hungRuns = 8, time.Second, 500 * time.Millisecond, 10 * time.Second, 2
	var accepted atomic.Int64
	hungStarted, hungEnded := make(chan struct{}, hungRuns), make(chan struct{}, hungRuns)
	hung := hangingTarget(t, &accepted, hungStarted, hungEnded)
	pong := pongTarget(t)
	cfg := &config.Config{Checks: []config.Check{{Name: "hung", Probes: []config.Probe{intervalProbe(hung, hang, hang)}}}}
	var keys []probeKey
	for i := range healthy {
		c := config.Check{Name: fmt.Sprintf("healthy%d", i), Probes: []config.Probe{intervalProbe(pong, timeout, interval)}}
		cfg.Checks = append(cfg.Checks, c)
		keys = append(keys, probeKey{c.Name, pong})
	}
	e, err := New(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return cfg }, Probes: probe.New(probe.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	startExporter(t, e)

	// The premise: the hung probe's first run (at a random offset within
	// its interval) is in progress.
	select {
	case <-hungStarted:
	case <-time.After(hang + 10*time.Second):
		t.Fatalf("the hung probe did not dial its target within %v", hang+10*time.Second)
	}
	// Read the eight while it hangs, until its target sees it give up
	// twice.
	tally := staleReadings{limit: interval + timeout + freshSlack}
	bound := time.After(hungRuns*hang + 10*time.Second)
	for ended := 0; ended < hungRuns; {
		select {
		case <-hungEnded:
			ended++
		case <-bound:
			t.Fatalf("the hung probe's %d runs did not end within %v", hungRuns, hungRuns*hang+10*time.Second)
		case <-time.After(100 * time.Millisecond):
		}
		now := time.Now()
		for _, k := range keys {
			tally.add(k, readingAge(e, k, now, started))
		}
	}
	if tally.readings < 10*healthy {
		t.Fatalf("only %d readings during the hang: the premise (runs hung for %v) did not hold", tally.readings, hungRuns*hang)
	}
	if tally.old > 0 {
		t.Errorf("beside a probe hung for %v, %v", hungRuns*hang, &tally)
	} else {
		t.Logf("healthy probes during the hang: %v", &tally)
	}
}

// countingRunner is the real prober, counting per probe the runs that
// ended on their own (not cut short): the probes' own run counters.
type countingRunner struct {
	inner *probe.Prober
	mu    sync.Mutex
	runs  map[probeKey]int
}

func (c *countingRunner) Run(ctx context.Context, jobs []probe.Job) []probe.Result {
	results := c.inner.Run(ctx, jobs)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range results {
		if !r.CutShort {
			c.runs[probeKey{r.Check, r.Target}]++
		}
	}
	return results
}

func (c *countingRunner) runsOf(k probeKey) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[k]
}

// 200 `interval: 1s` probes against a target that never answers, within
// the limit of probes running at once (256): each runs every interval
// (back to back: its timeout is its interval), every reading of each is
// fresh, and every run is counted in warden_probe_failures_total. Before,
// they ran as batches of one tick's due probes, 16 at a time, each batch
// held until its last probe timed out: 500 such probes ran ~38 times a
// second where 500 were due, and the counter undercounted 13×.
func TestIntervalProbeFailuresCountEveryRun(t *testing.T) {
	const probes, interval, minRuns = 200, time.Second, 5
	var accepted atomic.Int64
	target := hangingTarget(t, &accepted, nil, nil)
	cfg := &config.Config{}
	var keys []probeKey
	for i := range probes {
		c := config.Check{Name: fmt.Sprintf("h%03d", i), Probes: []config.Probe{intervalProbe(target, interval, interval)}}
		cfg.Checks = append(cfg.Checks, c)
		keys = append(keys, probeKey{c.Name, target})
	}
	runner := &countingRunner{inner: probe.New(probe.Options{}), runs: map[probeKey]int{}}
	e, err := New(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return cfg }, Probes: runner})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	stop := startExporter(t, e)

	// Read every probe until each has run minRuns times (bounded).
	tally := staleReadings{limit: 2*interval + freshSlack}
	deadline := time.Now().Add(time.Minute)
	for {
		time.Sleep(100 * time.Millisecond)
		now, fewest := time.Now(), minRuns
		for _, k := range keys {
			fewest = min(fewest, runner.runsOf(k))
			if now.Sub(started) > tally.limit {
				tally.add(k, readingAge(e, k, now, started))
			}
		}
		if fewest >= minRuns {
			break
		}
		if now.After(deadline) {
			t.Fatalf("within a minute, a probe ran only %d times (%v)", fewest, &tally)
		}
	}
	elapsed := time.Since(started)
	stop()

	total := 0
	for _, k := range keys {
		runs := runner.runsOf(k)
		total += runs
		counted := uint64(0)
		for _, n := range e.probes.failuresOf(k) {
			counted += n
		}
		if counted != uint64(runs) {
			t.Errorf("probe %s: %d runs against a target that never answers, %d counted in warden_probe_failures_total", k.check, runs, counted)
		}
	}
	if tally.old > 0 {
		t.Errorf("%d probes at interval %v against a hanging target: %v", probes, interval, &tally)
	}
	t.Logf("%d runs of %d probes in %v (%.0f a second; the limit and timeout allow %d), %d dials accepted; %v",
		total, probes, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), probes, accepted.Load(), &tally)
}

// A result older than its interval, timeout and slack says nothing of the
// target now: its check is unknown, the reason says how old it is (the
// diagnosis without the age, a label value), /checks marks the probe
// stale. Before, a result of any age was shown as the target's state.
func TestStaleProbeResultIsUnknown(t *testing.T) {
	target := pongTarget(t)
	cfg := &config.Config{Checks: []config.Check{{Name: "late", Probes: []config.Probe{intervalProbe(target, 500*time.Millisecond, time.Second)}}}}
	for _, tc := range []struct {
		name       string
		age        time.Duration
		success    bool
		wantStatus verdict.Status
		wantReason string
		wantJSON   string
	}{
		{"fresh and ok", 500 * time.Millisecond, true, verdict.OK, "every layer is healthy", `"age_seconds":0.5`},
		{"fresh and failing", 2 * time.Second, false, verdict.ProbeFailed, "probe of " + target + " (refused) failed", `"age_seconds":2`},
		{"12 s old and ok", 12 * time.Second, true, verdict.Unknown, "probe result for " + target + " is 12 s old (interval 1s)", `"stale":true`},
		{"12 s old and failing", 12 * time.Second, false, verdict.Unknown, "probe result for " + target + " is 12 s old (interval 1s)", `"stale":true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return cfg }, Probes: probe.New(probe.Options{})})
			if err != nil {
				t.Fatal(err)
			}
			// The premise: the probe's last background run ended age ago
			// (its schedule is not running: nothing newer comes).
			r := probe.Result{Check: "late", Target: target, Success: tc.success}
			if !tc.success {
				r.Reason, r.Err = probe.Refused, fmt.Errorf("dial: %w", errRefusedForTest)
			}
			e.probes.record(time.Now().Add(-tc.age), []probe.Result{r})

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			vs, err := e.Verdicts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			v := vs[0]
			if v.Status != tc.wantStatus || !strings.HasPrefix(v.Reason, tc.wantReason) {
				t.Errorf("status %s, reason %q; want %s, %q", v.Status, v.Reason, tc.wantStatus, tc.wantReason)
			}
			js, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(js), tc.wantJSON) {
				t.Errorf("/checks says %s, want %s in it", js, tc.wantJSON)
			}
			// The label says stale, not the age: that would be a new
			// warden_check_reason_info series at every scrape.
			if want := "probe result for " + target + " is stale (interval 1s)"; tc.wantStatus == verdict.Unknown && v.Diagnosis != want {
				t.Errorf("diagnosis %q, want %q", v.Diagnosis, want)
			}
		})
	}
}

var errRefusedForTest = errors.New("connection refused")

// With a limit of one probe at once, a probe hung for its whole 3 s
// timeout holds the only slot: the two hung probes' connections reach the
// target at least a timeout apart, and the healthy `interval: 1s` probe,
// waiting its turn, is shown stale — on /checks, with how old its result
// is. The target counts arrivals, not connections open at once: it sees a
// client's close late on a busy machine (2 "at once" under two busy
// loops, though the exporter had closed the first). Without the limit the
// two, each every 3 s at its own offset, arrive at most 1.5 s apart.
func TestIntervalProbesShareOneLimit(t *testing.T) {
	const hang = 3 * time.Second
	var mu sync.Mutex
	var arrivals []time.Time
	hung := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		io.Copy(io.Discard, io.LimitReader(c, 1<<10))
	})
	pong := pongTarget(t)
	cfg := &config.Config{Checks: []config.Check{
		{Name: "hung-a", Probes: []config.Probe{intervalProbe(hung, hang, hang)}},
		{Name: "hung-b", Probes: []config.Probe{intervalProbe(hung, hang, hang)}},
		{Name: "waits", Probes: []config.Probe{intervalProbe(pong, 500*time.Millisecond, time.Second)}},
	}}
	e, err := New(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return cfg }, Probes: probe.New(probe.Options{}), MaxIntervalProbes: 1})
	if err != nil {
		t.Fatal(err)
	}
	startExporter(t, e)
	// Every probe has a result first, so an evaluation reads them all
	// (one without runs in the evaluation itself, outside the limit).
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range cfg.Checks {
		for {
			if _, ok := e.probes.lastOf(probeKey{c.Name, c.Probes[0].Target}); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s had no result within 30 s", c.Name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var v verdict.Verdict
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		vs, err := e.Verdicts(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if v = vs[2]; v.Status == verdict.Unknown {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the probe waiting behind a hung one for the only slot was never shown stale: %s, %q", v.Status, v.Reason)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(v.Reason, " s old (interval 1s)") || len(v.Probes) != 1 || !v.Probes[0].Stale || v.Probes[0].AgeSeconds <= (2500*time.Millisecond).Seconds() {
		t.Errorf("the waiting probe's verdict: %q, %+v; want its result's age, marked stale", v.Reason, v.Probes)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) < 2 {
		t.Fatalf("premise: both hung probes ran before the waiting one was stale; the target saw %d connections", len(arrivals))
	}
	// A second of slack for a slow accept of the first of two.
	for i := 1; i < len(arrivals); i++ {
		if gap := arrivals[i].Sub(arrivals[i-1]); gap < hang-time.Second {
			t.Errorf("with a limit of one, connections %d and %d reached the hung target %s apart, want at least %s", i, i+1, gap.Round(time.Millisecond), hang-time.Second)
		}
	}
}

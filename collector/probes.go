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
	"math/rand/v2"
	"sync"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/probe"
)

// probeKey names one probe: a check's target.
type probeKey struct{ check, target string }

func keyOf(j probe.Job) probeKey { return probeKey{j.Check, j.Probe.Target} }

// probeRun is a probe's last result and when it ended.
type probeRun struct {
	result probe.Result
	at     time.Time
}

// probeStore keeps every probe's last result and counts its failures, from
// the scrapes' runs and the background ones (probes with an interval). It
// holds the probes of the config the last scrape ran, so its size is the
// config's.
type probeStore struct {
	mu       sync.Mutex
	last     map[probeKey]probeRun
	failures map[probeKey]map[probe.Reason]uint64
	cutShort uint64 // runs a request's deadline ended before their timeout
	// want are the probes of the config last kept (nil: not yet): a run
	// of a probe a reload removed, ending after keep, is not recorded.
	want map[probeKey]bool
}

// cutShortRuns is how many probe runs a request's deadline ended before
// their own timeout.
func (s *probeStore) cutShortRuns() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cutShort
}

func (s *probeStore) record(at time.Time, results []probe.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last, s.failures = map[probeKey]probeRun{}, map[probeKey]map[probe.Reason]uint64{}
	}
	for _, r := range results {
		if r.CutShort {
			// Ended by the request's deadline, not the probe's timeout:
			// nothing is known of the target, so nothing is kept or
			// counted (else a client sending a short scrape timeout
			// fills warden_probe_failures_total; counted apart).
			s.cutShort++
			continue
		}
		k := probeKey{r.Check, r.Target}
		if s.want != nil && !s.want[k] {
			continue
		}
		s.last[k] = probeRun{result: r, at: at}
		if s.failures[k] == nil {
			s.failures[k] = map[probe.Reason]uint64{}
		}
		if !r.Success {
			s.failures[k][r.Reason]++
		}
	}
}

// lastOf returns the probe's last run.
func (s *probeStore) lastOf(k probeKey) (probeRun, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	run, ok := s.last[k]
	return run, ok
}

// failuresOf returns a copy of the probe's failure counts by reason.
func (s *probeStore) failuresOf(k probeKey) map[probe.Reason]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[probe.Reason]uint64, len(s.failures[k]))
	for r, n := range s.failures[k] {
		out[r] = n
	}
	return out
}

// keep drops what is known of the probes not in jobs (a reload removed
// them).
func (s *probeStore) keep(jobs []probe.Job) {
	want := make(map[probeKey]bool, len(jobs))
	for _, j := range jobs {
		want[keyOf(j)] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want = want
	for k := range s.last {
		if !want[k] {
			delete(s.last, k)
			delete(s.failures, k)
		}
	}
}

// size is the number of probes the store holds.
func (s *probeStore) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.last)
}

// runProbes is a scrape's probes layer: the probes without an interval run
// now; those with one are read from their last background run (run now
// only when they have none yet). The results are in the config's order.
func (e *Exporter) runProbes(ctx context.Context, cfg *config.Config) []probe.Result {
	jobs := probe.Jobs(cfg)
	e.probes.keep(jobs)
	results := make([]probe.Result, len(jobs))
	var now []probe.Job
	var at []int
	for i, j := range jobs {
		if j.Probe.Interval > 0 {
			if run, ok := e.probes.lastOf(keyOf(j)); ok {
				results[i] = run.result
				continue
			}
		}
		now, at = append(now, j), append(at, i)
	}
	ran := e.prober.Run(ctx, now)
	e.probes.record(time.Now(), ran)
	for k, i := range at {
		results[i] = ran[k]
	}
	return results
}

// probeSchedulerTick is how often the scheduler looks for due probes and a
// changed config: a due probe starts at most this late.
const probeSchedulerTick = 250 * time.Millisecond

// scheduleProbes runs the probes that have an interval, each every
// interval from a random first offset within it (so probes configured
// together do not all dial at once), until ctx ends. A probe whose last
// run is still going when it is due again waits for the next interval.
// Their results and failures are there for the scrapes and the watch,
// however many Prometheus servers scrape: an HA pair no longer doubles
// the dials.
func (e *Exporter) scheduleProbes(ctx context.Context) {
	type slot struct {
		interval time.Duration
		next     time.Time
		running  bool
	}
	slots := map[probeKey]*slot{}
	var mu sync.Mutex // guards slot.running, set back by the runs
	var runs sync.WaitGroup
	defer runs.Wait()
	tick := time.NewTicker(probeSchedulerTick)
	defer tick.Stop()
	for {
		now := time.Now()
		cfg := e.config()
		e.pruneFor(cfg)
		jobs := probe.Jobs(cfg)
		var due []probe.Job
		seen := map[probeKey]bool{}
		mu.Lock()
		for _, j := range jobs {
			interval := time.Duration(j.Probe.Interval)
			if interval <= 0 {
				continue
			}
			k := keyOf(j)
			seen[k] = true
			s := slots[k]
			if s == nil || s.interval != interval {
				s = &slot{interval: interval, next: now.Add(rand.N(interval))}
				slots[k] = s
			}
			if s.running || now.Before(s.next) {
				continue
			}
			s.running = true
			s.next = s.next.Add(interval)
			if s.next.Before(now) { // fell behind (a long run, a stopped clock)
				s.next = now.Add(interval)
			}
			due = append(due, j)
		}
		for k := range slots {
			if !seen[k] {
				delete(slots, k)
			}
		}
		mu.Unlock()
		if len(due) > 0 {
			runs.Add(1)
			go func() {
				defer runs.Done()
				results := e.prober.Run(ctx, due)
				if ctx.Err() == nil {
					e.probes.record(time.Now(), results)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, j := range due {
					if s := slots[keyOf(j)]; s != nil {
						s.running = false
					}
				}
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

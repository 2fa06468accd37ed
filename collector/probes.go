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
	"sync"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
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

// read returns the probe's last result and notes its age at now in ages
// (made on first use).
func (s *probeStore) read(k probeKey, now time.Time, ages *map[verdict.ProbeRef]time.Duration) (probe.Result, bool) {
	run, ok := s.lastOf(k)
	if !ok {
		return probe.Result{}, false
	}
	if *ages == nil {
		*ages = map[verdict.ProbeRef]time.Duration{}
	}
	(*ages)[verdict.ProbeRef{Check: k.check, Target: k.target}] = now.Sub(run.at)
	return run.result, true
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

// probeReading is the probes layer of one evaluation: the results, in
// the config's order, and how old those read from a background run were.
type probeReading struct {
	read    bool // false: the probes were not read
	results []probe.Result
	ages    map[verdict.ProbeRef]time.Duration
	// missing are the checks with a probe that has no result yet (an
	// evaluation that ran no probe: see lastProbes).
	missing map[string]bool
}

// lastProbes is the probes layer of an evaluation that runs none (the
// watch's): every probe's last result, from a scrape or its own interval,
// with its age.
func (e *Exporter) lastProbes(cfg *config.Config) probeReading {
	reading := probeReading{read: true}
	now := time.Now()
	for _, j := range probe.Jobs(cfg) {
		if r, ok := e.probes.read(keyOf(j), now, &reading.ages); ok {
			reading.results = append(reading.results, r)
		} else {
			if reading.missing == nil {
				reading.missing = map[string]bool{}
			}
			reading.missing[j.Check] = true
		}
	}
	return reading
}

// checksWithResults are checks without those whose probes are missing a
// result: a verdict without one would say what no scrape says.
func (r probeReading) checksWithResults(checks []config.Check) []config.Check {
	if len(r.missing) == 0 {
		return checks
	}
	out := make([]config.Check, 0, len(checks))
	for _, c := range checks {
		if !r.missing[c.Name] {
			out = append(out, c)
		}
	}
	return out
}

// runProbes is a scrape's probes layer: the probes without an interval run
// now; those with one are read from their last background run, with its
// age (run now only when they have none yet).
func (e *Exporter) runProbes(ctx context.Context, cfg *config.Config) probeReading {
	jobs := probe.Jobs(cfg)
	e.probes.keep(jobs)
	reading := probeReading{read: true, results: make([]probe.Result, len(jobs))}
	var now []probe.Job
	var at []int
	for i, j := range jobs {
		if j.Probe.Interval > 0 {
			if r, ok := e.probes.read(keyOf(j), time.Now(), &reading.ages); ok {
				reading.results[i] = r
				continue
			}
		}
		now, at = append(now, j), append(at, i)
	}
	ran := e.prober.Run(ctx, now)
	e.probes.record(time.Now(), ran)
	for k, i := range at {
		reading.results[i] = ran[k]
	}
	return reading
}

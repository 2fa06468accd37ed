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
	"sync/atomic"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/probe"
)

// DefaultMaxIntervalProbes is how many probes with an interval may
// run at once, all of them together. A probe holds one socket and one
// goroutine (~8 KiB) while it runs, so 256 hung targets cost 256 file
// descriptors and ~2 MiB; with a 1 s timeout that is 256 runs a second
// against targets that never answer — 500 probes at `interval: 1s` then
// run 256 times a second (each late one shows stale), where one batch at
// a time ran ~38. Healthy loopback targets answer in ~0.1 ms: the limit
// only matters while targets hang.
const DefaultMaxIntervalProbes = 256

// probeConfigPoll is how often the schedule looks for a changed config (a
// reload): a probe a reload adds starts its schedule at most this late.
const probeConfigPoll = 250 * time.Millisecond

// scheduledProbe is one probe with an interval, running on its own
// schedule in its own goroutine.
type scheduledProbe struct {
	// job is the config's current version of the probe: a reload that
	// changes its timeout or steps, not its interval, takes effect at its
	// next run without moving its schedule.
	job    atomic.Pointer[probe.Job]
	cancel context.CancelFunc
}

// scheduleProbes runs each probe that has an interval on its own schedule
// (runOnSchedule), at most limit of them at once, until ctx ends; it
// follows the config's reloads. Their results and failures are there for
// the scrapes and the watch, however many Prometheus servers scrape: an
// HA pair does not double the dials.
func (e *Exporter) scheduleProbes(ctx context.Context) {
	limit := make(chan struct{}, e.intervalLimit)
	running := map[probeKey]*scheduledProbe{}
	var wg sync.WaitGroup
	defer func() {
		for _, sp := range running {
			sp.cancel()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(probeConfigPoll)
	defer tick.Stop()
	var scheduledFor *config.Config
	for {
		// The schedules change only with the config: an unchanged one
		// (every poll but after a reload) is not walked again.
		if cfg := e.config(); cfg != scheduledFor {
			scheduledFor = cfg
			e.schedule(ctx, cfg, running, limit, &wg)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// schedule starts, updates and stops the running schedules so that they
// are cfg's probes with an interval.
func (e *Exporter) schedule(ctx context.Context, cfg *config.Config, running map[probeKey]*scheduledProbe, limit chan struct{}, wg *sync.WaitGroup) {
	e.pruneFor(cfg)
	seen := map[probeKey]bool{}
	for _, j := range probe.Jobs(cfg) {
		if j.Probe.Interval <= 0 {
			continue
		}
		k := keyOf(j)
		seen[k] = true
		sp := running[k]
		if sp != nil && sp.job.Load().Probe.Interval == j.Probe.Interval {
			sp.job.Store(&j)
			continue
		}
		if sp != nil {
			sp.cancel() // its interval changed: a new schedule
		}
		sp = &scheduledProbe{}
		sp.job.Store(&j)
		pctx, cancel := context.WithCancel(ctx)
		sp.cancel, running[k] = cancel, sp
		wg.Go(func() { e.runOnSchedule(pctx, sp, limit) })
	}
	for k, sp := range running {
		if !seen[k] {
			sp.cancel() // a reload removed it
			delete(running, k)
		}
	}
}

// runOnSchedule runs one probe every interval until ctx ends, the first
// run at a random offset within it (probes configured together do not all
// dial at once). The next run starts an interval after the last one
// started, or as soon as it ended when it took longer (it waited for the
// limit, or its timeout is its interval): a run never overlaps the
// probe's previous one, and a probe is never more than one run behind.
// The limit is taken in order of arrival (a channel's waiting senders), so
// the probes waiting for it all get their turn.
func (e *Exporter) runOnSchedule(ctx context.Context, sp *scheduledProbe, limit chan struct{}) {
	timer := time.NewTimer(rand.N(time.Duration(sp.job.Load().Probe.Interval)))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case <-ctx.Done():
			return
		case limit <- struct{}{}:
		}
		job := *sp.job.Load()
		start := time.Now()
		results := e.prober.Run(ctx, []probe.Job{job})
		<-limit
		end := time.Now()
		if ctx.Err() != nil {
			// Stopped (shutdown, a reload): a run it cut short says
			// nothing of the target and was no request's; one that ended
			// on its own is counted still.
			results = withoutCutShort(results)
		}
		e.probes.record(end, results)
		next := start.Add(time.Duration(job.Probe.Interval))
		timer.Reset(max(next.Sub(end), 0))
	}
}

// withoutCutShort returns the results that were not cut short.
func withoutCutShort(results []probe.Result) []probe.Result {
	out := results[:0:0]
	for _, r := range results {
		if !r.CutShort {
			out = append(out, r)
		}
	}
	return out
}

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
	"errors"
	"sync"
	"time"

	"github.com/go-kit/log/level"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// UnitWatcher is a UnitReader that also gives the views that follow every
// change of state of the checks' units, and its view without a call to the
// manager: *systemd.Client. The watch follows the units from the signal
// stream with it, instead of polling.
type UnitWatcher interface {
	Changes() <-chan *systemd.Snapshot
	Cached(last *systemd.Snapshot) (*systemd.Snapshot, error)
}

// MinWatchInterval is the shortest --watch.interval: a listener dump and
// the verdicts of every check each time, to see what lasts less.
const MinWatchInterval = 100 * time.Millisecond

// Run runs what the exporter does between scrapes until ctx ends: the
// probes that have an interval, and (with a watch interval) the watch. It
// returns once they have stopped.
func (e *Exporter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if e.prober != nil {
		wg.Go(func() { e.scheduleProbes(ctx) })
	}
	if e.watchInterval > 0 {
		wg.Go(func() { e.watch(ctx) })
	}
	wg.Wait()
}

// watch evaluates the checks every interval (reading the listeners) and
// whenever the units change (from the manager's signals, no polling), so
// the counters see what lasts less than a scrape interval.
func (e *Exporter) watch(ctx context.Context) {
	var changes <-chan *systemd.Snapshot
	if w, ok := e.unitReader.(UnitWatcher); ok {
		changes = w.Changes()
	}
	tick := time.NewTicker(e.watchInterval)
	defer tick.Stop()
	for {
		var units *systemd.Snapshot // nil: the cache's view now
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case changed := <-changes:
			// Judged in the state the unit passed through, even if it
			// has moved on since.
			units = changed.WithNamed(e.lastUnits.Load())
		}
		e.watchOnce(ctx, units)
	}
}

// watchOnce is one look of the watch: every check judged with units (nil:
// the cache's view now), into the counters.
func (e *Exporter) watchOnce(ctx context.Context, units *systemd.Snapshot) {
	cfg := e.config()
	e.pruneFor(cfg)
	wctx, cancel := context.WithTimeout(ctx, e.watchInterval)
	defer cancel()
	if s, ok := e.observeBetweenScrapes(wctx, cfg, units); ok {
		e.logStatusChanges(e.history.observe(s.at, verdict.Evaluate(s.checks, s.implicit, &s.host), byWatch))
	}
}

// pruneFor drops, once per config (after a reload), what the counters and
// the probe store hold of checks and probes cfg no longer has. A scrape
// prunes both too, but between scrapes only the watch and the probe
// schedule run, and what they keep must not grow with every reload.
func (e *Exporter) pruneFor(cfg *config.Config) {
	if e.prunedFor.Swap(cfg) == cfg {
		return
	}
	names := make(map[string]bool, len(cfg.Checks))
	for _, c := range cfg.Checks {
		names[c.Name] = true
	}
	if cfg.Discovery.Enabled {
		for _, c := range e.discovery.Current(cfg) {
			names[c.Name] = true
		}
	}
	e.history.keep(names)
	e.probes.keep(probe.Jobs(cfg))
}

// observeBetweenScrapes is the watch's snapshot: the units given (a view
// after a change), or as the cache last saw them (no call to the
// manager), the listeners read now, the
// probes' last results (a scrape's, or their own interval's). It learns
// nothing (discovery learns from scrapes) and leaves out the checks whose
// probes have no result yet: a verdict between scrapes says only what a
// scrape would. ok is false when a layer could not be read (no view of
// the units yet, the listeners failing): the watch then judges nothing —
// "unknown" is the scrapes' to say, and counting it would make outages of
// the exporter's own.
func (e *Exporter) observeBetweenScrapes(ctx context.Context, cfg *config.Config, units *systemd.Snapshot) (s *snapshot, ok bool) {
	s = &snapshot{at: time.Now(), cfg: cfg, checks: cfg.Checks, implicit: map[string]bool{}}
	layerCfg := e.withLearnedUnits(cfg)
	names := checkUnits(layerCfg)
	switch {
	case units != nil:
		s.host.Units = units
	case e.unitReader != nil:
		if s.host.Units = e.unitsBetweenScrapes(); s.host.Units == nil {
			return s, false
		}
	}
	if e.listeners != nil {
		r, err := e.listeners.Read(ctx)
		if err != nil {
			level.Debug(e.logger).Log("msg", "the watch could not read the listeners", "err", err)
			return s, false
		}
		s.listeners = r
	}
	e.resolveOwners(ctx, s, names)
	if cfg.Discovery.Enabled {
		s.addLearned(e.discovery.Current(cfg), names)
	}
	if e.prober != nil {
		s.checks = e.withProbeResults(s.checks, s)
	}
	e.join(ctx, names, s)
	return s, true
}

// unitsBetweenScrapes is the cache's view, without a call to the manager:
// the watch adds no D-Bus traffic. nil before the cache has one (not
// connected, or not synced since the watch began) or for a reader that
// cannot watch: the watch then waits for the next scrape.
func (e *Exporter) unitsBetweenScrapes() *systemd.Snapshot {
	w, ok := e.unitReader.(UnitWatcher)
	if !ok {
		return nil
	}
	units, err := w.Cached(e.lastUnits.Load())
	if err != nil {
		if !errors.Is(err, systemd.ErrNoView) {
			level.Debug(e.logger).Log("msg", "the watch could not read the units", "err", err)
		}
		return nil
	}
	return units
}

// withProbeResults puts the probes' last results and their ages in s and
// returns the checks all of whose probes have one.
func (e *Exporter) withProbeResults(checks []config.Check, s *snapshot) []config.Check {
	out := checks[:0:0]
	s.host.ProbesRead = true
	for _, c := range checks {
		results := make([]probe.Result, 0, len(c.Probes))
		for _, p := range c.Probes {
			r, ok := e.probes.read(probeKey{c.Name, p.Target}, s.at, &s.host.ProbeAges)
			if !ok {
				break
			}
			results = append(results, r)
		}
		if len(results) == len(c.Probes) {
			out = append(out, c)
			s.host.Probes = append(s.host.Probes, results...)
		}
	}
	return out
}

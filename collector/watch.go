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
)

// UnitWatcher is a UnitReader that also gives the views that follow every
// change of state of the checks' units, and its view without a call to the
// manager: *systemd.Client. The watch follows the units from the signal
// stream with it, instead of polling.
type UnitWatcher interface {
	Changes() <-chan *systemd.Snapshot
	Cached() (*systemd.Snapshot, error)
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
	var containerChanges <-chan struct{}
	if e.containers != nil {
		containerChanges = e.containers.Changes()
	}
	tick := time.NewTicker(e.watchInterval)
	defer tick.Stop()
	for {
		var units *systemd.Snapshot // nil: the cache's view now
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-containerChanges:
			// A container started, died or turned unhealthy.
		case changed := <-changes:
			// Judged in the state the unit passed through, even if it
			// has moved on since.
			units = changed
		}
		e.watchOnce(ctx, units)
	}
}

// watchOnce is one look of the watch: every check judged with units (nil:
// the cache's view now), into the counters. It learns nothing (discovery
// learns from scrapes). When a layer could not be read (no view of the
// units yet, the listeners failing) the watch judges nothing: "unknown" is
// the scrapes' to say, and counting it would make outages of the
// exporter's own.
func (e *Exporter) watchOnce(ctx context.Context, units *systemd.Snapshot) {
	cfg := e.config()
	e.pruneFor(cfg)
	wctx, cancel := context.WithTimeout(ctx, e.watchInterval)
	defer cancel()
	o, err := e.look(wctx, cfg, reads{units: units})
	if err == nil {
		err = o.firstError()
	}
	if err != nil {
		if !errors.Is(err, systemd.ErrNoView) {
			level.Debug(e.logger).Log("msg", "the watch judged nothing", "err", err)
		}
		return
	}
	e.logStatusChanges(e.history.record(o.at, o.verdicts, byWatch))
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

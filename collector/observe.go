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
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// The names of the layers: the collector label of their health series.
const (
	layerSystemd   = "systemd"
	layerListeners = "listeners"
	layerProbes    = "probes"
)

// ErrLayerBusy is a layer's failure when its earlier reads are still
// running after their evaluations gave up on them. Refusing to start more
// keeps a stuck dependency from growing goroutines without bound.
var ErrLayerBusy = errors.New("too many earlier reads still running after their scrapes gave up")

// maxAbandonedPerLayer bounds the reads of one layer that are still
// running after their evaluation stopped waiting. Reads of concurrent
// evaluations that are on time are not limited here (--web.max-requests
// bounds those).
const maxAbandonedPerLayer = 4

// layer is one layer's bookkeeping across evaluations.
type layer struct {
	name string
	// abandoned counts reads still running whose evaluation gave up on
	// them.
	abandoned atomic.Int32
	mu        sync.Mutex
	failing   bool // last outcome, to log transitions rather than every scrape
}

// outcome is how one layer's read went in one evaluation.
type outcome struct {
	layer    *layer
	err      error
	duration time.Duration
}

// snapshot is everything one evaluation observed: what the verdicts are
// judged on (host), and what the series are emitted from.
type snapshot struct {
	at       time.Time
	cfg      *config.Config
	checks   []config.Check  // the configured checks, then the learned ones
	implicit map[string]bool // the learned checks' names
	// learnedUnits are the learned checks' units no configured check
	// names: read by name like the configured ones', emitted here.
	learnedUnits []string
	host         verdict.Snapshot
	outcomes     []outcome
	// listeners is the host's reading (its backend), nil when not read.
	listeners *listeners.Reading
}

// observe reads every layer for cfg into one snapshot: the layers
// concurrently, then what joins them (owners, discovery, the units'
// network namespaces, the processes behind foreign listeners). All I/O of
// an evaluation happens here; the verdicts and series are pure functions
// of the snapshot.
func (e *Exporter) observe(ctx context.Context, cfg *config.Config) *snapshot {
	s := &snapshot{at: time.Now(), cfg: cfg, checks: cfg.Checks, implicit: map[string]bool{}}
	// The layers see the learned checks' units as the configured ones'
	// (read by name each time): a learned unit that is gone reads
	// not-found, truthfully, and discovery can forget it quickly.
	layerCfg := e.withLearnedUnits(cfg)
	e.readLayers(ctx, layerCfg, s)
	names := checkUnits(layerCfg)
	e.resolveOwners(ctx, s, names)
	e.learn(cfg, names, s)
	e.join(ctx, names, s)
	return s
}

// resolveOwners finds who holds each of the host's listeners. names are
// the units the layers read by name.
func (e *Exporter) resolveOwners(ctx context.Context, s *snapshot, names []string) {
	if s.listeners != nil {
		owners := e.owners.Owners(ctx, s.host.Units, s.listeners.Listeners, names)
		s.host.Host = verdict.NewNamespace(s.listeners.Listeners, owners)
	}
}

// join does the rest of the evaluation's I/O, for the checks as they are
// now (learned ones included): the units' network namespaces, which units
// the owner index knows, the processes behind foreign listeners.
func (e *Exporter) join(ctx context.Context, names []string, s *snapshot) {
	e.readUnitNamespaces(ctx, names, s)
	s.host.KnownUnits = map[string]bool{}
	if s.host.Units != nil {
		for _, c := range s.checks {
			if c.Unit != "" {
				s.host.KnownUnits[c.Unit] = e.owners.Knows(s.host.Units, c.Unit)
			}
		}
	}
	if ls := verdict.Unowned(s.checks, &s.host); len(ls) > 0 {
		s.host.Strangers = e.owners.StrangersOf(ctx, ls)
	}
}

// readLayers reads every layer concurrently and waits for each until ctx
// is done. A layer that has not answered by then counts as failed with the
// context's error; its late answer is dropped, never served as fresh data.
func (e *Exporter) readLayers(ctx context.Context, cfg *config.Config, s *snapshot) {
	type result struct {
		index int
		value any
		err   error
		took  time.Duration
	}
	// Buffered for every layer, so a read that returns after we stopped
	// waiting can still send and its goroutine end.
	results := make(chan result, len(e.layers))
	s.outcomes = make([]outcome, len(e.layers))
	// A read's state: running, finished, or abandoned by its evaluation.
	// Whichever of the read and the evaluation moves it first decides who
	// counts it, so the abandoned count can neither leak nor go negative.
	const (
		running int32 = iota
		finished
		abandoned
	)
	states := make([]atomic.Int32, len(e.layers))
	start := time.Now()
	pending := 0
	for i, l := range e.layers {
		s.outcomes[i].layer = l
		if l.abandoned.Load() >= maxAbandonedPerLayer {
			s.outcomes[i].err = ErrLayerBusy
			continue
		}
		pending++
		go func() {
			t0 := time.Now()
			v, err := e.readLayer(ctx, l.name, cfg)
			results <- result{i, v, err, time.Since(t0)}
			if !states[i].CompareAndSwap(running, finished) {
				l.abandoned.Add(-1)
			}
		}()
	}
	done := make([]bool, len(e.layers))
	for ; pending > 0; pending-- {
		select {
		case r := <-results:
			done[r.index] = true
			s.outcomes[r.index].err, s.outcomes[r.index].duration = r.err, r.took
			if r.err == nil {
				s.keep(r.value)
			}
			continue
		case <-ctx.Done():
		}
		for i, l := range e.layers {
			if done[i] || s.outcomes[i].err != nil {
				continue
			}
			s.outcomes[i].err = fmt.Errorf("gave up waiting: %w", ctx.Err())
			s.outcomes[i].duration = time.Since(start)
			if states[i].CompareAndSwap(running, abandoned) {
				l.abandoned.Add(1)
			}
		}
		break
	}
	for _, o := range s.outcomes {
		e.logTransition(o.layer, o.err)
	}
}

// readLayer reads one layer; a panic is that layer's failure, not the
// process's.
func (e *Exporter) readLayer(ctx context.Context, name string, cfg *config.Config) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic reading %s: %v", name, p)
		}
	}()
	switch name {
	case layerSystemd:
		units, err := e.unitReader.Snapshot(ctx, checkUnits(cfg))
		if err == nil && units == nil {
			err = errors.New("the unit reader returned nothing")
		}
		return units, err
	case layerListeners:
		r, err := e.listeners.Read(ctx)
		if err == nil && r == nil {
			err = errors.New("the listener reader returned nothing")
		}
		return r, err
	case layerProbes:
		return e.runProbes(ctx, cfg), nil
	}
	return nil, fmt.Errorf("unknown layer %q", name)
}

// keep stores one layer's reading in the snapshot.
func (s *snapshot) keep(v any) {
	switch v := v.(type) {
	case *systemd.Snapshot:
		s.host.Units = v
	case *listeners.Reading:
		s.listeners = v
	case probeReading:
		s.host.Probes, s.host.ProbeAges, s.host.ProbesRead = v.results, v.ages, true
	}
}

// logTransition logs when a layer starts failing and when it recovers: a
// failing layer is visible in warden_collector_success on every scrape, so
// repeating the same warning every scrape would only bury other lines.
func (e *Exporter) logTransition(l *layer, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil && !l.failing:
		level.Warn(e.logger).Log("msg", "collector failed", "collector", l.name, "err", err)
	case err != nil:
		level.Debug(e.logger).Log("msg", "collector still failing", "collector", l.name, "err", err)
	case l.failing:
		level.Info(e.logger).Log("msg", "collector recovered", "collector", l.name)
	}
	l.failing = err != nil
}

// learn runs discovery on the snapshot and adds the checks it learned.
// names are the units the layers read by name.
func (e *Exporter) learn(cfg *config.Config, names []string, s *snapshot) {
	if !cfg.Discovery.Enabled {
		return
	}
	if s.host.Host == nil {
		// No listeners read (the layer off or failed): nothing to learn from.
		s.addLearned(e.discovery.Current(cfg), names)
		return
	}
	s.addLearned(e.discovery.Observe(cfg, s.host.Units, s.host.Host.Listeners, s.host.Host.Owners), names)
}

// addLearned adds the checks discovery learned to the snapshot's, and
// notes their units the layers did not read by name (not in names).
func (s *snapshot) addLearned(learned []config.Check, names []string) {
	if len(learned) == 0 {
		return
	}
	s.checks = append(slices.Clone(s.checks), learned...)
	for _, c := range learned {
		s.implicit[c.Name] = true
		if _, named := slices.BinarySearch(names, c.Unit); c.Unit != "" && !named {
			s.learnedUnits = append(s.learnedUnits, c.Unit)
		}
	}
}

// withLearnedUnits returns cfg with a unit-only check for each unit
// discovery has learned, for the layers; cfg itself when there are none.
func (e *Exporter) withLearnedUnits(cfg *config.Config) *config.Config {
	if !cfg.Discovery.Enabled {
		return cfg
	}
	units := e.discovery.LearnedUnits()
	if len(units) == 0 {
		return cfg
	}
	out := *cfg
	out.Checks = slices.Clone(cfg.Checks)
	for _, u := range units {
		out.Checks = append(out.Checks, config.Check{Name: u, Unit: u})
	}
	return &out
}

// readUnitNamespaces reads the listeners of the network namespaces of the
// netns: unit checks' units (their main processes). A unit that is not
// running has no namespace and so no listeners; one whose namespace cannot
// be read is left out (its checks' ports are unknown).
func (e *Exporter) readUnitNamespaces(ctx context.Context, names []string, s *snapshot) {
	if e.listeners == nil {
		return
	}
	used := map[uint64]bool{}
	defer e.listeners.CloseNetnsExcept(used)
	if s.host.Units == nil {
		return
	}
	for _, c := range s.checks {
		if c.Netns != "unit" || len(c.Ports) == 0 || c.Unit == "" {
			continue
		}
		if _, done := s.host.UnitNamespaces[c.Unit]; done {
			continue
		}
		if s.host.UnitNamespaces == nil {
			s.host.UnitNamespaces = map[string]*verdict.Namespace{}
		}
		u, ok := s.host.Units.Unit(c.Unit)
		if !ok || u.MainPID == 0 {
			s.host.UnitNamespaces[c.Unit] = verdict.NewNamespace(nil, nil)
			continue
		}
		ls, nsID, err := e.listeners.InNetnsOf(ctx, int(u.MainPID))
		if err != nil {
			level.Debug(e.logger).Log("msg", "cannot read the listeners of a unit's network namespace", "check", c.Name, "unit", c.Unit, "err", err)
			continue
		}
		used[nsID] = true
		s.host.UnitNamespaces[c.Unit] = verdict.NewNamespace(ls, e.owners.Owners(ctx, s.host.Units, ls, names))
	}
}

// checkUnits are the units the checks name, sorted and unique.
func checkUnits(cfg *config.Config) []string {
	var names []string
	for _, ch := range cfg.Checks {
		if ch.Unit != "" {
			names = append(names, ch.Unit)
		}
	}
	sort.Strings(names)
	return slices.Compact(names)
}

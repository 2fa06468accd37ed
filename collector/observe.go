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
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/containers"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// The names of the layers: the collector label of their health series
// (warden_collector_success keeps Prometheus exporters' word for it).
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

// observation is everything one evaluation observed, as the readers gave
// it, and what the judge made of it: the series are emitted from it.
type observation struct {
	at       time.Time
	cfg      *config.Config
	checks   []config.Check  // the configured checks, then the learned ones
	implicit map[string]bool // the learned checks' names
	// learnedUnits are the learned checks' units no configured check
	// names: read by name like the configured ones', emitted here.
	learnedUnits []string
	outcomes     []outcome

	units *systemd.Snapshot // nil: not read
	// listeners is the host's reading (its backend), nil when not read;
	// owners[i] holds listeners.Listeners[i].
	listeners *listeners.Reading
	owners    []owner.Owner
	// unitNamespaces are the listeners of the netns: unit checks' units'
	// network namespaces, by unit (see readUnitNamespaces).
	unitNamespaces map[string]namespaceReading
	// knownUnits are the checks' units whose cgroup the owner index holds.
	knownUnits map[string]bool
	// strangers say who holds the listeners on the checks' ports that no
	// unit is known to hold, by socket inode.
	strangers map[uint64]owner.Stranger
	probes    probeReading // the zero value when the probes were not read

	// daemonConfigs are what the checks' daemons' configurations say, by
	// check name.
	daemonConfigs map[string]verdict.DaemonConfig

	// containers are the engines' containers (nil: the layer off or not
	// read), containerNamespaces the listeners inside those the checks
	// name.
	containers          *containers.Snapshot
	containerNamespaces map[containers.Key]containerNamespace

	judged   *verdict.Input // what the judge was given
	verdicts []verdict.Verdict
}

// namespaceReading is one network namespace's listeners and their owners.
type namespaceReading struct {
	listeners []listeners.Listener
	owners    []owner.Owner
}

// reads says how an evaluation reads the two layers that can be read two
// ways; everything else is read the same for all.
type reads struct {
	// fresh: the units are read from the manager now (the checks' by
	// name), the probes without an interval run now, and discovery learns
	// from what is seen: a scrape, /checks, the landing page. Otherwise
	// (the watch, between scrapes): the unit cache's view, no call to the
	// manager; every probe's last result, a check whose probes have none
	// yet left out (a verdict between scrapes says only what a scrape
	// would); discovery's checks as they are.
	fresh bool
	// units is the view to judge instead of reading one (not fresh): the
	// units as a change signal left them, even if they moved on since.
	units *systemd.Snapshot
}

// look is the one path of every evaluation: observe every layer for cfg
// as r says, then judge every check. A scrape, /checks, the landing page
// and the watch all come through here. All I/O happens before the judge
// runs; the verdicts are a pure function of what was read. A panic
// anywhere in it is its error, never the process's.
func (e *Exporter) look(ctx context.Context, cfg *config.Config, r reads) (o *observation, err error) {
	defer func() {
		if p := recover(); p != nil {
			o, err = nil, e.evaluationPanicked(p)
		}
	}()
	o = e.observe(ctx, cfg, r)
	o.judged = o.judgeInput()
	o.verdicts = verdict.Evaluate(o.checks, o.implicit, o.judged)
	return o, nil
}

// evaluationPanicked logs a panic of an evaluation, with its stack, and
// returns the evaluation's error: the requests that joined it get that, the
// process goes on.
func (e *Exporter) evaluationPanicked(p any) error {
	level.Error(e.logger).Log("msg", "evaluation panicked", "panic", p, "stack", string(debug.Stack()))
	return errors.New("the evaluation failed (see the exporter's log)")
}

// observe reads every layer for cfg: the layers concurrently, then what
// joins them (owners, discovery, the units' network namespaces, who holds
// the listeners on the checks' ports that no unit holds).
func (e *Exporter) observe(ctx context.Context, cfg *config.Config, r reads) *observation {
	o := &observation{at: time.Now(), cfg: cfg, checks: cfg.Checks, implicit: map[string]bool{}}
	// The layers see the learned checks' units as the configured ones'
	// (read by name each time): a learned unit that is gone reads
	// not-found, truthfully, and discovery can forget it quickly.
	layerCfg := e.withLearnedUnits(cfg)
	names := checkUnits(layerCfg)
	e.readLayers(ctx, layerCfg, r, o)
	if o.listeners != nil {
		o.owners = e.owners.Owners(ctx, o.units, o.listeners.Listeners, names)
	}
	if cfg.Discovery.Enabled {
		published := publishedPorts(o.containers)
		var learned []config.Check
		if r.fresh && o.listeners != nil {
			// A container's published port is the container's (its
			// implicit check), not the engine's whose proxy holds it.
			ls, owners := withoutPublished(o.listeners.Listeners, o.owners, published, e.containerUnits.of(o.containers))
			learned = e.discovery.Learn(cfg, o.units, ls, owners)
		} else {
			// Between scrapes, or no listeners read (the layer off or
			// failed): nothing to learn from, what was learned stands.
			learned = e.discovery.Current(cfg)
		}
		// Nor is one learned before (a state file of an older version):
		// stopped, the container would be the engine's port_down.
		o.addLearned(unpublished(learned, published), names)
		for _, c := range containerChecks(cfg, o.containers) {
			o.checks = append(o.checks, c)
			o.implicit[c.Name] = true
		}
	}
	e.readContainerNamespaces(ctx, o)
	e.expectFromConfig(ctx, o, names)
	if !r.fresh {
		o.checks = o.probes.checksWithResults(o.checks)
	}
	e.readUnitNamespaces(ctx, names, o)
	o.knownUnits = map[string]bool{}
	if o.units != nil {
		for _, c := range o.checks {
			if c.Unit != "" {
				o.knownUnits[c.Unit] = e.owners.Knows(o.units, c.Unit)
			}
		}
	}
	if ls := o.unownedOnChecksPorts(); len(ls) > 0 {
		o.strangers = e.owners.StrangersOf(ctx, ls)
	}
	return o
}

// firstError is the error of the first layer that could not be read.
func (o *observation) firstError() error {
	for _, oc := range o.outcomes {
		var partial *engineErrors
		if oc.err != nil && !errors.As(oc.err, &partial) {
			// (An engine that cannot be read fails its own checks,
			// unknown, not the evaluation.)
			return fmt.Errorf("%s: %w", oc.layer.name, oc.err)
		}
	}
	return nil
}

// readLayers reads every layer concurrently and waits for each until ctx
// is done. A layer that has not answered by then counts as failed with the
// context's error; its late answer is dropped, never served as fresh data.
func (e *Exporter) readLayers(ctx context.Context, cfg *config.Config, r reads, s *observation) {
	type result struct {
		index int
		keep  func(*observation) // stores the reading; run by the waiting evaluation only
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
			keep, err := e.readLayer(ctx, l.name, cfg, r)
			results <- result{i, keep, err, time.Since(t0)}
			if !states[i].CompareAndSwap(running, finished) {
				l.abandoned.Add(-1)
			}
		}()
	}
	done := make([]bool, len(e.layers))
	for ; pending > 0; pending-- {
		select {
		case res := <-results:
			done[res.index] = true
			s.outcomes[res.index].err, s.outcomes[res.index].duration = res.err, res.took
			var partial *engineErrors
			if res.err == nil || errors.As(res.err, &partial) {
				res.keep(s)
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
	if !r.fresh {
		// The watch's reads fail alike before the cache has a view; the
		// scrapes' say when a layer fails and recovers, once.
		return
	}
	for _, o := range s.outcomes {
		e.logTransition(o.layer, o.err)
	}
}

// readLayer reads one layer as r says, and returns what stores its
// reading in an observation; a panic is that layer's failure, not the
// process's.
func (e *Exporter) readLayer(ctx context.Context, name string, cfg *config.Config, r reads) (keep func(*observation), err error) {
	defer func() {
		if p := recover(); p != nil {
			keep, err = nil, fmt.Errorf("panic reading %s: %v", name, p)
		}
	}()
	switch name {
	case layerSystemd:
		units, err := e.readUnits(ctx, cfg, r)
		if err == nil && units == nil {
			err = errors.New("the unit reader returned nothing")
		}
		return func(o *observation) { o.units = units }, err
	case layerListeners:
		ls, err := e.listeners.Read(ctx)
		if err == nil && ls == nil {
			err = errors.New("the listener reader returned nothing")
		}
		return func(o *observation) { o.listeners = ls }, err
	case layerProbes:
		var probes probeReading
		if r.fresh {
			probes = e.runProbes(ctx, cfg)
		} else {
			probes = e.lastProbes(cfg)
		}
		return func(o *observation) { o.probes = probes }, nil
	case layerContainers:
		snap, err := e.readContainers()
		return func(o *observation) { o.containers = snap }, err
	}
	return nil, fmt.Errorf("unknown layer %q", name)
}

// readUnits reads the units as r says: from the manager now (fresh), as a
// change signal left them (given), or as the cache last saw them.
func (e *Exporter) readUnits(ctx context.Context, cfg *config.Config, r reads) (*systemd.Snapshot, error) {
	switch {
	case r.fresh:
		return e.unitReader.Snapshot(ctx, checkUnits(cfg))
	case r.units != nil:
		return r.units, nil
	}
	w, ok := e.unitReader.(UnitWatcher)
	if !ok {
		return nil, errors.New("the unit reader keeps no view of its own")
	}
	return w.Cached()
}

// logTransition logs when a layer starts failing and when it recovers: a
// failing layer is visible in warden_collector_success on every scrape, so
// repeating the same warning every scrape would only bury other lines.
func (e *Exporter) logTransition(l *layer, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil && !l.failing:
		level.Warn(e.logger).Log("msg", "layer failed", "layer", l.name, "err", err)
	case err != nil:
		level.Debug(e.logger).Log("msg", "layer still failing", "layer", l.name, "err", err)
	case l.failing:
		level.Info(e.logger).Log("msg", "layer recovered", "layer", l.name)
	}
	l.failing = err != nil
}

// addLearned adds the checks discovery learned to the observation's, and
// notes their units the layers did not read by name (not in names).
func (s *observation) addLearned(learned []config.Check, names []string) {
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
// discovery has learned and each known daemon's unit, for the layers; cfg
// itself when there are none.
func (e *Exporter) withLearnedUnits(cfg *config.Config) *config.Config {
	var units []string
	if cfg.Discovery.Enabled {
		units = e.discovery.LearnedUnits()
	}
	if d := e.daemonUnits.Load(); d != nil {
		// The units of the daemons last seen, read by name too: their last
		// state change says whether a configuration changed since was
		// applied by a reload.
		units = append(units, *d...)
	}
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
// be read is left out (its checks' ports are unknown). The listener reader
// keeps each namespace's socket while it is read.
func (e *Exporter) readUnitNamespaces(ctx context.Context, names []string, o *observation) {
	if e.listeners == nil || o.units == nil {
		return
	}
	for _, c := range o.checks {
		if c.Netns != "unit" || len(c.Ports) == 0 || c.Unit == "" {
			continue
		}
		if _, done := o.unitNamespaces[c.Unit]; done {
			continue
		}
		if o.unitNamespaces == nil {
			o.unitNamespaces = map[string]namespaceReading{}
		}
		u, ok := o.units.Unit(c.Unit)
		if !ok || u.MainPID == 0 {
			o.unitNamespaces[c.Unit] = namespaceReading{}
			continue
		}
		ls, _, err := e.listeners.InNetnsOf(ctx, int(u.MainPID))
		if err != nil {
			level.Debug(e.logger).Log("msg", "cannot read the listeners of a unit's network namespace", "check", c.Name, "unit", c.Unit, "err", err)
			continue
		}
		o.unitNamespaces[c.Unit] = namespaceReading{ls, e.owners.Owners(ctx, o.units, ls, names)}
	}
}

// unownedOnChecksPorts are the listeners on the checks' expected ports
// (their proto and number, whatever the address) that no unit is known to
// hold: those a verdict names by user, cgroup and process, so they are
// looked up before judging. Each socket once, by inode. (An AnyPort is
// matched by the unit's own listeners only: none of its is unowned.)
func (o *observation) unownedOnChecksPorts() []listeners.Listener {
	var out []listeners.Listener
	seen := map[uint64]bool{}
	for _, c := range o.checks {
		ns, ok := o.namespaceOf(c)
		if !ok {
			continue
		}
		for _, p := range o.expectedPorts(c) {
			if p.Port == config.AnyPort {
				continue
			}
			for i, l := range ns.listeners {
				if l.Proto != p.Proto || int(l.Port) != p.Port || seen[l.Inode] {
					continue
				}
				if i >= len(ns.owners) || ns.owners[i].Unit == "" {
					seen[l.Inode] = true
					out = append(out, l)
				}
			}
		}
	}
	return out
}

// namespaceOf is the namespace check c looks in; ok is false when it was
// not read.
func (o *observation) namespaceOf(c config.Check) (namespaceReading, bool) {
	if c.Netns == "unit" {
		ns, ok := o.unitNamespaces[c.Unit]
		return ns, ok
	}
	if o.listeners == nil {
		return namespaceReading{}, false
	}
	return namespaceReading{o.listeners.Listeners, o.owners}, true
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

// expectedPorts are c's ports and, for a container check, the host ports
// its container publishes (known ones: a port the engine picks is known
// only while it runs).
func (o *observation) expectedPorts(c config.Check) []config.Port {
	if c.Container == "" || o.containers == nil {
		return c.Ports
	}
	out := slices.Clone(c.Ports)
	for _, ct := range o.containers.Containers {
		if !namesContainer(c, ct) {
			continue
		}
		for _, p := range ct.Ports {
			if p.HostPort > 0 {
				out = append(out, config.Port{Proto: p.Proto, Address: p.HostIP, Port: p.HostPort})
			}
		}
	}
	return out
}

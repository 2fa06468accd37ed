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

// Package collector reads the host's layers (systemd units, kernel
// listeners, dial probes) for one scrape, joins them per check and emits the
// metrics. It has no flags, no globals and no init() registration: everything
// it needs is passed to New.
package collector

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

const namespace = "warden"

// Source reads one layer of the host. Update is called once per scrape with
// the scrape's context, whose deadline it must honour: the exporter stops
// waiting at the deadline and reports the source as failed.
type Source interface {
	// Name is the value of the `collector` label (systemd, listeners, probes).
	Name() string
	// Describe sends the descriptors of every metric the source's readings
	// can emit, so the registry can check Collect against them.
	Describe(ch chan<- *prometheus.Desc)
	// Update reads the source once for cfg.
	Update(ctx context.Context, cfg *config.Config) (Reading, error)
}

// Reading is what a source read in one scrape.
type Reading interface {
	// Collect emits the metrics that describe this reading alone.
	Collect(ch chan<- prometheus.Metric)
}

// ErrSourceBusy is returned for a source whose earlier updates are still
// running after their scrapes gave up on them. Refusing to start more keeps
// a stuck dependency from growing goroutines without bound.
var ErrSourceBusy = errors.New("too many earlier updates still running after their scrapes gave up")

// maxAbandonedPerSource bounds the updates of one source that are still
// running after their scrape stopped waiting. Updates of concurrent scrapes
// that are on time are not limited here (--web.max-requests bounds those).
const maxAbandonedPerSource = 4

// Options configures an Exporter.
type Options struct {
	Logger log.Logger
	// Config is called once per scrape, so a reload takes effect at the
	// next scrape.
	Config func() *config.Config
	// MaxListenerSeries caps warden_listener_info; 0 means the default
	// (1000), a negative value no cap.
	MaxListenerSeries int
	// ProcRoot is the proc mount, /proc outside tests.
	ProcRoot string
	// Discovery configures the implicit checks of discovery.enabled.
	Discovery DiscoveryOptions
	// Systemd reads the units; nil turns that layer off.
	Systemd UnitReader
	// UnitSeries is UnitSeriesCompact or UnitSeriesFull (the zero value).
	UnitSeries string
	// Listeners reads the kernel's listeners; nil turns that layer off.
	Listeners ListenerReader
	// Probes runs the checks' probes; nil turns the probes off.
	Probes ProbeRunner
}

// DefaultMaxListenerSeries is the default cap of the listener inventory.
const DefaultMaxListenerSeries = 1000

// Exporter runs the sources for one scrape and emits what they read.
type Exporter struct {
	logger    log.Logger
	config    func() *config.Config
	sources   []*sourceState
	listeners ListenerReader // nil when that source is off
	owners    *owner.Resolver
	maxSeries int

	successDesc  *prometheus.Desc
	durationDesc *prometheus.Desc
	checks       checkDescs
	discovery    *discovery // nil when no discovery options were given
	flightMu     sync.Mutex
	flight       *flight // the gather concurrent scrapes can join
	dropped      atomic.Uint64
	warnedDrop   sync.Once
	last         atomic.Pointer[Evaluated] // the last evaluation's verdicts
}

// Evaluated is the outcome of one evaluation: what the landing page shows
// without running one of its own.
type Evaluated struct {
	At       time.Time // when the evaluation started
	Verdicts []Verdict
}

// Last returns the last evaluation that completed, or nil before the first.
func (e *Exporter) Last() *Evaluated { return e.last.Load() }

type sourceState struct {
	Source
	// abandoned counts updates still running whose scrape gave up on them.
	abandoned atomic.Int32
	mu        sync.Mutex
	failing   bool // last outcome, to log transitions rather than every scrape
}

// New returns an Exporter over sources.
func New(opts Options, sources ...Source) (*Exporter, error) {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.MaxListenerSeries == 0 {
		opts.MaxListenerSeries = DefaultMaxListenerSeries
	}
	e := &Exporter{
		logger:    opts.Logger,
		config:    opts.Config,
		owners:    owner.New(opts.ProcRoot),
		discovery: newDiscovery(opts.Discovery),
		maxSeries: opts.MaxListenerSeries,
		checks:    newCheckDescs(),
		successDesc: prometheus.NewDesc(
			prometheus.BuildFQName(namespace, "collector", "success"),
			"1 if the collector read its source successfully in this scrape, 0 if it failed or ran out of time.",
			[]string{"collector"}, nil,
		),
		durationDesc: prometheus.NewDesc(
			prometheus.BuildFQName(namespace, "collector", "duration_seconds"),
			"Time the collector spent reading its source in this scrape.",
			[]string{"collector"}, nil,
		),
	}
	if opts.Systemd != nil {
		sources = append(sources, newSystemdSource(opts.Systemd, opts.UnitSeries, opts.Logger))
	}
	if opts.Listeners != nil {
		e.listeners = opts.Listeners
		sources = append(sources, newListenersSource(opts.Listeners))
	}
	if opts.Probes != nil {
		sources = append(sources, newProbesSource(opts.Probes))
	}
	seen := map[string]bool{}
	for _, s := range sources {
		if seen[s.Name()] {
			return nil, fmt.Errorf("source %q registered twice", s.Name())
		}
		seen[s.Name()] = true
		e.sources = append(e.sources, &sourceState{Source: s})
	}
	return e, nil
}

// Describe sends the descriptors of every metric a scrape's collector can
// emit (prebuilt families are checked when they are built).
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	ch <- e.successDesc
	ch <- e.durationDesc
	e.checks.describe(ch)
	for _, s := range e.sources {
		s.Describe(ch)
	}
}

// Gather runs one scrape under ctx and returns its metric families. It
// returns by ctx's deadline whatever the sources do, and a failing source
// is a metric, never an error.
//
// The series a source builds per scrape go through a registry, which checks
// them against Describe. Prebuilt families (FamilyReading) are merged in as
// they are: they were checked when built, and checking and sorting thousands
// of unchanged series again on every scrape would cost more than reading
// them (see bench/).
func (e *Exporter) Gather(ctx context.Context) ([]*dto.MetricFamily, error) {
	ev, err := e.evaluate(ctx)
	return slices.Clone(ev.mfs), err
}

// Verdicts runs one scrape under ctx and returns the judgement of every
// check, for /checks. It shares a scrape in progress like Gather does:
// /checks and /metrics arriving together dial every probe once.
func (e *Exporter) Verdicts(ctx context.Context) ([]Verdict, error) {
	ev, err := e.evaluate(ctx)
	return slices.Clone(ev.verdicts), err
}

// evaluation is one scrape's result: the metric families and the verdicts
// they were built from.
type evaluation struct {
	mfs      []*dto.MetricFamily
	verdicts []Verdict
}

func (e *Exporter) evaluate(ctx context.Context) (evaluation, error) {
	deadline, hasDeadline := ctx.Deadline()
	if !hasDeadline {
		return e.gather(ctx)
	}
	// Concurrent scrapes see the same host: a scrape that arrives while
	// another is being gathered, with a deadline no earlier than that one's,
	// shares its result instead of dialing every probe and reading every
	// source again. The shared result was gathered during this request,
	// never before it; under load it is what keeps latency and memory flat.
	e.flightMu.Lock()
	if f := e.flight; f != nil && !f.deadline.After(deadline) {
		e.flightMu.Unlock()
		select {
		case <-f.done:
			return f.ev, f.err
		case <-ctx.Done():
			return evaluation{}, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{}), deadline: deadline}
	e.flight = f
	e.flightMu.Unlock()
	// Detached from this request: its client leaving must not fail the
	// scrapes that joined it. The deadline still bounds it.
	fctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	f.ev, f.err = e.gather(fctx)
	close(f.done)
	e.flightMu.Lock()
	if e.flight == f {
		e.flight = nil
	}
	e.flightMu.Unlock()
	return f.ev, f.err
}

// flight is a gather in progress that concurrent scrapes can join.
type flight struct {
	done     chan struct{}
	deadline time.Time
	ev       evaluation
	err      error
}

func (e *Exporter) gather(ctx context.Context) (evaluation, error) {
	start := time.Now()
	sc := &scrape{exporter: e, ctx: ctx}
	defer func() {
		if sc.verdicts == nil {
			return
		}
		// Overlapping evaluations may end out of order: keep the newest.
		ev := &Evaluated{At: start, Verdicts: sc.verdicts}
		for {
			old := e.last.Load()
			if old != nil && old.At.After(start) || e.last.CompareAndSwap(old, ev) {
				return
			}
		}
	}()
	// Pedantic: the per-scrape series are few, and a drift between Describe
	// and Collect is worth catching in production too.
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(sc); err != nil {
		return evaluation{}, err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return evaluation{mfs: mfs, verdicts: sc.verdicts}, err
	}
	return evaluation{mfs: mergeFamilies(mfs, sc.prebuilt), verdicts: sc.verdicts}, nil
}

// Forget drops what discovery learned of the check named name (its unit):
// a unit that still listens is learned again after the min age, unless the
// config excludes it.
func (e *Exporter) Forget(name string) error {
	if e.discovery == nil {
		return fmt.Errorf("%q: %w", name, ErrNotLearned)
	}
	return e.discovery.forget(name)
}

// Gatherer returns Gather bound to ctx, as a prometheus.Gatherer.
func (e *Exporter) Gatherer(ctx context.Context) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return e.Gather(ctx) })
}

// FamilyReading is a Reading that also hands over ready-made families:
// series that are many, change rarely and are cached between scrapes (the
// bulk units' state). They must not repeat a series Collect emits.
type FamilyReading interface {
	Reading
	Families() []*dto.MetricFamily
}

type scrape struct {
	exporter *Exporter
	ctx      context.Context
	prebuilt [][]*dto.MetricFamily
	verdicts []Verdict
}

func (s *scrape) Describe(ch chan<- *prometheus.Desc) { s.exporter.Describe(ch) }

func (s *scrape) Collect(ch chan<- prometheus.Metric) {
	e := s.exporter
	cfg := e.config()
	// The sources see the learned checks' units as the configured ones'
	// (read by name each scrape): a learned unit that is gone reads
	// not-found, truthfully, and discovery can forget it quickly.
	srcCfg := e.withLearnedUnits(cfg)
	outcomes := e.update(s.ctx, srcCfg)
	var r readings
	for i, src := range e.sources {
		o := outcomes[i]
		success := 0.0
		if o.err == nil {
			success = 1
			o.reading.Collect(ch)
			if fr, ok := o.reading.(FamilyReading); ok {
				s.prebuilt = append(s.prebuilt, fr.Families())
			}
			r.add(o.reading)
		}
		ch <- prometheus.MustNewConstMetric(e.successDesc, prometheus.GaugeValue, success, src.Name())
		ch <- prometheus.MustNewConstMetric(e.durationDesc, prometheus.GaugeValue, o.duration.Seconds(), src.Name())
	}
	s.verdicts = e.collectChecks(s.ctx, cfg, checkUnits(srcCfg), r, func(m prometheus.Metric) { ch <- m })
}

// readings are the successful readings of one scrape, by kind; nil where a
// source failed or is off.
type readings struct {
	units     *systemd.Snapshot
	unitsRead *systemdReading // for the series of discovered units
	listeners *listenersReading
	probes    *probesReading
}

func (r *readings) add(reading Reading) {
	switch v := reading.(type) {
	case *systemdReading:
		r.units, r.unitsRead = v.Snapshot, v
	case *listenersReading:
		r.listeners = v
	case *probesReading:
		r.probes = v
	}
}

// collectChecks resolves listener owners (I/O, bounded by ctx), judges
// every check (the configured ones and those discovery learned) and emits
// the per-check series and the listener inventory.
//
// names are the units the systemd source read by name: the configured
// checks' and the learned ones'.
func (e *Exporter) collectChecks(ctx context.Context, cfg *config.Config, names []string, r readings, emit func(prometheus.Metric)) []Verdict {
	var owners []owner.Owner
	var idx listenerIndex
	if r.listeners != nil {
		owners = e.owners.Owners(ctx, r.units, r.listeners.Listeners, names)
		idx = indexListeners(r.listeners.Listeners)
	}
	triggers := socketTriggers(r.units)
	probes := map[string][]probe.Result{}
	if r.probes != nil {
		for _, res := range r.probes.results {
			probes[res.Check] = append(probes[res.Check], res)
		}
	}
	checks := cfg.Checks
	implicit := map[string]bool{}
	if cfg.Discovery.Enabled && e.discovery != nil {
		learned := e.discovery.observe(cfg, r, owners, triggers)
		for _, c := range learned {
			implicit[c.Name] = true
		}
		checks = append(slices.Clone(checks), learned...)
		if r.units != nil {
			// The configured checks' units have their load state from the
			// source; the learned ones get theirs here, so a discovered
			// unit that is masked or vanishes is as visible.
			var extra []string
			for _, c := range learned {
				if _, named := slices.BinarySearch(names, c.Unit); c.Unit != "" && !named {
					extra = append(extra, c.Unit)
				}
			}
			r.unitsRead.collectLoadStates(emit, extra)
			r.unitsRead.collectUnits(emit, extra)
		}
	}
	usedNetns := map[uint64]bool{}
	verdicts := make([]Verdict, 0, len(checks))
	for _, c := range checks {
		l := layers{probes: probes[c.Name], probesOK: r.probes != nil}
		if c.Unit != "" && r.units != nil {
			u, _ := r.units.Unit(c.Unit)
			l.unit = &u
			l.sockets = r.units.Activators(c.Unit)
		}
		if len(c.Ports) > 0 {
			// The listeners of the namespace the check looks in; ok is
			// false when they could not be read this scrape.
			ls, os, ix, ok := []listeners.Listener(nil), owners, idx, r.listeners != nil
			if ok {
				ls = r.listeners.Listeners
			}
			if c.Netns == "unit" {
				ls, ok = e.unitNetnsListeners(ctx, c, r.units, usedNetns)
				ix, os = indexListeners(ls), e.owners.Owners(ctx, r.units, ls, names)
			}
			if ok {
				known := r.units != nil && c.Unit != "" && e.owners.Knows(r.units, c.Unit)
				l.ports, l.portsOK = joinPorts(c, ls, ix, os, triggers, known), true
				l.portsSeen = seenListeners(c, ls, ix, os, func(inode uint64) string { return e.owners.ProcessOf(ctx, inode) })
				if c.Unit != "" && slices.ContainsFunc(l.ports, func(r portResult) bool { return !r.listening }) {
					l.unitListens = listensOf(c.Unit, ls, os)
				}
			}
		}
		v := judge(c, implicit[c.Name], l)
		e.checks.emitVerdict(emit, c, v, l)
		verdicts = append(verdicts, v)
	}
	if e.listeners != nil {
		e.listeners.CloseNetnsExcept(usedNetns)
	}
	if r.listeners == nil {
		return verdicts
	}
	series, dropped := inventory(r.listeners.Listeners, owners, e.maxSeries)
	for _, s := range series {
		emit(prometheus.MustNewConstMetric(e.checks.listenerInfo, prometheus.GaugeValue, 1, s[0], s[1], s[2], s[3]))
	}
	if dropped > 0 {
		e.dropped.Add(uint64(dropped))
		e.warnedDrop.Do(func() {
			level.Warn(e.logger).Log("msg", "listener inventory capped: some warden_listener_info series are left out", "listeners", len(series)+dropped, "max_series", e.maxSeries)
		})
	}
	emit(prometheus.MustNewConstMetric(e.checks.listenerDropped, prometheus.CounterValue, float64(e.dropped.Load())))
	return verdicts
}

// withLearnedUnits returns cfg with a unit-only check for each unit
// discovery has learned, for the sources; cfg itself when there are none.
func (e *Exporter) withLearnedUnits(cfg *config.Config) *config.Config {
	if !cfg.Discovery.Enabled || e.discovery == nil {
		return cfg
	}
	units := e.discovery.learnedUnits()
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

// unitNetnsListeners reads the listeners of the network namespace of the
// check's unit (its main process). A unit that is not running has no
// namespace and so no listeners.
func (e *Exporter) unitNetnsListeners(ctx context.Context, c config.Check, units *systemd.Snapshot, used map[uint64]bool) ([]listeners.Listener, bool) {
	if e.listeners == nil || units == nil {
		return nil, false
	}
	u, ok := units.Unit(c.Unit)
	if !ok || u.MainPID == 0 {
		return nil, true
	}
	ls, nsID, err := e.listeners.InNetnsOf(ctx, int(u.MainPID))
	if err != nil {
		level.Debug(e.logger).Log("msg", "cannot read the listeners of a unit's network namespace", "check", c.Name, "unit", c.Unit, "err", err)
		return nil, false
	}
	used[nsID] = true
	return ls, true
}

// mergeFamilies adds the prebuilt families to mfs: a family of a new name is
// inserted in name order, one that exists gets the other's series appended.
// Prebuilt families are shared between scrapes and never modified.
func mergeFamilies(mfs []*dto.MetricFamily, prebuilt [][]*dto.MetricFamily) []*dto.MetricFamily {
	if len(prebuilt) == 0 {
		return mfs
	}
	byName := make(map[string]int, len(mfs))
	for i, mf := range mfs {
		byName[mf.GetName()] = i
	}
	for _, set := range prebuilt {
		for _, pf := range set {
			i, ok := byName[pf.GetName()]
			if !ok {
				byName[pf.GetName()] = len(mfs)
				mfs = append(mfs, pf)
				continue
			}
			own := mfs[i]
			merged := &dto.MetricFamily{Name: own.Name, Help: own.Help, Type: own.Type, Unit: own.Unit}
			merged.Metric = make([]*dto.Metric, 0, len(own.Metric)+len(pf.Metric))
			merged.Metric = append(append(merged.Metric, pf.Metric...), own.Metric...)
			mfs[i] = merged
		}
	}
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return mfs
}

type outcome struct {
	reading  Reading
	err      error
	duration time.Duration
}

// update runs every source concurrently and waits for each until ctx is
// done. A source that has not answered by then counts as failed with the
// context's error; its late answer is dropped, never served as fresh data.
func (e *Exporter) update(ctx context.Context, cfg *config.Config) []outcome {
	outcomes := make([]outcome, len(e.sources))
	type result struct {
		index int
		outcome
	}
	// Buffered for every source, so a source that returns after we stopped
	// waiting can still send and its goroutine ends.
	results := make(chan result, len(e.sources))
	start := time.Now()
	pending := 0
	// Whether an update finished before the scrape gave up on it, or was
	// abandoned (counted in src.abandoned until it finishes), is decided
	// under one lock, so the count can neither leak nor go negative.
	var stateMu sync.Mutex
	finished := make([]bool, len(e.sources))
	abandoned := make([]bool, len(e.sources))
	for i, src := range e.sources {
		if src.abandoned.Load() >= maxAbandonedPerSource {
			outcomes[i] = outcome{err: ErrSourceBusy}
			continue
		}
		pending++
		go func() {
			t0 := time.Now()
			reading, err := src.Update(ctx, cfg)
			if err == nil && reading == nil {
				err = errors.New("source returned no reading")
			}
			results <- result{i, outcome{reading, err, time.Since(t0)}}
			stateMu.Lock()
			finished[i] = true
			if abandoned[i] {
				src.abandoned.Add(-1)
			}
			stateMu.Unlock()
		}()
	}
	done := make([]bool, len(e.sources))
	for ; pending > 0; pending-- {
		select {
		case r := <-results:
			outcomes[r.index] = r.outcome
			done[r.index] = true
			continue
		case <-ctx.Done():
		}
		stateMu.Lock()
		for i, src := range e.sources {
			if !done[i] && outcomes[i].err == nil {
				outcomes[i] = outcome{err: fmt.Errorf("gave up waiting: %w", ctx.Err()), duration: time.Since(start)}
				if !finished[i] {
					abandoned[i] = true
					src.abandoned.Add(1)
				}
			}
		}
		stateMu.Unlock()
		break
	}
	for i, src := range e.sources {
		e.logTransition(src, outcomes[i].err)
	}
	return outcomes
}

// logTransition logs when a source starts failing and when it recovers: a
// failing source is visible in warden_collector_success on every scrape, so
// repeating the same warning every scrape would only bury other lines.
func (e *Exporter) logTransition(src *sourceState, err error) {
	src.mu.Lock()
	defer src.mu.Unlock()
	switch {
	case err != nil && !src.failing:
		level.Warn(e.logger).Log("msg", "collector failed", "collector", src.Name(), "err", err)
	case err != nil:
		level.Debug(e.logger).Log("msg", "collector still failing", "collector", src.Name(), "err", err)
	case src.failing:
		level.Info(e.logger).Log("msg", "collector recovered", "collector", src.Name())
	}
	src.failing = err != nil
}

// ScrapeTimeout derives the time a scrape may take from Prometheus's
// X-Prometheus-Scrape-Timeout-Seconds header, minus offset to leave room for
// encoding and the network. Without a usable header it returns fallback.
// When the offset would leave nothing, it keeps a tenth of the header's
// timeout rather than failing every source outright.
func ScrapeTimeout(header string, offset, fallback time.Duration) time.Duration {
	if header == "" {
		return fallback
	}
	seconds, err := strconv.ParseFloat(header, 64)
	if err != nil || seconds <= 0 || math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		return fallback
	}
	if seconds > 24*3600 {
		seconds = 24 * 3600
	}
	timeout := time.Duration(seconds * float64(time.Second))
	if timeout-offset <= timeout/10 {
		return timeout / 10
	}
	return timeout - offset
}

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

// Package collector is the Exporter: one evaluation reads every layer of
// the host into one snapshot (observe.go), judges every check against it
// (internal/verdict) and emits the metrics (emit.go, every series in
// descs.go). A scrape, /checks and the landing page share evaluations
// (Evaluate). It has no flags, no globals and no init() registration:
// everything it needs is passed to New.
package collector

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// The exporter's seams: one small interface per layer, so tests can serve
// a real system or captured data.

// UnitReader reads the units: *systemd.Client outside tests.
type UnitReader interface {
	// Snapshot reads the cached units and, by name, names. It must honour
	// ctx's deadline.
	Snapshot(ctx context.Context, names []string) (*systemd.Snapshot, error)
}

// ListenerReader reads the kernel's listeners: *listeners.Reader outside
// tests.
type ListenerReader interface {
	// Read reads the host's listeners.
	Read(ctx context.Context) (*listeners.Reading, error)
	// InNetnsOf reads those of the network namespace pid is in, and
	// returns the namespace's id.
	InNetnsOf(ctx context.Context, pid int) ([]listeners.Listener, uint64, error)
	// CloseNetnsExcept releases what is kept for namespaces not in used.
	CloseNetnsExcept(used map[uint64]bool)
}

// ProbeRunner runs the checks' probes: *probe.Prober outside tests.
type ProbeRunner interface {
	Run(ctx context.Context, jobs []probe.Job) []probe.Result
}

// The values of Options.UnitSeries: which series the units get.
const (
	// UnitSeriesFull (the library's zero value): every watched unit its
	// warden_unit_state, warden_unit_restarts_total and
	// warden_unit_active_enter_timestamp_seconds, and every check's unit
	// its warden_unit_load_state.
	UnitSeriesFull = "full"
	// UnitSeriesCompact: those of the checks' units only, the load state
	// only while it is not "loaded", and any other unit its
	// warden_unit_state only while it is failed — a host's series then
	// grow with its checks, not with its units.
	UnitSeriesCompact = "compact"
)

// Options configures an Exporter. A nil layer is off: its checks' layer is
// unknown and it has no warden_collector_success series.
type Options struct {
	Logger log.Logger
	// Config is called once per evaluation, so a reload takes effect at
	// the next one.
	Config func() *config.Config

	Systemd UnitReader
	// UnitSeries is UnitSeriesCompact or UnitSeriesFull ("" is full).
	UnitSeries string
	Listeners  ListenerReader
	Probes     ProbeRunner

	// MaxListenerSeries caps warden_listener_info; 0 means the default
	// (1000), a negative value no cap.
	MaxListenerSeries int
	// ProcRoot is the proc mount, /proc outside tests.
	ProcRoot string
	// Discovery configures the implicit checks of discovery.enabled.
	Discovery DiscoveryOptions
	// WatchInterval is how often Run's watch reads the listeners and
	// judges every check between scrapes (it also does when the units
	// change); 0 turns the watch off. At least MinWatchInterval.
	WatchInterval time.Duration
}

// DefaultMaxListenerSeries is the default cap of the listener inventory.
const DefaultMaxListenerSeries = 1000

// Exporter evaluates the checks: observe, judge, emit.
type Exporter struct {
	logger     log.Logger
	config     func() *config.Config
	unitReader UnitReader
	listeners  ListenerReader
	prober     ProbeRunner
	unitSeries string
	owners     *owner.Resolver
	discovery  *discovery
	maxSeries  int
	descs      *descs

	// The layers read in every evaluation, in the order of their
	// warden_collector_success series.
	layers []*layer

	watchInterval time.Duration
	history       checkHistory                     // what every evaluation said of each check
	probes        probeStore                       // every probe's last run and failures
	lastUnits     atomic.Pointer[systemd.Snapshot] // the last scrape's units, for the watch

	unitFamilies unitFamilies // the bulk units' series, kept per cache state
	dropped      atomic.Uint64
	warnedDrop   sync.Once
	seriesErrors seriesErrors // the series that could not be built

	flightMu sync.Mutex
	flight   *flight                    // the evaluation concurrent requests can join
	last     atomic.Pointer[Evaluation] // the newest evaluation that completed
}

// New returns an Exporter over the layers opts gives.
func New(opts Options) (*Exporter, error) {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.MaxListenerSeries == 0 {
		opts.MaxListenerSeries = DefaultMaxListenerSeries
	}
	if opts.WatchInterval != 0 && opts.WatchInterval < MinWatchInterval {
		return nil, fmt.Errorf("watch interval %s: at least %s, or 0 for no watch", opts.WatchInterval, MinWatchInterval)
	}
	switch opts.UnitSeries {
	case "", UnitSeriesFull, UnitSeriesCompact:
	default:
		return nil, fmt.Errorf("unit series %q: use %q or %q", opts.UnitSeries, UnitSeriesCompact, UnitSeriesFull)
	}
	e := &Exporter{
		logger:     opts.Logger,
		config:     opts.Config,
		unitReader: opts.Systemd,
		listeners:  opts.Listeners,
		prober:     opts.Probes,
		unitSeries: opts.UnitSeries,
		owners:     owner.New(opts.ProcRoot),
		discovery:  newDiscovery(opts.Discovery),
		maxSeries:  opts.MaxListenerSeries,
		descs:      newDescs(),

		watchInterval: opts.WatchInterval,
	}
	e.seriesErrors.logger, e.seriesErrors.now = opts.Logger, time.Now
	if e.unitReader != nil {
		e.layers = append(e.layers, &layer{name: layerSystemd})
	}
	if e.listeners != nil {
		e.layers = append(e.layers, &layer{name: layerListeners})
	}
	if e.prober != nil {
		e.layers = append(e.layers, &layer{name: layerProbes})
	}
	return e, nil
}

// Close writes what discovery learned and is still to be written.
func (e *Exporter) Close() { e.discovery.flush() }

// Evaluation is the outcome of one evaluation: the verdicts and the metric
// families built from them. It is shared by the requests that joined it,
// and never modified.
type Evaluation struct {
	At       time.Time // when the evaluation started
	Verdicts []verdict.Verdict
	families []*dto.MetricFamily
	err      error // the registry's: a series that broke its description

	memoMu sync.Mutex
	memo   map[string]*memoEntry
}

type memoEntry struct {
	once  sync.Once
	value any
}

// Families returns the metric families, and the error of a series that
// broke the exporter's descriptions (a bug; the rest are served).
func (ev *Evaluation) Families() ([]*dto.MetricFamily, error) {
	return slices.Clone(ev.families), ev.err
}

// Memo returns what make returned for key, calling it once per evaluation:
// the requests that share an evaluation share what is derived from it
// (its encodings).
func (ev *Evaluation) Memo(key string, make func() any) any {
	ev.memoMu.Lock()
	if ev.memo == nil {
		ev.memo = map[string]*memoEntry{}
	}
	m := ev.memo[key]
	if m == nil {
		m = &memoEntry{}
		ev.memo[key] = m
	}
	ev.memoMu.Unlock()
	m.once.Do(func() { m.value = make() })
	return m.value
}

// Last returns the last evaluation that completed (its verdicts; no
// families), or nil before the first.
func (e *Exporter) Last() *Evaluation { return e.last.Load() }

// Evaluate runs one evaluation under ctx, or joins the one in progress.
// It returns by ctx's deadline whatever the layers do; a layer that fails
// is a metric (warden_collector_success 0) and its checks' verdicts say
// so, never an error.
//
// Concurrent requests see the same host: one that arrives while another
// evaluation runs, with a deadline no earlier than that one's, shares its
// result instead of dialing every probe and reading every layer again.
// The shared result was produced during the request, never before it;
// under load it is what keeps latency, CPU and memory flat (bench/load.sh).
// This is the one place concurrent requests are shared: /metrics, /checks,
// the landing page and a background tick all come through here.
func (e *Exporter) Evaluate(ctx context.Context) (*Evaluation, error) {
	deadline, hasDeadline := ctx.Deadline()
	if !hasDeadline {
		return e.evaluate(ctx), nil
	}
	e.flightMu.Lock()
	if f := e.flight; f != nil && !f.deadline.After(deadline) {
		e.flightMu.Unlock()
		select {
		case <-f.done:
			return f.ev, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{}), deadline: deadline}
	e.flight = f
	e.flightMu.Unlock()
	// Detached from this request: its client leaving must not fail the
	// requests that joined it. The deadline still bounds it.
	fctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	f.ev = e.evaluate(fctx)
	close(f.done)
	e.flightMu.Lock()
	if e.flight == f {
		e.flight = nil
	}
	e.flightMu.Unlock()
	return f.ev, nil
}

// flight is an evaluation in progress that concurrent requests can join.
type flight struct {
	done     chan struct{}
	deadline time.Time
	ev       *Evaluation
}

// evaluate is one evaluation: observe every layer, judge every check,
// emit.
func (e *Exporter) evaluate(ctx context.Context) *Evaluation {
	snap := e.observe(ctx, e.config())
	verdicts := verdict.Evaluate(snap.checks, snap.implicit, &snap.host)
	e.history.observe(snap.at, verdicts, true)
	if snap.host.Units != nil {
		e.lastUnits.Store(snap.host.Units)
	}
	ev := &Evaluation{At: snap.at, Verdicts: verdicts}
	ev.families, ev.err = e.emit(snap, verdicts)
	// Kept for Last without its families and encodings: the landing page
	// needs the verdicts only, and a response can be megabytes. Overlapping
	// evaluations may end out of order: keep the newest.
	last := &Evaluation{At: ev.At, Verdicts: verdicts}
	for {
		old := e.last.Load()
		if old != nil && old.At.After(ev.At) || e.last.CompareAndSwap(old, last) {
			return ev
		}
	}
}

// Gather runs (or joins) one evaluation under ctx and returns its metric
// families.
func (e *Exporter) Gather(ctx context.Context) ([]*dto.MetricFamily, error) {
	ev, err := e.Evaluate(ctx)
	if err != nil {
		return nil, err
	}
	return ev.Families()
}

// Verdicts runs (or joins) one evaluation under ctx and returns the
// judgement of every check.
func (e *Exporter) Verdicts(ctx context.Context) ([]verdict.Verdict, error) {
	ev, err := e.Evaluate(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Clone(ev.Verdicts), nil
}

// Gatherer returns Gather bound to ctx, as a prometheus.Gatherer.
func (e *Exporter) Gatherer(ctx context.Context) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return e.Gather(ctx) })
}

// Forget drops what discovery learned of the check named name (its unit):
// a unit that still listens is learned again after the min age, unless the
// config excludes it.
func (e *Exporter) Forget(name string) error {
	return e.discovery.forget(name)
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

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
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/daemonconf"
	"github.com/warden-exporter/warden_exporter/internal/discovery"
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
	// returns the namespace's id. What the reader keeps per namespace is
	// its own to release.
	InNetnsOf(ctx context.Context, pid int) ([]listeners.Listener, uint64, error)
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
	// MaxIntervalProbes bounds the probes with an interval running at
	// once, all of them together; 0 means DefaultMaxIntervalProbes.
	MaxIntervalProbes int

	// MaxListenerSeries caps warden_listener_info; 0 means the default
	// (1000), a negative value no cap.
	MaxListenerSeries int
	// ProcRoot is the proc mount, /proc outside tests.
	ProcRoot string
	// Discovery configures the implicit checks of discovery.enabled.
	Discovery discovery.Options
	// DaemonConfigs reads the checks' daemons' own configurations (their
	// expected ports); nil: off, their ports are learned.
	DaemonConfigs *daemonconf.Reader
	// Containers is the container layer; nil: off (the checks naming a
	// container are unknown).
	Containers ContainerSource
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
	discovery  *discovery.Discovery
	daemons    *daemonconf.Reader
	containers ContainerSource
	// containerUnits are the units seen running a container.
	containerUnits containerUnits
	// daemonUnits are the units of the checks' daemons the last
	// evaluation found, and daemonNames the listing's daemon units.
	daemonUnits atomic.Pointer[[]string]
	daemonNames atomic.Pointer[daemonNamesCache]
	daemonViews daemonViews
	daemonSeen  daemonSeen
	maxSeries   int
	descs       *descs

	// The layers read in every evaluation, in the order of their
	// warden_collector_success series.
	layers []*layer

	watchInterval time.Duration
	intervalLimit int                           // the probes with an interval running at once, at most
	history       checkHistory                  // what every evaluation said of each check
	probes        probeStore                    // every probe's last run and failures
	prunedFor     atomic.Pointer[config.Config] // the config history and probes were last pruned for

	unitFamilies unitFamilies // the bulk units' series, kept per cache state
	dropped      atomic.Uint64
	warnedDrop   sync.Once
	seriesErrors seriesErrors // the series that could not be built

	flightMu sync.Mutex
	running  *flight                    // the evaluation running, which requests may join
	next     *flight                    // the one to run after it, for requests that may not
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
	if opts.MaxIntervalProbes <= 0 {
		opts.MaxIntervalProbes = DefaultMaxIntervalProbes
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
		discovery:  discovery.New(opts.Discovery),
		daemons:    opts.DaemonConfigs,
		containers: opts.Containers,
		maxSeries:  opts.MaxListenerSeries,
		descs:      newDescs(),

		watchInterval: opts.WatchInterval,
		intervalLimit: opts.MaxIntervalProbes,
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
	if e.containers != nil {
		e.layers = append(e.layers, &layer{name: layerContainers})
	}
	return e, nil
}

// Close writes what discovery learned and is still to be written, once.
func (e *Exporter) Close() { e.discovery.Close() }

// Evaluation is the outcome of one evaluation: the verdicts and the metric
// families built from them. It is shared by the requests that joined it,
// and never modified.
type Evaluation struct {
	At       time.Time // when the evaluation started
	Verdicts []verdict.Verdict
	// FailedUnits are the host's failed units, the checks' and others'.
	FailedUnits verdict.FailedUnits
	families    []*dto.MetricFamily
}

// Families returns the metric families, as a prometheus.Gatherer: never an
// error, a series that broke its description is left out and counted
// (warden_series_errors_total) and the rest are served.
func (ev *Evaluation) Families() ([]*dto.MetricFamily, error) {
	return slices.Clone(ev.families), nil
}

// Summary is ev without its families: its time and verdicts, what a page
// of the checks needs (a response's families can be megabytes).
func (ev *Evaluation) Summary() *Evaluation {
	return &Evaluation{At: ev.At, Verdicts: ev.Verdicts, FailedUnits: ev.FailedUnits}
}

// Last returns the newest evaluation that completed and that no request's
// deadline cut short (its Summary), or nil before the first. A client
// sets its own deadline (X-Prometheus-Scrape-Timeout-Seconds), so what it
// cut short is its own answer, not one to show anyone else: while three
// clients sent 0.6 (a 0.1 s deadline), the landing page showed a healthy
// 200 ms service as probe_failed in 20 views of 20.
func (e *Exporter) Last() *Evaluation { return e.last.Load() }

// Evaluate runs one evaluation under ctx, or joins one. It returns by
// ctx's deadline whatever the layers do; a layer that fails is a metric
// (warden_collector_success 0) and its checks' verdicts say so, never an
// error. The error is ErrNoEvaluationInTime when the evaluation a request
// joined (one given more time than it) had not ended by its deadline.
//
// Concurrent requests see the same host, and share evaluations so that N
// requests dial every probe once, not N times (bench/load.sh). Whose
// deadline an evaluation runs under is the whole question:
// X-Prometheus-Scrape-Timeout-Seconds is the client's to set, so a request
// joins only an evaluation whose deadline is not earlier than its own
// (less joinSlack): a stranger's short deadline never shortens anyone
// else's probes. (Before: three curl loops sending 0.6 made a 200 ms
// service time out in 20 of 20 of Prometheus's 10 s scrapes.) At most two
// evaluations exist at once: the one running and the next one. A request
// that may not join the running one joins the next, raising its deadline
// to its own; the next starts when the running one ends. So a burst of
// requests with every kind of deadline costs two evaluations, not one
// each (before: 100 requests whose deadlines stepped down 80 ms each made
// 90 dials of one target).
func (e *Exporter) Evaluate(ctx context.Context) (*Evaluation, error) {
	deadline, hasDeadline := ctx.Deadline()
	if !hasDeadline {
		return e.evaluate(ctx, byScrape)
	}
	f := e.flightFor(ctx, deadline)
	select {
	case <-f.done:
		return f.ev, f.err
	case <-ctx.Done():
	}
	// This request's deadline came. An evaluation under a deadline no
	// later than it has had its layers give up at that deadline and is
	// judging and emitting (milliseconds): wait for it, as a request that
	// ran its own evaluation would. One given more time may run on.
	e.flightMu.Lock()
	joinedLater := f.deadline.After(deadline)
	e.flightMu.Unlock()
	if !joinedLater {
		select {
		case <-f.done:
			return f.ev, f.err
		case <-time.After(evaluationGrace):
		}
	}
	return nil, fmt.Errorf("%w: %w", ErrNoEvaluationInTime, ctx.Err())
}

// evaluationGrace bounds the wait, past a request's deadline, for an
// evaluation under the same deadline to judge and emit what it read
// (2,000 units and 1,000 checks: ~20 ms on the 2-core VM).
const evaluationGrace = 2 * time.Second

// ErrNoEvaluationInTime is Evaluate's error when a request's deadline came
// before the evaluation it joined ended (that evaluation has a later
// deadline: its reads took longer than this request allows).
var ErrNoEvaluationInTime = errors.New("no evaluation ended within the request's deadline")

// joinSlack is how much earlier than a request's own deadline an
// evaluation's may be for the request to join it: Prometheus's scrapes of
// one job, sent a few milliseconds apart with one timeout, share one
// evaluation. Small beside the probes' timeouts (seconds) and the
// probes' reserve before a deadline (20-250 ms).
const joinSlack = 50 * time.Millisecond

// flightFor returns the evaluation a request with deadline joins,
// starting one if there is none to join.
func (e *Exporter) flightFor(ctx context.Context, deadline time.Time) *flight {
	e.flightMu.Lock()
	defer e.flightMu.Unlock()
	switch {
	case e.running == nil:
		e.running = &flight{done: make(chan struct{}), deadline: deadline, base: context.WithoutCancel(ctx)}
		e.startLocked(e.running)
		go e.fly(e.running)
		return e.running
	case !e.running.deadline.Before(deadline.Add(-joinSlack)), e.running.unhurried:
		return e.running
	case e.next == nil:
		e.next = &flight{done: make(chan struct{}), deadline: deadline, base: context.WithoutCancel(ctx)}
	case deadline.After(e.next.deadline):
		e.next.deadline = deadline
	}
	return e.next
}

// fly runs f, then the next evaluation if requests are waiting for one.
// Detached from the requests: a client leaving must not fail the others
// that joined; f's deadline still bounds it.
func (e *Exporter) fly(f *flight) {
	for f != nil {
		f.ev, f.err = e.evaluateContained(f)
		// The next one is running before this one's requests are answered,
		// so a request arriving now cannot join an evaluation that ended
		// before it arrived.
		e.flightMu.Lock()
		e.running, e.next = e.next, nil
		done := f
		f = e.running
		if f != nil {
			e.startLocked(f)
		}
		e.flightMu.Unlock()
		close(done.done)
	}
}

// startLocked marks f as starting now: its deadline is fixed from here (a
// later request waits for the next evaluation). flightMu is held.
func (e *Exporter) startLocked(f *flight) {
	f.unhurried = time.Until(f.deadline) >= e.evaluationNeeds()
}

// evaluateContained is f's evaluation, a panic its error: it runs on a
// goroutine of its own, where a panic would end the process (net/http
// recovers its handlers' panics, not ours). f has started: its deadline
// is fixed.
func (e *Exporter) evaluateContained(f *flight) (ev *Evaluation, err error) {
	ctx, cancel := context.WithDeadline(f.base, f.deadline)
	defer cancel()
	kind := byScrape
	if !f.unhurried {
		kind = byHurriedScrape
	}
	defer func() {
		// look contains the observation's and the judge's panics; this,
		// the rest (emit, the history).
		if p := recover(); p != nil {
			ev, err = nil, e.evaluationPanicked(p)
		}
	}()
	return e.evaluate(ctx, kind)
}

// evaluationNeeds is the time an evaluation needs for nothing in it to be
// cut short: every probe it runs (those without an interval) its whole
// timeout, with the probes' reserve before the deadline (at most 250 ms),
// and at least a second for the layers (reads of milliseconds; a daemon
// reexec's new manager takes ~100 ms to answer). An evaluation given that
// long is as good as one given longer: a request with a later deadline
// joins it, so requests sent a moment apart with the same timeout (HA
// Prometheus servers, bench/load.sh's 50 clients) share one.
func (e *Exporter) evaluationNeeds() time.Duration {
	longest := time.Second
	if e.prober != nil {
		for _, j := range probe.Jobs(e.config()) {
			if j.Probe.Interval <= 0 {
				longest = max(longest, time.Duration(j.Probe.Timeout))
			}
		}
	}
	return longest + 250*time.Millisecond
}

// flight is an evaluation, running or next, that requests join.
type flight struct {
	done chan struct{}
	// deadline is guarded by Exporter.flightMu until the evaluation
	// starts (a next one's rises to the latest of its requests').
	deadline time.Time
	// unhurried: its deadline leaves it all the time it needs
	// (evaluationNeeds), so nothing in it is cut short and any request
	// may join it.
	unhurried bool
	base      context.Context
	ev        *Evaluation
	err       error
}

// evaluate is one evaluation of a request: observe every layer and judge
// (look), then emit. kind says whether it was given the time it needs (a
// hurried one's unknowns are its request's deadline, not news for the
// counters).
func (e *Exporter) evaluate(ctx context.Context, kind evaluationKind) (*Evaluation, error) {
	o, err := e.look(ctx, e.config(), reads{fresh: true})
	if err != nil {
		return nil, err
	}
	e.logStatusChanges(e.history.record(o.at, o.verdicts, kind))
	ev := &Evaluation{At: o.at, Verdicts: o.verdicts, FailedUnits: verdict.Failed(o.judged.Units, o.checks)}
	ev.families = e.emit(o)
	if cutShort(o.verdicts, kind) {
		return ev, nil // its requester's answer only (Last)
	}
	// Kept for Last without its families: the landing page needs the
	// verdicts only. Overlapping evaluations may end out of order: keep
	// the newest.
	last := ev.Summary()
	for {
		old := e.last.Load()
		if old != nil && old.At.After(ev.At) || e.last.CompareAndSwap(old, last) {
			return ev, nil
		}
	}
}

// cutShort says a request's deadline shaped the verdicts of an evaluation
// of kind: it ended a probe before the probe's timeout, or, in one given
// less time than it needs, a layer's read (its checks unknown). Broader
// than the history's test of a check (which leaves out only what made it
// fail): a page shows every probe's row, and one cut short would say so.
func cutShort(verdicts []verdict.Verdict, kind evaluationKind) bool {
	for _, v := range verdicts {
		if kind == byHurriedScrape && v.Status == verdict.Unknown {
			return true
		}
		for _, p := range v.Probes {
			if p.CutShort {
				return true
			}
		}
	}
	return false
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

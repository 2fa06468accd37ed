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
	"slices"
	"sort"
	"sync"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// UnitReader reads the units: *systemd.Client outside tests.
type UnitReader interface {
	// Snapshot reads the cached units and, by name, names.
	Snapshot(ctx context.Context, names []string) (*systemd.Snapshot, error)
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

type systemdSource struct {
	reader     UnitReader
	unitSeries string
	logger     log.Logger

	emitMu       sync.Mutex
	emittedFrom  *systemd.Snapshot
	emittedNamed []string
	emitted      []*dto.MetricFamily

	descs systemdDescs
}

type systemdDescs struct {
	unitState, loadState, restarts, activeEnter, fileState *prometheus.Desc
}

func newSystemdSource(reader UnitReader, unitSeries string, logger log.Logger) *systemdSource {
	return &systemdSource{reader: reader, unitSeries: unitSeries, logger: logger, descs: systemdDescs{
		unitState: prometheus.NewDesc("warden_unit_state",
			"The unit's ActiveState: exactly one series per unit is 1.", []string{"unit", "state"}, nil),
		loadState: prometheus.NewDesc("warden_unit_load_state",
			"The LoadState of a unit a check names: exactly one series per unit is 1.", []string{"unit", "state"}, nil),
		fileState: prometheus.NewDesc("warden_unit_file_state",
			"The UnitFileState of a check's unit (configured or discovered) (enabled, disabled, static, masked, ...): whether it starts at boot. Always 1.", []string{"unit", "state"}, nil),
		restarts: prometheus.NewDesc("warden_unit_restarts_total",
			"Times systemd restarted the service automatically (NRestarts).", []string{"unit"}, nil),
		activeEnter: prometheus.NewDesc("warden_unit_active_enter_timestamp_seconds",
			"When the unit last entered the active state, as a Unix time; 0 if never.", []string{"unit"}, nil),
	}}
}

// Name implements Source.
func (s *systemdSource) Name() string { return "systemd" }

// Describe implements Source.
func (s *systemdSource) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.descs.unitState
	ch <- s.descs.loadState
	ch <- s.descs.fileState
	ch <- s.descs.restarts
	ch <- s.descs.activeEnter
}

func (s *systemdSource) Update(ctx context.Context, cfg *config.Config) (Reading, error) {
	snap, err := s.reader.Snapshot(ctx, checkUnits(cfg))
	if err != nil {
		return nil, err
	}
	return &systemdReading{source: s, Snapshot: snap}, nil
}

// systemdReading is one scrape's units.
type systemdReading struct {
	source *systemdSource
	*systemd.Snapshot
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

// collectLoadStates emits warden_unit_load_state for units no configured
// check names (a unit systemd does not know is not-found).
func (r *systemdReading) collectLoadStates(emit func(prometheus.Metric), units []string) {
	for _, name := range slices.Compact(slices.Sorted(slices.Values(units))) {
		load := "not-found"
		if u, ok := r.Unit(name); ok && u.LoadState != "" {
			load = u.LoadState
		}
		r.source.loadStateSeries(emit, name, load)
	}
}

// loadStateSeries emits a check's unit's warden_unit_load_state: the whole
// state set, or in UnitSeriesCompact only a unit that is not loaded (the
// one that is 1: masked, not-found, error, bad-setting).
func (s *systemdSource) loadStateSeries(emit func(prometheus.Metric), unit, load string) {
	if s.unitSeries != UnitSeriesCompact {
		stateSet(emit, s.descs.loadState, unit, load, systemd.LoadStates)
	} else if load != "loaded" {
		emit(prometheus.MustNewConstMetric(s.descs.loadState, prometheus.GaugeValue, 1, unit, load))
	}
}

// collectUnits emits the series of the units of checks the config does
// not name (discovery's), when only the checks' units get theirs
// (UnitSeriesCompact): otherwise they are in Families already, and so is a
// failed one.
func (r *systemdReading) collectUnits(emit func(prometheus.Metric), units []string) {
	if r.source.unitSeries != UnitSeriesCompact {
		return
	}
	for _, name := range slices.Compact(slices.Sorted(slices.Values(units))) {
		if r.Named(name) {
			continue
		}
		if u, ok := r.Unit(name); ok && u.ActiveState != "failed" {
			r.source.unitMetrics(emit, u, false)
		}
	}
}

// Collect implements Reading: the checks' units (warden_service_up is the
// join's, since discovered checks have one too).
func (r *systemdReading) Collect(ch chan<- prometheus.Metric) {
	emit := func(m prometheus.Metric) { ch <- m }
	for _, name := range r.NamedUnits() {
		u, _ := r.Unit(name)
		r.source.unitMetrics(emit, u, true)
		if fs := r.FileState(name); fs != "" {
			emit(prometheus.MustNewConstMetric(r.source.descs.fileState, prometheus.GaugeValue, 1, name, fs))
		}
	}
}

// Families implements FamilyReading: the series of every cached unit that
// no check names. They change only when the cache does, so they are built
// (and checked) once per cache snapshot and shared by the scrapes after it.
func (r *systemdReading) Families() []*dto.MetricFamily {
	return r.source.bulkFamilies(r.Snapshot)
}

func (s *systemdSource) bulkFamilies(snap *systemd.Snapshot) []*dto.MetricFamily {
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	named := snap.NamedUnits()
	if snap.SameCache(s.emittedFrom) && s.emitted != nil && slices.Equal(s.emittedNamed, named) {
		return s.emitted
	}
	metrics := make([]prometheus.Metric, 0, len(snap.Names())*(len(systemd.ActiveStates)+2))
	emit := func(m prometheus.Metric) { metrics = append(metrics, m) }
	compact := s.unitSeries == UnitSeriesCompact
	for _, name := range snap.Names() {
		if snap.Named(name) {
			continue
		}
		u, _ := snap.Unit(name)
		switch {
		case !compact:
			s.unitMetrics(emit, u, false)
		case u.ActiveState == "failed":
			// Every failed unit stays visible, whoever names it: 7
			// series while it is failed, none once it is not.
			stateSet(emit, s.descs.unitState, u.Name, u.ActiveState, systemd.ActiveStates)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metricsCollector{source: s, metrics: metrics})
	mfs, err := reg.Gather()
	if err != nil {
		// A bug (a duplicate series): serve nothing rather than bad data,
		// and say so in the scrape through the registry's error next time.
		level.Error(s.logger).Log("msg", "building the unit series failed", "err", err)
		mfs = nil
	}
	s.emittedFrom, s.emitted, s.emittedNamed = snap, mfs, named
	return mfs
}

// metricsCollector hands fixed metrics to a registry, described by the
// source's descriptors.
type metricsCollector struct {
	source  *systemdSource
	metrics []prometheus.Metric
}

func (c metricsCollector) Describe(ch chan<- *prometheus.Desc) { c.source.Describe(ch) }
func (c metricsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.metrics {
		ch <- m
	}
}

// unitMetrics emits one unit's series. withLoadState is for the checks'
// units: the bulk units are listed only while loaded, so their load state
// would carry nothing but series.
func (s *systemdSource) unitMetrics(emit func(prometheus.Metric), u systemd.Unit, withLoadState bool) {
	d := s.descs
	stateSet(emit, d.unitState, u.Name, u.ActiveState, systemd.ActiveStates)
	if withLoadState {
		s.loadStateSeries(emit, u.Name, u.LoadState)
	}
	if u.HasRestarts {
		emit(prometheus.MustNewConstMetric(d.restarts, prometheus.CounterValue, float64(u.NRestarts), u.Name))
	}
	if u.LoadState != "not-found" && u.LoadState != "" {
		emit(prometheus.MustNewConstMetric(d.activeEnter, prometheus.GaugeValue, float64(u.ActiveEnterTimestamp)/1e6, u.Name))
	}
}

// stateSet emits one series per state, 1 for current; a current state
// outside states gets a series of its own, so exactly one series is 1.
func stateSet(emit func(prometheus.Metric), desc *prometheus.Desc, unit, current string, states []string) {
	known := false
	for _, st := range states {
		v := 0.0
		if st == current {
			v, known = 1, true
		}
		emit(prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, unit, st))
	}
	if !known && current != "" {
		emit(prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, 1, unit, current))
	}
}

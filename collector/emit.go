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
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// emit builds the metric families of one evaluation from its observation
// and verdicts. The series built per evaluation are checked against their
// descriptions as they are built (familyBuilder): they are few, and a
// drift is worth catching in production too. The bulk units' series
// (many, changing only with the cache) are prebuilt families merged in as
// they are: checking and sorting thousands of unchanged series again on
// every scrape would cost more than reading them (see bench/).
func (e *Exporter) emit(s *observation) []*dto.MetricFamily {
	// The bulk units' first: a series of theirs that cannot be built is
	// then counted in this evaluation's warden_series_errors_total.
	var prebuilt []*dto.MetricFamily
	if s.units != nil {
		prebuilt = e.unitFamilies.of(e, s.units)
	}
	families := newFamilyBuilder(e.descs.meta)
	emission{e, s}.build(seriesSink{families: families, errors: &e.seriesErrors})
	return mergeFamilies(families.gathered(), prebuilt)
}

// emission is one evaluation's series.
type emission struct {
	e *Exporter
	s *observation
}

// build emits every series of the evaluation. Each thing's series are
// built apart (seriesSink.guard): one that cannot be built costs that
// series, or at worst that thing's, never the scrape's rest.
func (m emission) build(emit seriesSink) {
	e, s, d := m.e, m.s, m.e.descs
	for _, o := range s.outcomes {
		emit.guard("collector", o.layer.name, func() {
			success := 0.0
			if o.err == nil {
				success = 1
			}
			emit.gauge(d.success, success, o.layer.name)
			emit.gauge(d.duration, o.duration.Seconds(), o.layer.name)
		})
	}
	if units := s.units; units != nil {
		emit.guard("units", "read by name", func() { e.emitNamedUnits(emit, units) })
		emit.guard("units", "learned", func() { e.emitLearnedUnits(emit, units, s.learnedUnits) })
	}
	if s.listeners != nil {
		emit.gauge(d.listenersSource, 1, s.listeners.Backend, s.listeners.Fallback)
	}
	if s.probes.read {
		for _, r := range s.probes.results {
			emit.guard("probe of check", r.Check, func() { e.emitProbe(emit, r) })
		}
	}
	if e.prober != nil {
		emit.counter(d.probesCutShort, float64(e.probes.cutShortRuns()))
	}
	engines := map[string]string{} // the container checks' engines, by check
	for _, c := range s.checks {
		if c.Container != "" {
			engines[c.Name] = c.Engine
		}
	}
	for _, v := range s.verdicts {
		emit.guard("check", v.Check, func() { e.emitVerdict(emit, v) })
		if v.Container != nil {
			emit.guard("container of check", v.Check, func() { e.emitContainer(emit, v, s.containers, engines[v.Check]) })
		}
	}
	if s.containers != nil {
		emit.guard("containers", "engines", func() { e.emitEngines(emit, s.containers, s.checks) })
	}
	if s.listeners != nil {
		emit.guard("listeners", "inventory", func() { e.emitInventory(emit, s.listeners.Listeners, s.owners) })
	}
	// Last: it counts this evaluation's errors too.
	emit.counter(d.seriesErrors, float64(e.seriesErrors.total.Load()))
}

// emitNamedUnits emits the units read by name (the checks'):
// warden_service_up is the verdicts', since discovered checks have one too.
func (e *Exporter) emitNamedUnits(emit seriesSink, units *systemd.Snapshot) {
	for _, name := range units.NamedUnits() {
		u, _ := units.Unit(name)
		e.emitUnit(emit, u, true)
		e.emitUnitCounters(emit, u)
		if fs := units.FileState(name); fs != "" {
			emit.gauge(e.descs.fileState, 1, name, fs)
		}
	}
}

// emitLearnedUnits emits the units of the checks discovery learned in this
// evaluation, which the layers did not read by name: their load state
// (not-found for a unit systemd does not know), so a discovered unit that
// is masked or vanishes is as visible; and, when only the checks' units
// get their series (UnitSeriesCompact), the rest of theirs (otherwise
// they are in the bulk families already, as is a failed one).
func (e *Exporter) emitLearnedUnits(emit seriesSink, units *systemd.Snapshot, learned []string) {
	learned = slices.Compact(slices.Sorted(slices.Values(learned)))
	for _, name := range learned {
		load := "not-found"
		if u, ok := units.Unit(name); ok && u.LoadState != "" {
			load = u.LoadState
		}
		e.emitLoadState(emit, name, load)
	}
	if e.unitSeries != UnitSeriesCompact {
		return
	}
	for _, name := range learned {
		if units.Named(name) {
			continue
		}
		if u, ok := units.Unit(name); ok && !u.Failed() {
			e.emitUnit(emit, u, false)
			e.emitUnitCounters(emit, u)
		}
	}
}

// emitLoadState emits a check's unit's warden_unit_load_state: the whole
// state set, or in UnitSeriesCompact only a unit that is not loaded (the
// one that is 1: masked, not-found, error, bad-setting).
func (e *Exporter) emitLoadState(emit seriesSink, unit, load string) {
	if e.unitSeries != UnitSeriesCompact {
		stateSet(emit, e.descs.loadState, load, systemd.LoadStates, unit)
	} else if !(systemd.Unit{LoadState: load}).Loaded() {
		emit.gauge(e.descs.loadState, 1, unit, load)
	}
}

// emitUnit emits one unit's series. withLoadState is for the checks'
// units: the bulk units are listed only while loaded, so their load state
// would carry nothing but series.
func (e *Exporter) emitUnit(emit seriesSink, u systemd.Unit, withLoadState bool) {
	d := e.descs
	stateSet(emit, d.unitState, u.ActiveState, systemd.ActiveStates, u.Name)
	if withLoadState {
		e.emitLoadState(emit, u.Name, u.LoadState)
	}
	if u.HasRestarts {
		emit.counter(d.restarts, float64(u.NRestarts), u.Name)
	}
	if !u.NotFound() && u.LoadState != "" {
		emit.gauge(d.activeEnter, float64(u.ActiveEnterTimestamp)/1e6, u.Name)
	}
}

// emitUnitCounters emits what the signals counted of a unit: a counter per
// state of warden_unit_state's set (0 until entered, so increase() sees
// the first), and one per failure Result systemd names (likewise 0 until
// the first such failure), plus any other Result it failed with. They are
// the checks' units' (and any unit's while it is failed), whatever
// --systemd.unit-series: 7 + 9 series a unit, and none for the bulk of a
// host's units.
func (e *Exporter) emitUnitCounters(emit seriesSink, u systemd.Unit) {
	d := e.descs
	for _, st := range systemd.ActiveStates {
		emit.counter(d.unitStateChanges, float64(u.StateChanges[st]), u.Name, st)
	}
	for _, st := range slices.Sorted(maps.Keys(u.StateChanges)) {
		if !slices.Contains(systemd.ActiveStates, st) {
			emit.counter(d.unitStateChanges, float64(u.StateChanges[st]), u.Name, st)
		}
	}
	for _, result := range systemd.FailureResults {
		emit.counter(d.unitFailures, float64(u.Failures[result]), u.Name, result)
	}
	for _, result := range slices.Sorted(maps.Keys(u.Failures)) {
		if !slices.Contains(systemd.FailureResults, result) {
			emit.counter(d.unitFailures, float64(u.Failures[result]), u.Name, result)
		}
	}
}

// stateSet emits one series per state (its last label), 1 for current,
// after labels; a current state outside states gets a series of its own,
// so exactly one series is 1.
func stateSet(emit seriesSink, desc *prometheus.Desc, current string, states []string, labels ...string) {
	labels = labels[:len(labels):len(labels)] // each series its own values
	known := false
	for _, st := range states {
		v := 0.0
		if st == current {
			v, known = 1, true
		}
		emit.gauge(desc, v, append(labels, st)...)
	}
	if !known && current != "" {
		emit.gauge(desc, 1, append(labels, current)...)
	}
}

// unitFamilies are the series of every cached unit that no check names.
// They change only when the cache does, so they are built (and checked)
// once per cache state and shared by the evaluations after it.
type unitFamilies struct {
	mu        sync.Mutex
	from      *systemd.Snapshot
	fromNamed []string
	families  []*dto.MetricFamily
}

func (f *unitFamilies) of(e *Exporter, units *systemd.Snapshot) []*dto.MetricFamily {
	f.mu.Lock()
	defer f.mu.Unlock()
	named := units.NamedUnits()
	if units.SameCache(f.from) && f.families != nil && slices.Equal(f.fromNamed, named) {
		return f.families
	}
	families := newFamilyBuilder(e.descs.meta)
	emit := seriesSink{families: families, errors: &e.seriesErrors}
	compact := e.unitSeries == UnitSeriesCompact
	for _, name := range units.Names() {
		if units.Named(name) {
			continue
		}
		emit.guard("unit", name, func() {
			u, _ := units.Unit(name)
			if u.Failed() {
				e.emitUnitCounters(emit, u)
			}
			switch {
			case !compact:
				e.emitUnit(emit, u, false)
			case u.Failed():
				// Every failed unit stays visible, whoever names it: 7
				// series while it is failed, none once it is not.
				stateSet(emit, e.descs.unitState, u.ActiveState, systemd.ActiveStates, u.Name)
			}
		})
	}
	mfs := families.gathered()
	f.from, f.fromNamed, f.families = units, named, mfs
	return mfs
}

// mergeFamilies adds the prebuilt families to mfs: a family of a new name is
// inserted in name order, one that exists gets the other's series appended.
// Prebuilt families are shared between evaluations and never modified.
func mergeFamilies(mfs []*dto.MetricFamily, prebuilt []*dto.MetricFamily) []*dto.MetricFamily {
	if len(prebuilt) == 0 {
		return mfs
	}
	byName := make(map[string]int, len(mfs))
	for i, mf := range mfs {
		byName[mf.GetName()] = i
	}
	for _, pf := range prebuilt {
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
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return mfs
}

// emitProbe emits one probe's series.
func (e *Exporter) emitProbe(emit seriesSink, r probe.Result) {
	d := e.descs
	labels := []string{r.Check, r.Target}
	ok := 0.0
	if r.Success {
		ok = 1
	}
	emit.gauge(d.probeSuccess, ok, labels...)
	for _, reason := range probe.Reasons {
		v := 0.0
		if !r.Success && r.Reason == reason {
			v = 1
		}
		emit.gauge(d.probeFailure, v, r.Check, r.Target, string(reason))
	}
	emit.gauge(d.probeDuration, r.Duration.Seconds(), labels...)
	emit.gauge(d.probeConnect, r.Connect.Seconds(), labels...)
	if !r.CertExpiry.IsZero() {
		emit.gauge(d.probeCertExpiry, float64(r.CertExpiry.Unix()), labels...)
	}
	k := probeKey{r.Check, r.Target}
	if run, ok := e.probes.lastOf(k); ok {
		emit.gauge(d.probeLastRun, float64(run.at.UnixNano())/1e9, labels...)
	}
	failures := e.probes.failuresOf(k)
	for _, reason := range probe.Reasons {
		emit.counter(d.probeFailures, float64(failures[reason]), r.Check, r.Target, string(reason))
	}
}

// emitVerdict emits a check's series: its verdict, the service layer as
// the check sees it, its ports and their product with the service.
func (e *Exporter) emitVerdict(emit seriesSink, v verdict.Verdict) {
	d := e.descs
	up := 0.0
	if v.Status == verdict.OK {
		up = 1
	}
	emit.gauge(d.checkUp, up, v.Check)
	emit.gauge(d.checkLearned, bool01(v.Implicit), v.Check)
	for _, st := range verdict.Statuses {
		x := 0.0
		if st == v.Status {
			x = 1
		}
		emit.gauge(d.checkStatus, x, v.Check, string(st))
	}
	if v.Status != verdict.OK {
		// The diagnosis travels to the alert through this series: one per
		// failing check, changing only when the diagnosis does (not
		// v.Reason: its local port, clock or peer's bytes made 30 series
		// in 30 scrapes of a silent peer).
		emit.gauge(d.checkReason, 1, v.Check, string(v.Status), v.Diagnosis)
	}
	for _, dep := range v.DependsOn {
		emit.gauge(d.dependency, 1, v.Check, dep)
	}
	if h, ok := e.history.of(v.Check); ok {
		for _, st := range verdict.Statuses {
			emit.counter(d.checkStatusChanges, float64(h.changes[st]), v.Check, string(st))
		}
		emit.counter(d.checkDownSeconds, h.down.Seconds(), v.Check)
		emit.gauge(d.checkLastChange, float64(h.lastChange.UnixNano())/1e9, v.Check)
	}
	if dc := v.DaemonConfig; dc != nil {
		emit.gauge(d.daemonConfigSuccess, bool01(dc.Error == ""), v.Check, dc.Daemon)
		emit.gauge(d.daemonConfigNotApplied, bool01(dc.NotApplied), v.Check, dc.Daemon)
	}
	serviceKnown := v.Unit != nil && v.Unit.Known
	if serviceKnown {
		emit.gauge(d.serviceUp, bool01(v.Unit.Up), v.Check, v.Unit.Name)
	}
	for _, p := range v.Ports {
		if !p.Known || p.BetweenRuns {
			// The listeners were not read, or the port is not expected
			// now (a timer's job between runs): no port series.
			continue
		}
		port := strconv.Itoa(p.Port)
		if p.AnyPort {
			port = "any"
		}
		emit.gauge(d.portListening, bool01(p.Listening), v.Check, p.Proto, p.Address, port)
		switch p.Owned {
		case verdict.OwnedByUnit:
			emit.gauge(d.portOwned, 1, v.Check, p.Proto, p.Address, port)
		case verdict.OwnedByOther:
			emit.gauge(d.portOwned, 0, v.Check, p.Proto, p.Address, port)
		}
		if serviceKnown {
			emit.gauge(d.servicePortUp, bool01(v.Unit.Up && p.Listening), v.Check, v.Unit.Name, p.Proto, p.Address, port)
		}
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// emitInventory emits warden_listener_info for every listener (capped at
// --listeners.max-series) and how many series the cap left out.
func (e *Exporter) emitInventory(emit seriesSink, ls []listeners.Listener, owners []owner.Owner) {
	series, dropped := inventory(ls, owners, e.maxSeries)
	for _, s := range series {
		emit.gauge(e.descs.listenerInfo, 1, s.proto, s.address, strconv.Itoa(int(s.port)), s.unit)
	}
	if dropped > 0 {
		e.dropped.Add(uint64(dropped))
		e.warnedDrop.Do(func() {
			level.Warn(e.logger).Log("msg", "listener inventory capped: some warden_listener_info series are left out", "listeners", len(series)+dropped, "max_series", e.maxSeries)
		})
	}
	emit.counter(e.descs.listenerDropped, float64(e.dropped.Load()))
}

// inventoryEntry is one warden_listener_info series.
type inventoryEntry struct {
	proto, address string
	port           uint16
	unit           string
}

// inventory returns the distinct series of the listeners, sorted (ports
// numerically), at most max of them, and how many were left out.
func inventory(ls []listeners.Listener, owners []owner.Owner, max int) ([]inventoryEntry, int) {
	seen := make(map[inventoryEntry]bool, len(ls))
	for i, l := range ls {
		entry := inventoryEntry{proto: l.Proto, address: l.Addr.String(), port: l.Port}
		if i < len(owners) {
			entry.unit = owners[i].Unit
		}
		seen[entry] = true
	}
	all := make([]inventoryEntry, 0, len(seen))
	for k := range seen {
		all = append(all, k)
	}
	slices.SortFunc(all, func(a, b inventoryEntry) int {
		return cmp.Or(strings.Compare(a.proto, b.proto), strings.Compare(a.address, b.address), cmp.Compare(a.port, b.port), strings.Compare(a.unit, b.unit))
	})
	if max >= 0 && len(all) > max {
		return all[:max], len(all) - max
	}
	return all, 0
}

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
	"sync"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/daemonconf"
	"github.com/warden-exporter/warden_exporter/internal/hosttext"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// ServiceExecReader reads how a service unit starts: *systemd.Client
// outside tests. The unit reader implements it when it can; without it the
// daemons' default configuration paths are read.
type ServiceExecReader interface {
	ServiceExec(ctx context.Context, unit string) (systemd.Exec, error)
}

// expectFromConfig reads the configuration of every check's daemon and
// makes it the check's expected ports: a learned check's (its learned ports
// stay only when the configuration cannot be read) and a configured check's
// that lists none (ports written in the exporter's configuration win).
// While an edit is not applied, the ports of the configuration the daemon
// read are expected. In zero-config, a loaded unit of a known daemon that
// is up, starting or failed is a check even if it never listened: a redis
// that failed before the exporter first saw it, an nginx whose port never
// came up.
func (e *Exporter) expectFromConfig(ctx context.Context, o *observation, names []string) {
	if e.daemons == nil || o.units == nil {
		return
	}
	if o.cfg.Discovery.Enabled {
		o.addLearned(e.daemonChecks(o), names)
	}
	e.daemons.Begin()
	var exec daemonconf.ExecFunc
	if r, ok := e.unitReader.(ServiceExecReader); ok {
		exec = r.ServiceExec
	}
	var units []string
	checks := o.checks
	cloned := false
	for i, c := range checks {
		if c.Unit == "" || c.Netns == "unit" {
			continue
		}
		implicit := o.implicit[c.Name]
		if !implicit && len(c.Ports) > 0 {
			continue // the exporter's configuration says: it wins
		}
		u, ok := o.units.Unit(c.Unit)
		if !ok || !u.Loaded() {
			continue
		}
		exp, ok := e.daemons.Expect(ctx, daemonUnitState(u), exec, !implicit)
		if !ok {
			continue
		}
		view := e.daemonViews.of(exp.Daemon, exp.Gen, exp.Listens)
		if exp.NotApplied && o.listeners != nil && listensOnAll(view.ports, o.listeners.Listeners) {
			// It listens where the new configuration says: it applied it,
			// whatever systemd's timestamps say (a kill -HUP reload
			// changes none; a reload that ends between this
			// evaluation's unit read and its listener read is seen by
			// the second only). The reader keeps it as the one applied.
			e.daemons.MarkApplied(c.Unit, exp.Gen)
			exp.NotApplied, exp.Applied, exp.AppliedKnown = false, nil, false
		}
		units = append(units, c.Unit)
		if o.daemonConfigs == nil {
			o.daemonConfigs = map[string]verdict.DaemonConfig{}
		}
		o.daemonConfigs[c.Name] = judgedDaemonConfig(exp, view)
		if exp.Err != nil || exp.NotApplied && !exp.AppliedKnown {
			continue
		}
		ports := view.ports
		if exp.Settling {
			// Just applied, moving its sockets: the new ones are expected
			// once it had the settle window to bind them.
			ports = portsOf(exp.Daemon, daemonconf.Settled(exp.Listens, exp.Previous))
		}
		if exp.NotApplied {
			// The daemon runs on what it read before the edit: that is
			// what it must hold until it applies the new one (no page for
			// an edit not applied yet); not known, its ports are learned.
			ports = e.daemonViews.of(exp.Daemon, exp.AppliedGen, exp.Applied).ports
		}
		if !cloned {
			checks, cloned = slices.Clone(checks), true
		}
		checks[i].Ports = ports
	}
	o.checks = checks
	slices.Sort(units)
	e.daemonUnits.Store(&units)
}

// daemonChecks are the implicit checks of the loaded units that run a
// known daemon and are up, starting or failed — or were, while loaded
// since: a daemon stopped is service_down, not gone — that no check
// covers yet and discovery does not exclude.
func (e *Exporter) daemonChecks(o *observation) []config.Check {
	covered := map[string]bool{}
	for _, c := range o.checks {
		covered[c.Unit], covered[c.Name] = true, true
	}
	e.daemonSeen.mu.Lock()
	defer e.daemonSeen.mu.Unlock()
	seen := make(map[string]bool, len(e.daemonSeen.units))
	var out []config.Check
	for _, name := range e.daemonUnitNames(o.units) {
		u, ok := o.units.Unit(name)
		if !ok || !u.Loaded() || o.cfg.Discovery.ExcludesUnit(name) {
			continue
		}
		if !(u.Up() || u.Failed() || u.Activating() || e.daemonSeen.units[name]) || len(seen) >= maxDaemonChecks {
			continue
		}
		seen[name] = true
		if !covered[name] {
			out = append(out, config.Check{Name: name, Unit: name})
		}
	}
	// The units no longer loaded (their package removed) are forgotten.
	e.daemonSeen.units = seen
	return out
}

// daemonSeen are the daemon units zero-config made checks of, and still
// loaded: they stay checks when stopped.
type daemonSeen struct {
	mu    sync.Mutex
	units map[string]bool
}

// maxDaemonChecks caps the daemon checks zero-config makes: a host runs a
// handful of these daemons (a memcached or PostgreSQL instance per
// service at most, dozens).
const maxDaemonChecks = 256

// daemonUnitNames are the units of the snapshot whose names are a known
// daemon's, kept per listing: matching ~300 names against the daemons'
// patterns costs ~150 µs, and the listing changes only when units are
// loaded or unloaded.
func (e *Exporter) daemonUnitNames(units *systemd.Snapshot) []string {
	names := units.Names()
	if c := e.daemonNames.Load(); c != nil && len(c.of) == len(names) && (len(names) == 0 || &c.of[0] == &names[0]) {
		return c.names
	}
	var out []string
	for _, n := range names {
		if daemonconf.ByUnit(n, nil) != nil {
			out = append(out, n)
		}
	}
	e.daemonNames.Store(&daemonNamesCache{of: names, names: out})
	return out
}

type daemonNamesCache struct {
	of    []string // the listing they were found in
	names []string
}

// daemonUnitState is what the configuration reader needs of a unit.
func daemonUnitState(u systemd.Unit) daemonconf.UnitState {
	s := daemonconf.UnitState{Name: u.Name, Started: u.ActiveEnterTimestamp, MainPID: u.MainPID, Up: u.Up()}
	if u.ActiveEnterTimestamp != 0 {
		s.StartedAt = time.UnixMicro(int64(u.ActiveEnterTimestamp))
	}
	if u.StateChangeTimestamp != 0 {
		// Only when the last state change is known (the unit is read by
		// name): a reload changes no ActiveEnterTimestamp, and a daemon
		// reloaded after its configuration changed would be said not to
		// have applied it.
		s.Applied = time.UnixMicro(int64(max(u.StateChangeTimestamp, u.ActiveEnterTimestamp)))
	}
	return s
}

// maxDaemonText bounds a path or an error of a daemon's configuration in
// /checks and the reasons (a path is at most 4096 bytes; Debian's longest
// here, /etc/postgresql/15/main/postgresql.conf, is 37).
const maxDaemonText = 512

// portsOf are an expectation's sockets as a check's ports.
func portsOf(daemon string, ls []daemonconf.Listen) []config.Port {
	ports := make([]config.Port, 0, len(ls))
	for _, l := range ls {
		ports = append(ports, config.Port{Proto: l.Proto, Address: l.Address, Port: l.Port, Source: daemon + ": " + hosttext.Clean(l.Where(), maxDaemonText)})
	}
	return ports
}

// judgedDaemonConfig is an expectation in the judge's words, view its
// sockets' wording.
func judgedDaemonConfig(exp daemonconf.Expectation, view *daemonView) verdict.DaemonConfig {
	dc := verdict.DaemonConfig{Daemon: exp.Daemon, File: hosttext.Clean(exp.File, maxDaemonText), NotApplied: exp.NotApplied}
	if exp.Err != nil {
		dc.Error = hosttext.Clean(exp.Err.Error(), maxDaemonText)
		return dc
	}
	if !exp.Changed.IsZero() {
		dc.Changed = exp.Changed.UTC().Format(time.RFC3339)
	}
	dc.Configured = view.configured
	return dc
}

// daemonViews keeps, per read of a configuration (Expectation.Gen), the
// check's ports and their wording derived from it: building them at each
// evaluation was 60% of this step's cost (~100 µs at 20 daemons; ~35 µs
// with them kept, BenchmarkDaemonConfigs).
type daemonViews struct {
	mu    sync.Mutex
	views map[uint64]*daemonView
}

type daemonView struct {
	ports      []config.Port
	configured []string // "tcp 0.0.0.0:80 (nginx: FILE:LINE)"
}

// maxDaemonViews caps the reads kept: a read is replaced at each change of
// its files, so the cap is reached only by edits, and then all are
// dropped and rebuilt.
const maxDaemonViews = 1024

func (d *daemonViews) of(daemon string, gen uint64, ls []daemonconf.Listen) *daemonView {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.views[gen]; ok {
		return v
	}
	if d.views == nil || len(d.views) >= maxDaemonViews {
		d.views = map[uint64]*daemonView{}
	}
	v := &daemonView{ports: portsOf(daemon, ls)}
	for _, p := range v.ports {
		v.configured = append(v.configured, verdict.PortVerdict{Proto: p.Proto, Address: p.Address, Port: p.Port}.String()+" ("+p.Source+")")
	}
	d.views[gen] = v
	return v
}

// listensOnAll reports whether every one of ports (there is at least one)
// has a listener in ls.
func listensOnAll(ports []config.Port, ls []listeners.Listener) bool {
	if len(ports) == 0 {
		return false
	}
	for _, p := range ports {
		if !slices.ContainsFunc(ls, func(l listeners.Listener) bool { return verdict.PortMatches(p, judgedListener(l)) }) {
			return false
		}
	}
	return true
}

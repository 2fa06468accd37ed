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
	"time"

	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// judgeInput gives the judge what o read, in the judge's own types: the
// readers' words (systemd's states, the kernel's sockets, the probes'
// errors) become the facts the verdicts are made of here, once, so the
// judge depends on data and not on the readers.
func (o *observation) judgeInput() *verdict.Input {
	in := &verdict.Input{KnownUnits: o.knownUnits, ProbesRead: o.probes.read, ProbeAges: o.probes.ages, DaemonConfigs: o.daemonConfigs}
	if o.units != nil {
		in.Units = unitView{o.units}
	}
	if o.listeners != nil {
		in.Host = judgedNamespace(o.listeners.Listeners, o.owners)
	}
	for unit, ns := range o.unitNamespaces {
		if in.UnitNamespaces == nil {
			in.UnitNamespaces = make(map[string]*verdict.Namespace, len(o.unitNamespaces))
		}
		in.UnitNamespaces[unit] = judgedNamespace(ns.listeners, ns.owners)
	}
	for inode, s := range o.strangers {
		if in.Strangers == nil {
			in.Strangers = make(map[uint64]verdict.Stranger, len(o.strangers))
		}
		in.Strangers[inode] = verdict.Stranger{User: s.User, Cgroup: s.Cgroup, Process: s.Process.Comm, PID: s.Process.PID}
	}
	for _, c := range o.checks {
		if c.Container == "" {
			continue
		}
		if ct := judgedContainer(c, o.containers, o.containerNamespaces); ct != nil {
			if in.Containers == nil {
				in.Containers = map[string]*verdict.Container{}
			}
			in.Containers[c.Name] = ct
		}
	}
	in.Probes = make([]verdict.ProbeResult, 0, len(o.probes.results))
	for _, r := range o.probes.results {
		in.Probes = append(in.Probes, judgedProbe(r))
	}
	return in
}

// judgedListener is a listener in the judge's words.
func judgedListener(l listeners.Listener) verdict.Listener {
	return verdict.Listener{Proto: l.Proto, Addr: l.Addr, Port: l.Port, V6Only: l.V6Only, UID: l.UID, Inode: l.Inode}
}

func judgedNamespace(ls []listeners.Listener, owners []owner.Owner) *verdict.Namespace {
	jl := make([]verdict.Listener, len(ls))
	for i, l := range ls {
		jl[i] = judgedListener(l)
	}
	jo := make([]verdict.Owner, len(owners))
	for i, ow := range owners {
		jo[i] = verdict.Owner{Unit: ow.Unit, Foreign: ow.Foreign}
	}
	return verdict.NewNamespace(jl, jo)
}

func judgedProbe(r probe.Result) verdict.ProbeResult {
	p := verdict.ProbeResult{Check: r.Check, Target: r.Target, Success: r.Success, Reason: string(r.Reason),
		Duration: r.Duration, CutShort: r.CutShort}
	if !r.Success {
		p.Diagnosis = r.Diagnosis()
	}
	if r.Err != nil {
		p.Error = r.Err.Error()
	}
	return p
}

// unitView is the judge's view of a units snapshot.
type unitView struct{ units *systemd.Snapshot }

func (v unitView) Unit(name string) (verdict.Unit, bool) {
	u, ok := v.units.Unit(name)
	if !ok {
		return verdict.Unit{}, false
	}
	return judgedUnit(u), true
}

func (v unitView) Activators(service string) []verdict.Unit {
	var out []verdict.Unit
	for _, u := range v.units.Activators(service) {
		out = append(out, judgedUnit(u))
	}
	return out
}

func (v unitView) Triggers(socket string) []string { return v.units.Triggers(socket) }

func (v unitView) Failed() ([]verdict.Unit, int) {
	failed, more := v.units.Failed()
	out := make([]verdict.Unit, len(failed))
	for i, u := range failed {
		out[i] = judgedUnit(u)
	}
	return out, more
}

// judgedUnit is what the judge needs of u: systemd's words, and the facts
// the systemd package reads in them.
func judgedUnit(u systemd.Unit) verdict.Unit {
	j := verdict.Unit{
		Name: u.Name, LoadState: u.LoadState, ActiveState: u.ActiveState, SubState: u.SubState,
		Loaded: u.Loaded(), Up: u.Up(), Idle: u.Loaded() && u.Inactive(), Failed: u.Failed(),
		OneshotRunning:  u.OneshotRunning(),
		GaveUp:          u.HitStartLimit(),
		StartLimitBurst: u.StartLimitBurst, StartLimitIntervalUSec: u.StartLimitIntervalUSec,
		TriggeredBy: u.TriggeredBy,
	}
	if u.FailedResult() {
		j.Result = u.Result
	}
	if u.StateChangeTimestamp > 0 {
		j.Since = time.UnixMicro(int64(u.StateChangeTimestamp))
	}
	return j
}

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

package verdict

import (
	"slices"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// Snapshot is what one evaluation observed of the host. A layer that could
// not be read is nil (or false): the checks that need it are unknown.
type Snapshot struct {
	// Units is systemd's state; nil when it was not read.
	Units *systemd.Snapshot
	// Host is the exporter's network namespace; nil when its listeners
	// were not read.
	Host *Namespace
	// UnitNamespaces are the network namespaces of the units of the
	// netns: unit checks, by unit; a unit missing here could not be read
	// (a unit that is not running has an empty one).
	UnitNamespaces map[string]*Namespace
	// KnownUnits are the units whose cgroup the owner index holds: a
	// listener in a cgroup outside every known unit rules them out.
	KnownUnits map[string]bool
	// Processes are the holders of foreign listeners on the checks'
	// ports, by socket inode (see ForeignInodes).
	Processes map[uint64]owner.Process
	// Probes are the probes' results; ProbesRead is false when the probes
	// did not run.
	Probes     []probe.Result
	ProbesRead bool
}

// Namespace is the listeners of one network namespace and who holds them.
type Namespace struct {
	Listeners []listeners.Listener
	Owners    []owner.Owner // Owners[i] holds Listeners[i]
	index     listenerIndex
}

// NewNamespace indexes ls and their owners for the join.
func NewNamespace(ls []listeners.Listener, owners []owner.Owner) *Namespace {
	return &Namespace{Listeners: ls, Owners: owners, index: indexListeners(ls)}
}

// namespaceOf is the namespace check c looks in, or nil when it was not
// read.
func (s *Snapshot) namespaceOf(c config.Check) *Namespace {
	if c.Netns == "unit" {
		return s.UnitNamespaces[c.Unit]
	}
	return s.Host
}

// Evaluate judges every check against s; implicit names the checks
// discovery learned. The verdicts are in the checks' order.
func Evaluate(checks []config.Check, implicit map[string]bool, s *Snapshot) []Verdict {
	probes := map[string][]probe.Result{}
	for _, r := range s.Probes {
		probes[r.Check] = append(probes[r.Check], r)
	}
	triggers := Triggers(s.Units)
	verdicts := make([]Verdict, 0, len(checks))
	for _, c := range checks {
		verdicts = append(verdicts, judge(c, implicit[c.Name], s.layersOf(c, probes[c.Name], triggers)))
	}
	return verdicts
}

// layersOf gathers what the snapshot knows of one check's layers.
func (s *Snapshot) layersOf(c config.Check, probes []probe.Result, triggers func(string) []string) layers {
	l := layers{probes: probes, probesOK: s.ProbesRead}
	if c.Unit != "" && s.Units != nil {
		u, _ := s.Units.Unit(c.Unit)
		l.unit = &u
		l.sockets = s.Units.Activators(c.Unit)
		l.timer = timerOf(u, s.Units)
	}
	if len(c.Ports) == 0 {
		return l
	}
	ns := s.namespaceOf(c)
	if ns == nil {
		return l // the listeners could not be read: the ports are unknown
	}
	known := s.Units != nil && c.Unit != "" && s.KnownUnits[c.Unit]
	l.ports, l.portsOK = joinPorts(c, ns.Listeners, ns.index, ns.Owners, triggers, known), true
	l.portsSeen = seenListeners(c, ns.Listeners, ns.index, ns.Owners, s.Processes, triggers)
	if c.Unit != "" && slices.ContainsFunc(l.ports, func(r portResult) bool { return !r.listening }) {
		l.unitListens = listensOf(c.Unit, ns.Listeners, ns.Owners)
	}
	return l
}

// ForeignInodes are the socket inodes of the listeners on the checks'
// expected ports that are held outside every known unit: those whose
// process a verdict names, so the observer looks them up before judging.
func ForeignInodes(checks []config.Check, s *Snapshot) []uint64 {
	var out []uint64
	triggers := Triggers(s.Units)
	for _, c := range checks {
		ns := s.namespaceOf(c)
		if ns == nil {
			continue
		}
		for _, seen := range matching(c, ns, triggers) {
			for _, j := range seen {
				if j < len(ns.Owners) && ns.Owners[j].Unit == "" && ns.Owners[j].Foreign {
					out = append(out, ns.Listeners[j].Inode)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

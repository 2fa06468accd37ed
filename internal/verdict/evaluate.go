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
	"time"

	"github.com/warden-exporter/warden_exporter/config"
)

// Input is what one evaluation observed of the host, in the judge's types.
// A layer that could not be read is nil (or false): the checks that need
// it are unknown.
type Input struct {
	// Units is systemd's state; nil when it was not read.
	Units Units
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
	// Strangers say who holds the listeners on the checks' ports that no
	// unit is known to hold, by socket inode (see Unowned).
	Strangers map[uint64]Stranger
	// Probes are the probes' results; ProbesRead is false when the probes
	// did not run.
	Probes     []ProbeResult
	ProbesRead bool
	// ProbeAges are how old the results of the probes with an interval
	// were when read (their last background run); a result run for this
	// evaluation has none. Past StaleAfter, a result is stale: it says
	// nothing of the target now.
	ProbeAges map[ProbeRef]time.Duration
	// DaemonConfigs are the configurations of the checks' daemons, by
	// check name: a check of no known daemon has none.
	DaemonConfigs map[string]DaemonConfig
	// Containers are the checks' containers, by check name: a container
	// check missing here was not read (the layer off or failed).
	Containers map[string]*Container
}

// Namespace is the listeners of one network namespace and who holds them.
type Namespace struct {
	Listeners []Listener
	Owners    []Owner // Owners[i] holds Listeners[i]
	index     listenerIndex
}

// NewNamespace indexes ls and their owners for the join.
func NewNamespace(ls []Listener, owners []Owner) *Namespace {
	return &Namespace{Listeners: ls, Owners: owners, index: indexListeners(ls)}
}

// namespaceOf is the namespace check c looks in, or nil when it was not
// read.
func (s *Input) namespaceOf(c config.Check) *Namespace {
	if c.Netns == "unit" {
		return s.UnitNamespaces[c.Unit]
	}
	return s.Host
}

// Evaluate judges every check against s; implicit names the checks
// discovery learned. The verdicts are in the checks' order.
func Evaluate(checks []config.Check, implicit map[string]bool, s *Input) []Verdict {
	probes := map[string][]ProbeResult{}
	for _, r := range s.Probes {
		probes[r.Check] = append(probes[r.Check], r)
	}
	triggers := s.triggers()
	verdicts := make([]Verdict, 0, len(checks))
	for _, c := range checks {
		l := s.layersOf(c, probes[c.Name], triggers)
		if dc, ok := s.DaemonConfigs[c.Name]; ok {
			if dc.NotApplied && c.Unit != "" {
				// Where it listens now, beside what the file asks for:
				// already read when a port is down.
				dc.Listening = l.unitListens
				if ns := s.namespaceOf(c); len(dc.Listening) == 0 && ns != nil {
					dc.Listening = listensOf(c.Unit, ns.Listeners, ns.Owners)
				}
			}
			l.daemonConfig = &dc
		}
		verdicts = append(verdicts, judge(c, implicit[c.Name], l))
	}
	return verdicts
}

// layersOf gathers what the snapshot knows of one check's layers.
func (s *Input) layersOf(c config.Check, probes []ProbeResult, triggers func(string) []string) layers {
	l := layers{probes: probes, probesOK: s.ProbesRead}
	for _, p := range c.Probes {
		if age, ok := s.ProbeAges[ProbeRef{c.Name, p.Target}]; ok {
			if l.probeAges == nil {
				l.probeAges = map[string]time.Duration{}
			}
			l.probeAges[p.Target] = age
		}
	}
	if c.Unit != "" && s.Units != nil {
		u, ok := s.Units.Unit(c.Unit)
		if !ok {
			u = Unit{} // unknown to systemd: judged not found
		}
		l.unit = &u
		l.sockets = s.Units.Activators(c.Unit)
		l.timer = timerOf(u, s.Units)
	}
	if c.Container != "" {
		l.container, l.host, l.strangers = s.Containers[c.Name], s.Host, s.Strangers
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
	l.portsSeen = seenListeners(c, ns.Listeners, ns.index, ns.Owners, s.Strangers, triggers)
	if c.Unit != "" && slices.ContainsFunc(l.ports, func(r portResult) bool { return !r.listening }) {
		l.unitListens = listensOf(c.Unit, ns.Listeners, ns.Owners)
	}
	return l
}

// triggers returns Units.Triggers; without units, no socket is known to
// activate anything (nor is any listener's owner known).
func (s *Input) triggers() func(string) []string {
	if s.Units != nil {
		return s.Units.Triggers
	}
	return func(string) []string { return nil }
}

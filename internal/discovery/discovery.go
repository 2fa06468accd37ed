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

// Package discovery learns implicit checks: every loaded service unit that
// holds a listener (itself, or through the socket unit that activates it),
// or whose socket unit declares Listen= addresses, becomes a check named
// after the unit, expecting the ports it was seen with. What is learned is
// kept for the life of the process and, with a state file, across restarts:
// a port that disappears later is exactly what the check is for.
//
// It learns from what the readers read (a systemd snapshot, the host's
// listeners and their owners) and answers in config's terms (implicit
// checks); it knows nothing of how they are judged. Learning is in
// learn.go and follow.go, the state file (a file it must read as hostile
// input) in statefile.go and statewriter.go.
package discovery

import (
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// Options configures discovery.
type Options struct {
	// StateFile keeps what was learned across restarts; "" keeps it in
	// memory only.
	StateFile string
	// MinAge is how long a port must be seen before it is learned, so a
	// short-lived listener (a one-off tool, a test) is not.
	MinAge time.Duration
	// ForgetAfter is how long a unit may be gone (not loaded) before its
	// learned ports are forgotten.
	ForgetAfter time.Duration
	// RelearnAfter is how long a learned port may be missing, while its
	// unit has been active without a restart and listens on a port that
	// appeared since, before it is replaced by what the unit listens on now.
	RelearnAfter time.Duration
	// EphemeralPorts is the kernel's ephemeral port range (lo, hi),
	// net.ipv4.ip_local_port_range: listeners in it are not learned unless
	// the config's discovery.learn_ephemeral_ports says so. Zero: no range.
	EphemeralPorts [2]int
	Logger         log.Logger
	// Registerer, if set, gets the state file's metrics (its write
	// failures and last success); only with a StateFile.
	Registerer prometheus.Registerer
	// Now is time.Now outside tests.
	Now func() time.Time
}

// defaultRelearnAfter is --discovery.relearn-after's default.
const defaultRelearnAfter = time.Hour

// Discovery holds what was learned; its methods are safe for concurrent
// use.
type Discovery struct {
	opts   Options
	mu     sync.Mutex
	st     discoveryState
	full   bool // a cap kept Learn from learning, and that was logged
	writer *stateWriter
	// started is when the state file was read: a unit's not-found grace
	// counts from then at the earliest, as the file's last_loaded may be
	// up to refreshEvery old.
	started time.Time
	// saved is when the state was last handed to the writer: the file's
	// last_loaded of the loaded units is refreshed every refreshEvery.
	saved time.Time
}

// New returns discovery holding what the state file (if any) keeps.
func New(opts Options) *Discovery {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ForgetAfter <= 0 {
		opts.ForgetAfter = 24 * time.Hour
	}
	if opts.RelearnAfter <= 0 {
		opts.RelearnAfter = defaultRelearnAfter
	}
	d := &Discovery{opts: opts, st: discoveryState{Version: discoveryStateVersion, Units: map[string]*learnedUnit{}},
		writer: newStateWriter(opts.StateFile, opts.Logger, opts.Registerer), started: opts.Now()}
	d.load()
	return d
}

// Learn learns from one evaluation's reads: units, and the host's
// listeners ls with their owners (owners[i] holds ls[i]). It returns the
// implicit checks: one per service unit with learned ports, except units
// (and names) the configured checks already cover. With units nil nothing
// is learned; an evaluation that read no listeners (the layer off or
// failed) calls Current instead, as learning from half a view would let
// candidates expire that are still held. The state file is written off
// this path (see saveLocked).
func (d *Discovery) Learn(cfg *config.Config, units *systemd.Snapshot, ls []listeners.Listener, owners []owner.Owner) []config.Check {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.opts.Now()
	ports := d.dropNils()
	if units != nil {
		seen, declared := d.listening(cfg, units, ls, owners)
		changed := d.record(seen, declared, units, ports, now)
		if d.expire(units, now) || changed {
			d.saveLocked()
		}
	}
	return d.checks(cfg)
}

// Current returns the implicit checks as discovery holds them now,
// learning nothing.
func (d *Discovery) Current(cfg *config.Config) []config.Check {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropNils()
	return d.checks(cfg)
}

// LearnedUnits returns the units discovery holds, sorted: the layers read
// them by name, as they read the configured checks' units.
func (d *Discovery) LearnedUnits() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Sorted(maps.Keys(d.st.Units))
}

// Close writes what was learned and is still to be written, once, and
// stops retrying a write that fails: on the way out, what cannot be
// written is lost (and was logged).
func (d *Discovery) Close() error { return d.writer.close() }

// checks are the implicit checks: one per unit with learned ports that no
// configured check covers (by unit or by name), in name order (d.mu held).
func (d *Discovery) checks(cfg *config.Config) []config.Check {
	configured := map[string]bool{}
	for _, c := range cfg.Checks {
		configured[c.Unit] = true
		configured[c.Name] = true
	}
	var out []config.Check
	for unit, lu := range d.st.Units {
		if configured[unit] {
			continue
		}
		c := config.Check{Name: unit, Unit: unit}
		for _, lp := range lu.Ports {
			if lp.Learned && !slices.Contains(lu.Varies, lp.Proto) {
				c.Ports = append(c.Ports, config.Port{Proto: lp.Proto, Address: lp.Address, Port: lp.Port, Source: config.SourceLearned})
			}
		}
		for _, proto := range lu.Varies {
			c.Ports = append(c.Ports, config.Port{Proto: proto, Port: config.AnyPort, Source: config.SourceLearned})
		}
		if len(c.Ports) == 0 {
			continue
		}
		sort.Slice(c.Ports, func(i, j int) bool { return portLess(c.Ports[i], c.Ports[j]) })
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func portLess(a, b config.Port) bool {
	if a.Port != b.Port {
		return a.Port < b.Port
	}
	if a.Proto != b.Proto {
		return a.Proto < b.Proto
	}
	return a.Address < b.Address
}

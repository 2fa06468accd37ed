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

package discovery

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/go-kit/log/level"

	"github.com/warden-exporter/warden_exporter/config"
)

// What discovery is doing, said: for the first --discovery.min-age (1m by
// default) a fresh host has no check, and an operator saw "no checks"
// with no hint and no log line. The landing page and /checks list the
// candidates, and the log says when a port is learned.

// Learning is what discovery is learning: the ports seen for less than
// --discovery.min-age, by unit.
type Learning struct {
	// Candidates counts the candidate ports of every unit, shown or not.
	Candidates int `json:"candidates"`
	// Units are the units with candidates, the soonest learned first, at
	// most maxLearningShown of them.
	Units []LearningUnit `json:"units"`
}

// LearningUnit is one unit's candidate ports.
type LearningUnit struct {
	Unit  string   `json:"unit"`
	Ports []string `json:"ports"` // "tcp 127.0.0.1:8080", at most maxLearningPortsShown
	// LearnedInSeconds is when the first of them is learned if the unit
	// still holds it then.
	LearnedInSeconds float64 `json:"learned_in_seconds"`
}

// The bounds of what Learning shows: a host starting 2,000 services at
// once would make /checks and the landing page megabytes of candidates.
const (
	maxLearningShown      = 50
	maxLearningPortsShown = 8
)

// Learning returns the candidates of the units no configured check
// covers, as of now.
func (d *Discovery) Learning(cfg *config.Config) Learning {
	d.mu.Lock()
	defer d.mu.Unlock()
	configured := map[string]bool{}
	for _, c := range cfg.Checks {
		configured[c.Unit] = true
		configured[c.Name] = true
	}
	now := d.opts.Now()
	out := Learning{Units: []LearningUnit{}}
	for unit, lu := range d.st.Units {
		if configured[unit] || lu == nil {
			continue
		}
		lun := LearningUnit{Unit: unit, LearnedInSeconds: -1}
		for _, lp := range lu.Ports {
			if lp == nil || lp.Learned || slices.Contains(lu.Varies, lp.Proto) {
				continue
			}
			out.Candidates++
			lun.Ports = append(lun.Ports, portText(lp))
			in := max(0, d.opts.MinAge-now.Sub(lp.FirstSeen)).Seconds()
			if lun.LearnedInSeconds < 0 || in < lun.LearnedInSeconds {
				lun.LearnedInSeconds = in
			}
		}
		if len(lun.Ports) == 0 {
			continue
		}
		slices.Sort(lun.Ports)
		lun.Ports = lun.Ports[:min(len(lun.Ports), maxLearningPortsShown)]
		out.Units = append(out.Units, lun)
	}
	slices.SortFunc(out.Units, func(a, b LearningUnit) int {
		return cmp.Or(cmp.Compare(a.LearnedInSeconds, b.LearnedInSeconds), cmp.Compare(a.Unit, b.Unit))
	})
	out.Units = out.Units[:min(len(out.Units), maxLearningShown)]
	return out
}

func portText(lp *learnedPort) string {
	addr := lp.Address
	if addr == "" {
		addr = "*"
	}
	return lp.Proto + " " + net.JoinHostPort(addr, strconv.Itoa(lp.Port))
}

// logLearned says that a port was learned: the unit is a check from now
// on, or expects one more port. Not for the ports of a proto that varies
// (a new one at each start, learned to no effect).
func (d *Discovery) logLearned(unit string, lu *learnedUnit, lp *learnedPort, declared bool, now time.Time) {
	if slices.Contains(lu.Varies, lp.Proto) {
		return
	}
	why := "held for --discovery.min-age (" + now.Sub(lp.FirstSeen).Round(time.Second).String() + ")"
	if declared {
		why = "declared by its socket unit"
	}
	level.Info(d.opts.Logger).Log("msg", "discovery learned a port: the unit's check expects it from now on", "unit", unit, "port", portText(lp), "why", why)
}

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
	"sync"
	"time"

	"github.com/go-kit/log/level"

	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// checkHistory is what every evaluation (scrapes and the watch's, between
// them) said of each check: the counters that show what happened between
// two scrapes. It holds the checks of the last evaluation that judged them
// all, so its size is the checks'.
type checkHistory struct {
	mu     sync.Mutex
	checks map[string]*checkRecord
}

type checkRecord struct {
	status     verdict.Status
	known      verdict.Status // the last status other than unknown ("" before one)
	at         time.Time      // of the evaluation that last judged the check
	changes    map[verdict.Status]uint64
	down       time.Duration // time spent not ok, between evaluations
	lastChange time.Time
}

// observe applies one evaluation's verdicts, taken at at. An evaluation
// that started before the one the check last saw (overlapping scrapes) is
// older news and ignored for that check. A scrape's verdicts are every
// check: the checks missing from them are dropped.
//
// It returns the verdicts of the checks whose status changed, for the log:
// the full reason (PIDs, times, what the peer sent) is there and on
// /checks, while the reason label says only the diagnosis.
func (h *checkHistory) record(at time.Time, verdicts []verdict.Verdict, from evaluationKind) (changed []statusChange) {
	complete := from != byWatch
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.checks == nil {
		h.checks = map[string]*checkRecord{}
	}
	var seen map[string]bool
	if complete {
		seen = make(map[string]bool, len(verdicts))
	}
	for _, v := range verdicts {
		if seen != nil {
			seen[v.Check] = true
		}
		if v.FailedOnlyByCutShortProbes() || from == byHurriedScrape && v.Status == verdict.Unknown {
			// Not news of the check: a request's deadline cut its probe
			// before its timeout, or ended a layer's read, in an
			// evaluation given less time than it needs (the requester sees
			// that; the counters, which every requester shares, do not).
			continue
		}
		r := h.checks[v.Check]
		if r == nil {
			// First judged: no change yet. Every counter starts at 0, so
			// increase() neither misses the first change nor extrapolates
			// a start that was not one.
			r = &checkRecord{status: v.Status, at: at, changes: map[verdict.Status]uint64{}, lastChange: at}
			if v.Status != verdict.OK {
				changed = append(changed, statusChange{to: v}) // logged as from ""
			}
			if v.Status != verdict.Unknown {
				r.known = v.Status
			}
			h.checks[v.Check] = r
			continue
		}
		if !at.After(r.at) {
			continue
		}
		// Not ok from the last evaluation to this one: the time between
		// two evaluations is the resolution (the watch's interval).
		if r.status != verdict.OK {
			r.down += at.Sub(r.at)
		}
		if v.Status != r.status {
			// unknown is the exporter not knowing, not the check changing:
			// a check that comes back from it in the status it had before
			// did not enter that status again.
			if r.status != verdict.Unknown || v.Status != r.known {
				r.changes[v.Status]++
			}
			changed = append(changed, statusChange{from: r.status, to: v})
			r.status, r.lastChange = v.Status, at
			if v.Status != verdict.Unknown {
				r.known = v.Status
			}
		}
		r.at = at
	}
	if complete {
		h.dropExcept(seen)
	}
	return changed
}

// evaluationKind is what made the verdicts the history observes.
type evaluationKind int

const (
	// byWatch: the watch between scrapes, which judges some checks only.
	byWatch evaluationKind = iota
	// byScrape: an evaluation (a scrape, /checks) of every check, given
	// the time it needs (Exporter.evaluationNeeds).
	byScrape
	// byHurriedScrape: one whose request allowed it less: a layer it gave
	// up on is the request's deadline, not the host.
	byHurriedScrape
)

// statusChange is a check that left status from for its verdict to.
type statusChange struct {
	from verdict.Status
	to   verdict.Verdict
}

// logStatusChanges logs each change of a check's status with its full
// reason, once per change (a check's status changes, not every scrape).
func (e *Exporter) logStatusChanges(changes []statusChange) {
	for _, c := range changes {
		level.Info(e.logger).Log("msg", "check status changed", "check", c.to.Check, "from", c.from, "to", c.to.Status, "reason", c.to.Reason)
	}
}

// keep drops the checks not in names: a reload removed them. A scrape
// drops them too (its verdicts are every check), but the watch judges
// between scrapes and never did: 200 reloads of new check names without a
// scrape took the exporter from 21 to 47 MB of RSS.
func (h *checkHistory) keep(names map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropExcept(names)
}

// dropExcept drops the checks not in names. h.mu is held.
func (h *checkHistory) dropExcept(names map[string]bool) {
	for name := range h.checks {
		if !names[name] {
			delete(h.checks, name)
		}
	}
}

// size is the number of checks the history holds.
func (h *checkHistory) size() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.checks)
}

// checkCounters are one check's counters, as emitted.
type checkCounters struct {
	changes    map[verdict.Status]uint64
	down       time.Duration
	lastChange time.Time
}

// of returns a copy of the check's counters, and whether it has any.
func (h *checkHistory) of(check string) (checkCounters, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.checks[check]
	if r == nil {
		return checkCounters{}, false
	}
	changes := make(map[verdict.Status]uint64, len(r.changes))
	for k, v := range r.changes {
		changes[k] = v
	}
	return checkCounters{changes: changes, down: r.down, lastChange: r.lastChange}, true
}

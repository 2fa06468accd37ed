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

package containers

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-kit/log/level"
)

// An event changes the cache at once with what it says (a die's exit code,
// a start, an OOM kill, docker's new health status; a change of state is
// published at once), and its container is read again once its burst has
// passed, at most once per inspectEvery: an inspect per event cost 1.5 ms
// of CPU per restart (three events, three inspects, three snapshots: 7-8 %
// of a core for 50 containers restarting each second, measured by
// bench/containers.sh), its JSON the most of it.
const (
	// inspectSettle is how long after a container's first event of a
	// burst it is read again: docker's die, start (and restart) of one
	// restart arrive within ~0.3 s.
	inspectSettle = 200 * time.Millisecond
	// inspectEvery bounds the inspects of one container: two in any
	// inspectEvery (a create then its start are both read at once), so
	// one restarting every second is read twice every 30 s, its counts
	// and state kept from its events meanwhile (the restart count from
	// the inspects' increases).
	inspectEvery = 30 * time.Second
	// flushTick is how often the queue is looked at and a changed cache
	// published: Changes fires at most ten times a second per engine.
	flushTick = 250 * time.Millisecond
)

// inspectQueue is the containers to read again, when.
type inspectQueue struct {
	mu  sync.Mutex
	due map[string]time.Time // by ID
	// last are when each was last read and the time before, by ID.
	last map[string][2]time.Time
	// now wakes the flush for a container to read at once (a new one:
	// until it is read, its published ports are nobody's, and discovery
	// would learn them as its unit's).
	now chan struct{}
}

// add queues container id: at once when immediately (a container the
// cache does not hold), else after the burst, and no sooner than
// inspectEvery after its last read but one. A container already queued
// keeps its time: a crash loop's events never push its read away.
func (q *inspectQueue) add(id string, immediately bool, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, queued := q.due[id]; queued && !immediately {
		return
	}
	at := now
	if !immediately {
		at = now.Add(inspectSettle)
		if next := q.last[id][1].Add(inspectEvery); next.After(at) {
			at = next
		}
	}
	q.due[id] = at
	if immediately {
		select {
		case q.now <- struct{}{}:
		default:
		}
	}
}

// take returns the containers due at now, and records them read.
func (q *inspectQueue) take(now time.Time) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for id, at := range q.due {
		if !at.After(now) {
			out = append(out, id)
			delete(q.due, id)
			if q.last == nil {
				q.last = map[string][2]time.Time{}
			}
			q.last[id] = [2]time.Time{now, q.last[id][0]}
		}
	}
	// Forget the reads old enough to no longer delay one: the map stays
	// as large as the containers events touched within inspectEvery.
	for id, at := range q.last {
		if now.Sub(at[0]) > inspectEvery {
			delete(q.last, id)
		}
	}
	return out
}

// flush reads again the containers due, every flushTick, and publishes
// what the events and the reads changed: one snapshot per tick however
// many events it held.
func (s *session) flush(ctx context.Context) {
	tick := time.NewTicker(flushTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.inspects.now:
			s.flushDue(ctx, time.Now())
		case now := <-tick.C:
			s.flushDue(ctx, now)
		}
	}
}

// flushDue reads the containers due at now and publishes the changes; a
// read older than an event of its container is made again at once.
func (s *session) flushDue(ctx context.Context, now time.Time) {
	var reads []read
	for _, id := range s.inspects.take(now) {
		taken := s.w.eventCount(s.i, id)
		c, err := s.c.Inspect(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			s.w.remove(s.i, id)
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			level.Debug(s.w.opts.Logger).Log("msg", "re-reading a container after its events failed", "id", id, "err", err)
			s.inspects.add(id, false, now)
		default:
			reads = append(reads, read{c, taken})
		}
	}
	for _, id := range s.w.refresh(s.i, reads) {
		s.inspects.add(id, true, now)
	}
}

// read is a container as an inspect returned it, and how many of its
// events the cache had applied when the inspect started.
type read struct {
	c      Container
	events uint64
}

// eventCount is how many events of container id engine i's cache applied.
func (w *Watcher) eventCount(i int, id string) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.engines[i].events[id]
}

// onEvent applies what ev says of its container, and counts it; known
// says the cache holds the container (else it is read at once).
func (w *Watcher) onEvent(i int, ev Event) (known bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.engines[i]
	c, known := e.containers[ev.ID]
	name := cmp.Or(c.Name, ev.Name)
	if name == "" {
		return known // nothing to count it under: its read will say
	}
	if !known && len(e.containers) >= w.opts.MaxContainers {
		return true // beyond the cap: the next list counts it in Dropped
	}
	if e.events == nil {
		e.events = map[string]uint64{}
	}
	e.events[ev.ID]++
	k := Key{e.ep.Engine, name}
	n := w.counts[k]
	at := time.Unix(0, ev.TimeNano)
	switch ev.Action {
	case "start":
		n.Starts++
		// Its PID is the read's to say: the namespace is not read
		// meanwhile, rather than the last run's.
		// A new run: the last one's OOM kill is history (docker clears
		// it at a start too).
		c.State, c.StartedAt, c.Pid, c.OOMKilled = StateRunning, at, 0, false
		if e.ep.Engine == Docker && c.Health.Status != HealthNone && c.Health.Status != "" {
			// Docker marks a container unhealthy as it dies and starting
			// at its start, with no event: a crash loop's runs were
			// unhealthy here until the next read, up to 30 s on.
			c.Health.Status, c.Health.FailingStreak = HealthStarting, 0
		}
	case "oom":
		n.OOMKills++
		c.OOMKilled = true
	case "die":
		if ev.HasExitCode {
			n.Exits[ExitClass(ev.ExitCode)]++
			c.ExitCode = ev.ExitCode
		} else {
			if e.dies == nil {
				e.dies = map[string]uint64{}
			}
			e.dies[ev.ID]++
		}
		c.State, c.FinishedAt, c.Pid = StateExited, at, 0
		if restartsAfter(c.RestartPolicy, ev) {
			// What docker says until its restart (its backoff: 100 ms
			// doubling): a crash loop reads "restarting", as inspected.
			c.State = StateRestarting
		}
	case "stop":
		// Stopped by hand (docker stop), after its die: no restart
		// follows, whatever the policy.
		c.State = StateExited
	case "pause":
		c.State = StatePaused
	case "unpause":
		// Left to the read after the burst, an unpause that followed its
		// pause within the read's pace stayed paused up to 30 s.
		c.State = StateRunning
	case "health_status":
		// Docker's names the new status (sent on a change); podman
		// 4.3's names the one before the check: only its read says.
		if ev.Health != "" && e.ep.Engine == Docker {
			if ev.Health == HealthUnhealthy && c.Health.Status != HealthUnhealthy {
				n.Unhealthy++
			}
			c.Health.Status = ev.Health
		}
	}
	w.counts[k] = n
	if !known {
		return false
	}
	old := e.containers[ev.ID]
	e.containers[ev.ID] = c
	w.dirty = true
	if old.State == StateRunning && c.State != StateRunning || old.Health.Status != c.Health.Status {
		// An outage at once, not at the next tick: the watch judges each
		// state a container passes through, and docker restarts a
		// crashed one 100 ms after its die (a tick could hold both). Its
		// end waits for the tick: the watch counts it up to 250 ms long.
		w.publishLocked()
	}
	return true
}

// refresh stores the containers read again after their events, counting
// the die events that carried no exit code by the exit code read, and
// publishes once if anything changed. It returns the containers whose read
// is older than one of their events, not applied: an inspect taken while
// the container ran, answering after its oom event, undid the OOM kill,
// and its die then said "exited 137" alone (the next read may be 30 s
// away).
func (w *Watcher) refresh(i int, reads []read) (again []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.engines[i]
	for _, r := range reads {
		c := r.c
		if _, ok := e.containers[c.ID]; !ok && len(e.containers) >= w.opts.MaxContainers {
			continue
		}
		_, gone := e.destroyed[c.ID]
		if !gone && e.events[c.ID] != r.events {
			again = append(again, c.ID)
			continue
		}
		// A read answered after the container's destroy is not applied
		// (it would stay, removing, until the next resync); its exit
		// code still counts its die.
		if !gone {
			w.applyLocked(e, c, false)
		}
		if d := e.dies[c.ID]; d > 0 {
			k := Key{e.ep.Engine, c.Name}
			n := w.counts[k]
			n.Exits[ExitClass(c.ExitCode)] += d
			w.counts[k] = n
			delete(e.dies, c.ID)
		}
		w.dirty = true
	}
	if len(reads) > 0 {
		e.info.Synced = time.Now()
	}
	if w.dirty {
		w.publishLocked()
	}
	return again
}

// restartsAfter says the engine restarts a container of restart policy
// policy after the die event ev: always and unless-stopped do, on-failure
// after a failure (docker's and podman's policies).
func restartsAfter(policy string, ev Event) bool {
	switch policy {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return ev.HasExitCode && ev.ExitCode != 0
	}
	return false
}

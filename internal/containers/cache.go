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
	"maps"
	"slices"
	"time"

	"github.com/go-kit/log/level"
)

// The cache's changes, each under w.mu and followed by a new snapshot.

func (w *Watcher) setEngine(i int, f func(*engineState)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(w.engines[i])
	w.publishLocked()
}

// markTried records engine i's first attempt for WaitSynced.
func (w *Watcher) markTried(i int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.engines[i]; !e.tried {
		e.tried = true
		if w.pending--; w.pending == 0 {
			close(w.tried)
		}
	}
}

// capped records how many containers engine i had beyond MaxContainers,
// logged once per engine.
func (w *Watcher) capped(i, dropped int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.engines[i]
	e.info.Dropped = dropped
	if dropped > 0 && !e.loggedCap {
		e.loggedCap = true
		level.Warn(w.opts.Logger).Log("msg", "more containers than kept: the rest are not watched",
			"engine", e.ep.Engine, "max", w.opts.MaxContainers, "dropped", dropped)
	}
}

// replace makes live engine i's containers after a full list.
func (w *Watcher) replace(i int, live []Container) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.engines[i]
	seen := make(map[string]bool, len(live))
	for _, c := range live {
		if _, gone := e.destroyed[c.ID]; gone {
			continue // listed before its destroy
		}
		seen[c.ID] = true
		w.applyLocked(e, c, !e.baselined)
	}
	e.baselined, e.gone = true, nil
	for id := range e.containers {
		if !seen[id] {
			w.removeLocked(e, id)
		}
	}
	// The events of containers the list does not have (gone, or beyond
	// the cap) are no longer counted: a read of one is then read again.
	maps.DeleteFunc(e.events, func(id string, _ uint64) bool { return !seen[id] })
	e.info.Synced, e.info.Err = time.Now(), nil
	w.publishLocked()
}

// applyLocked stores c, counting the restarts and turns to unhealthy seen
// since its last inspect (none at the engine's first sync: a baseline).
func (w *Watcher) applyLocked(e *engineState, c Container, baseline bool) {
	old, had := e.containers[c.ID]
	if !had {
		old, had = e.gone[c.ID]
	}
	if had && old.Name != c.Name { // renamed: its counts follow it
		w.counts[Key{e.ep.Engine, c.Name}] = w.counts[Key{e.ep.Engine, old.Name}]
		delete(w.counts, Key{e.ep.Engine, old.Name})
	}
	if cur, held := e.containers[c.ID]; !held || cur.Name != c.Name {
		e.order = nil // a container more, or renamed
	}
	if had && old.OOMKilled && !c.OOMKilled && !c.Running() && !baseline {
		// The engine's oom event said this run was OOM killed; its
		// inspect may not (docker 20.10 sets State.OOMKilled from the
		// exit's own report, which on cgroup v1 under load can miss the
		// OOM its event gave: the alert e2e's page said "exited 137"
		// without "OOM killed" once in CI). Kept until the next start.
		c.OOMKilled = true
	}
	e.containers[c.ID] = c
	k := Key{e.ep.Engine, c.Name}
	n := w.counts[k]
	if !baseline {
		if c.RestartCount > old.RestartCount {
			n.Restarts += uint64(c.RestartCount - old.RestartCount)
		}
		if c.Health.Status == HealthUnhealthy && old.Health.Status != HealthUnhealthy {
			n.Unhealthy++
		}
	}
	w.counts[k] = n
}

// destroyedKept is how long a removed container's ID is remembered: a
// read or a list in flight when it was removed answers within it (every
// call 5 s; a resync's inspects, 4 at a time, seconds).
const destroyedKept = time.Minute

// remove drops container id of engine i, removed from the engine.
func (w *Watcher) remove(i int, id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.engines[i]
	now := time.Now()
	for gone, at := range e.destroyed {
		if now.Sub(at) > destroyedKept {
			delete(e.destroyed, gone)
		}
	}
	if e.destroyed == nil {
		e.destroyed = map[string]time.Time{}
	}
	e.destroyed[id] = now
	if _, ok := e.containers[id]; ok {
		w.removeLocked(e, id)
		w.publishLocked()
	}
}

// dropAll drops every container of engine i (its engine is gone),
// remembering them until the next sync.
func (w *Watcher) dropAll(i int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.engines[i]
	if len(e.containers) == 0 {
		return
	}
	if e.gone == nil {
		e.gone = map[string]Container{}
	}
	for id, c := range e.containers {
		e.gone[id] = c
		w.removeLocked(e, id)
	}
	w.publishLocked()
}

// removeLocked drops a container, keeping its counts (a container
// recreated under its name continues them) for the MaxContainers most
// recently removed.
func (w *Watcher) removeLocked(e *engineState, id string) {
	k := Key{e.ep.Engine, e.containers[id].Name}
	delete(e.containers, id)
	delete(e.events, id)
	e.order = nil
	w.removed = append(w.removed, k)
	for len(w.removed) > w.opts.MaxContainers {
		old := w.removed[0]
		w.removed = w.removed[1:]
		if !w.liveLocked(old) && !slices.Contains(w.removed, old) {
			delete(w.counts, old)
		}
	}
}

func (w *Watcher) liveLocked(k Key) bool {
	for _, e := range w.engines {
		if e.ep.Engine != k.Engine {
			continue
		}
		for _, c := range e.containers {
			if c.Name == k.Name {
				return true
			}
		}
	}
	return false
}

// publishLocked makes a new snapshot and signals Changes.
func (w *Watcher) publishLocked() {
	n := 0
	for _, e := range w.engines {
		n += len(e.containers)
	}
	s := &Snapshot{Counts: maps.Clone(w.counts), Engines: make([]Engine, 0, len(w.engines)), Containers: make([]Container, 0, n)}
	// By engine, then name: each engine's order kept until its set of
	// containers changes (sorting the 400-byte structs each time was a
	// third of a publish, which an outage makes at once).
	engines := slices.Clone(w.engines)
	slices.SortStableFunc(engines, func(a, b *engineState) int { return cmp.Compare(a.ep.Engine, b.ep.Engine) })
	for _, e := range w.engines {
		s.Engines = append(s.Engines, e.info)
	}
	for _, e := range engines {
		if e.order == nil {
			e.order = slices.Collect(maps.Keys(e.containers))
			slices.SortFunc(e.order, func(a, b string) int {
				return cmp.Or(cmp.Compare(e.containers[a].Name, e.containers[b].Name), cmp.Compare(a, b))
			})
		}
		for _, id := range e.order {
			// Ports are shared, not copied: a decode makes a new slice,
			// and nothing writes to one after.
			s.Containers = append(s.Containers, e.containers[id])
		}
	}
	w.snap.Store(s)
	w.dirty = false
	select {
	case w.changes <- struct{}{}:
	default:
	}
}

// running are engine i's running containers.
func (w *Watcher) running(i int) []Container {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Container
	for _, c := range w.engines[i].containers {
		if c.Running() {
			out = append(out, c)
		}
	}
	return out
}

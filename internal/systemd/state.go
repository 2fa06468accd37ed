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

package systemd

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
)

type unitEntry struct {
	Unit
	stateSeq   uint64 // signal sequence that last set state fields
	serviceSeq uint64 // signal sequence that last set service fields
	fetch      fetchState
	// The signal sequences under which this unit's pending fetches are
	// counted in unitCache.outstanding: the queued or running one, and the
	// one wanted after it.
	countedSeq uint64
	againSeq   uint64
	// track follows the unit through its signals, to count its failures.
	track failureTrack
}

// noteSignalled follows e's failure track to the state a Unit signal just
// set.
func (e *unitEntry) noteSignalled() {
	failure, gaveUp := e.track.step(e.ActiveState, e.SubState, e.GaveUp)
	if failure != "" {
		e.Failures = bump(e.Failures, failure)
	}
	e.GaveUp = gaveUp
}

type fetchState int

const (
	fetchIdle fetchState = iota
	fetchQueued
	fetchRunning
	fetchRunningAgain // running, and another fetch is wanted after it
)

// apply folds one signal into the cache.
func (c *unitCache) apply(s *dbus.Signal) {
	switch s.Name {
	case dbusPropsIface + ".PropertiesChanged":
		name, ok := unitNameFromPath(s.Path)
		if !ok || len(s.Body) < 2 {
			return
		}
		e := c.units[name]
		if e == nil {
			if !c.isWatched(name) {
				return
			}
			// A change of a unit we have not listed yet: fetch all of it,
			// and follow this signal already (its failures are counted
			// from the signals).
			delete(c.unloaded, name)
			e = c.newEntry(name)
			c.units[name] = e
			c.want(e, c.processed)
		}
		iface, _ := s.Body[0].(string)
		changed, _ := s.Body[1].(map[string]dbus.Variant)
		switch iface {
		case dbusUnitIface:
			prevActive, prevEnter := e.ActiveState, e.ActiveEnterTimestamp
			before := e.ActiveState + "/" + e.SubState
			setUnitProps(&e.Unit, changed)
			e.noteTransition(prevActive, prevEnter)
			e.noteSignalled()
			if prevActive != e.ActiveState && c.extraNames[name] {
				c.namedMove = true
			}
			e.stateSeq = c.processed
			c.dirty = true
			if (e.IsService || strings.HasSuffix(name, ".socket")) && before != e.ActiveState+"/"+e.SubState {
				c.want(e, c.processed) // NRestarts, Result, MainPID may have moved
			}
		case dbusServiceIface, dbusSocketIface:
			setTypeProps(&e.Unit, changed)
			if r, ok := changed["Result"]; ok {
				// Sent just before the Unit signal of the same change: the
				// Result a failure there is named by.
				e.track.result = propWord(r)
			}
			e.serviceSeq = c.processed
			c.dirty = true
		}
	case dbusManagerIface + ".UnitNew":
		if name, ok := signalName(s); ok && c.isWatched(name) && c.units[name] == nil && !c.unloaded[name] {
			e := c.newEntry(name)
			c.units[name] = e
			c.want(e, c.processed)
		}
	case dbusManagerIface + ".UnitRemoved":
		// A reload announces every unit removed, then new again: their
		// state lives through it. Keep them; the listing after the reload
		// drops those that did not come back. Reading every unit again
		// made a daemon-reload cost ~10 calls a unit (2,200 calls a client
		// with 214 units); with 300 units and three clients every scrape
		// after it waited 1.1-4 s.
		if name, ok := signalName(s); ok && !c.reloading {
			if e := c.units[name]; e != nil {
				c.remove(e)
			}
			if c.isWatched(name) {
				c.markUnloaded(name)
			}
		}
	case "org.freedesktop.DBus.NameOwnerChanged":
		// On a bus, the manager re-executed or restarted: its unit objects
		// and our subscription are gone. Start over on a new connection.
		c.fatal = errors.New("systemd's bus name changed owner (daemon-reexec or restart)")
	case dbusManagerIface + ".Reloading":
		// LoadState changes only on reload and is never signalled: list
		// again once the reload is over.
		active, ok := s.Body[0].(bool)
		if !ok {
			return
		}
		if active {
			c.reloading = true
			return
		}
		if c.reloading {
			c.reloading = false
			c.reloaded()
		}
		c.startListing()
	}
}

// reloaded follows a reload the cache kept its units through. The units'
// runtime state (state, result, restarts, main PID, cgroup, timestamps)
// lives through a reload; what a unit file says may have changed, and of
// that the cache keeps a socket's Listen= and Triggers=: socket units are
// read again, services not.
func (c *unitCache) reloaded() {
	for name, e := range c.units {
		if strings.HasSuffix(name, ".socket") {
			c.want(e, c.processed)
		}
	}
}

// maxUnloaded caps the unloaded marks between listings. A mark matters
// only for the echo of a read, which follows within milliseconds, so a
// full set starts over: at worst one more read of a unit then.
const maxUnloaded = 4096

func (c *unitCache) markUnloaded(name string) {
	if len(c.unloaded) >= maxUnloaded {
		c.unloaded = map[string]bool{}
	}
	c.unloaded[name] = true
}

func (c *unitCache) isWatched(name string) bool {
	return c.extraNames[name] || c.watched(name)
}

// want asks for a fetch of e's properties because of what happened at
// signal sequence seq. Repeated asks coalesce: a queued fetch has not started
// yet, so it will see the newer state too; a running one may not, so one more
// is queued after it.
func (c *unitCache) want(e *unitEntry, seq uint64) {
	switch e.fetch {
	case fetchIdle:
		e.fetch, e.countedSeq = fetchQueued, seq
		c.queue = append(c.queue, e.Name)
		c.outstanding[seq]++
		c.dirty = true // the view's pending units change
	case fetchRunning:
		e.fetch, e.againSeq = fetchRunningAgain, seq
		c.outstanding[seq]++
	}
}

// remove forgets a unit, settling the work counted for it.
func (c *unitCache) remove(e *unitEntry) {
	switch e.fetch {
	case fetchQueued:
		c.done1(e.countedSeq)
		for i, n := range c.queue {
			if n == e.Name {
				c.queue = append(c.queue[:i], c.queue[i+1:]...)
				break
			}
		}
	case fetchRunningAgain:
		c.done1(e.againSeq) // the running fetch settles its own count
	}
	if c.extraNames[e.Name] {
		// A check's unit that is unloaded (stopped and collected, a
		// transient unit ended) keeps its counts for when it is loaded
		// again: its state changes go on from where they were.
		c.unloadedCounts[e.Name] = unloadedCounts{e.StateChanges, e.Failures, e.ActiveState}
	}
	delete(c.units, e.Name)
	c.dirty = true
}

// unloadedCounts are what the cache counted of a check's unit that was
// unloaded, and the state it was in.
type unloadedCounts struct {
	stateChanges, failures map[string]uint64
	activeState            string
}

// newEntry returns a new entry for name, with the counts it had when it
// was unloaded (if it is a check's unit): a unit loaded again enters a
// state from the one it left in.
func (c *unitCache) newEntry(name string) *unitEntry {
	e := &unitEntry{Unit: Unit{Name: name}}
	if u, ok := c.unloadedCounts[name]; ok {
		delete(c.unloadedCounts, name)
		e.StateChanges, e.Failures = u.stateChanges, u.failures
		e.ActiveState = cmp.Or(u.activeState, "inactive")
	}
	return e
}

// finish applies a fetch or listing result.
func (c *unitCache) finish(r fetchResult) error {
	c.done1(r.trigSeq)
	if r.name == "" {
		c.listing = false
		if r.err != nil {
			return r.err
		}
		c.applyListing(r)
		if c.listAgain {
			c.listAgain = false
			c.startListing()
		}
		return nil
	}
	c.running--
	e := c.units[r.name]
	if e == nil || e != r.entry {
		// Removed meanwhile (and maybe announced again: the new entry has
		// its own fetch).
		return nil
	}
	if r.err != nil {
		return fmt.Errorf("reading unit %s: %w", r.name, r.err)
	}
	again := e.fetch == fetchRunningAgain
	e.fetch = fetchIdle
	if r.gone {
		if again {
			e.fetch = fetchRunningAgain // so remove settles its count
		}
		c.remove(e)
		return nil
	}
	if !r.unit.Loaded() {
		if again {
			e.fetch = fetchRunningAgain
		}
		c.remove(e)
		c.markUnloaded(r.name)
		return nil
	}
	c.merge(e, r.unit, r.issueSeq, true)
	if again {
		// The extra ask is already counted under againSeq; queue it as is.
		e.fetch, e.countedSeq = fetchQueued, e.againSeq
		c.queue = append(c.queue, e.Name)
	}
	return nil
}

func (c *unitCache) done1(seq uint64) {
	c.outstanding[seq]--
	if c.outstanding[seq] <= 0 {
		delete(c.outstanding, seq)
	}
}

// merge takes fetched or listed values, except those a newer signal set.
func (c *unitCache) merge(e *unitEntry, u Unit, issueSeq uint64, full bool) {
	e.LoadState = u.LoadState // never signalled, so the read value is the newest
	prevActive, prevEnter := e.ActiveState, e.ActiveEnterTimestamp
	defer func() {
		e.noteTransition(prevActive, prevEnter)
		// The first state known of a unit is where its failure track
		// starts; the track moves on with the signals only.
		e.track.baseline(e.ActiveState, e.SubState)
	}()
	if e.stateSeq <= issueSeq {
		e.ActiveState, e.SubState = u.ActiveState, u.SubState
		if full {
			e.ActiveEnterTimestamp = u.ActiveEnterTimestamp
		}
	}
	if full {
		if e.serviceSeq <= issueSeq {
			e.NRestarts, e.HasRestarts, e.Result, e.MainPID = u.NRestarts, u.HasRestarts, u.Result, u.MainPID
		}
		e.IsService = u.IsService
		e.ControlGroup, e.Listen, e.Triggers = u.ControlGroup, u.Listen, u.Triggers
		e.Type, e.TriggeredBy = u.Type, u.TriggeredBy
	}
	c.dirty = true
}

func (c *unitCache) applyListing(r fetchResult) {
	seen := make(map[string]bool, len(r.listed))
	c.unloaded = map[string]bool{}
	for _, st := range r.listed {
		if !c.isWatched(st.Name) {
			continue
		}
		if st.LoadState != "loaded" {
			c.unloaded[st.Name] = true
			continue
		}
		seen[st.Name] = true
		e := c.units[st.Name]
		if e == nil {
			e = c.newEntry(st.Name)
			c.units[st.Name] = e
			c.merge(e, Unit{LoadState: st.LoadState, ActiveState: st.ActiveState, SubState: st.SubState}, r.issueSeq, false)
			c.want(e, r.trigSeq)
			continue
		}
		before := e.ActiveState + "/" + e.SubState
		c.merge(e, Unit{LoadState: st.LoadState, ActiveState: st.ActiveState, SubState: st.SubState}, r.issueSeq, false)
		if before != e.ActiveState+"/"+e.SubState {
			c.want(e, r.trigSeq)
		}
	}
	// A unit the listing no longer shows is gone (unloaded), unless a signal
	// brought it in after the listing was asked for.
	for name, e := range c.units {
		if !seen[name] && e.stateSeq <= r.issueSeq && e.fetch == fetchIdle {
			c.remove(e)
		}
	}
	if !c.readyClosed {
		c.readyClosed = true
		close(c.ready)
	}
}

func (c *unitCache) setExtra(names []string) {
	next := make(map[string]bool, len(names))
	added := false
	for _, n := range names {
		next[n] = true
		if !c.extraNames[n] {
			added = true
		}
	}
	c.extraNames = next
	for name := range c.unloadedCounts {
		if !next[name] {
			delete(c.unloadedCounts, name)
		}
	}
	if added {
		c.startListing()
	}
}

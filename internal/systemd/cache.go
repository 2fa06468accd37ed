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
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/warden-exporter/warden_exporter/internal/hosttext"
)

// This file keeps a cache of unit state fed by the manager's signals, so a
// scrape costs one round trip instead of a listing plus one call per unit.
//
// Measured on the test machines (systemd 252 user manager, 300 units):
// ListUnits 3 ms; a unit's Service properties by GetAll 1.15 ms, by Unit +
// Service GetAll 2.4 ms; the seven properties we need by pipelined Gets
// 0.33 ms. So per-unit extras are fetched with pipelined Gets, and only when a
// signal says the unit changed.
//
// Correctness rests on D-Bus ordering. All messages of one connection are
// read in order, and our signal handler takes each signal synchronously, so
// when the reply to a call arrives, every signal systemd sent before it has
// been queued. A scrape pings the manager, notes how many signals had
// arrived by the reply, and waits until the cache has applied that many and
// finished the fetches they caused: the cache is then at least as fresh as
// the ping.

const (
	dbusSystemdName   = "org.freedesktop.systemd1"
	dbusSystemdPath   = dbus.ObjectPath("/org/freedesktop/systemd1")
	dbusManagerIface  = "org.freedesktop.systemd1.Manager"
	dbusUnitIface     = "org.freedesktop.systemd1.Unit"
	dbusServiceIface  = "org.freedesktop.systemd1.Service"
	dbusSocketIface   = "org.freedesktop.systemd1.Socket"
	dbusPropsIface    = "org.freedesktop.DBus.Properties"
	dbusUnitPathPrefx = "/org/freedesktop/systemd1/unit/"
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

// signalQueue is the connection's signal handler: it queues every signal
// without ever blocking the connection's reader (a blocked reader would also
// hold back the replies the cache is waiting for).
type signalQueue struct {
	mu        sync.Mutex
	queue     []*dbus.Signal
	delivered uint64
	closed    bool
	wake      chan struct{}
	others    []chan<- *dbus.Signal
}

func newSignalQueue() *signalQueue { return &signalQueue{wake: make(chan struct{}, 1)} }

// DeliverSignal implements dbus.SignalHandler.
func (q *signalQueue) DeliverSignal(_, _ string, s *dbus.Signal) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.queue = append(q.queue, s)
	q.delivered++
	// go-systemd registers a channel of its own for job completions, which
	// we do not use; it must never hold up the connection either. Sent under
	// the lock, so Terminate cannot close it meanwhile.
	for _, ch := range q.others {
		select {
		case ch <- s:
		default:
		}
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// AddSignal and RemoveSignal implement dbus.SignalRegistrar.
func (q *signalQueue) AddSignal(ch chan<- *dbus.Signal) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.others = append(q.others, ch)
}

func (q *signalQueue) RemoveSignal(ch chan<- *dbus.Signal) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, c := range q.others {
		if c == ch {
			q.others = append(q.others[:i:i], q.others[i+1:]...)
			return
		}
	}
}

// Terminate implements dbus.Terminator: the connection is gone.
func (q *signalQueue) Terminate() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		for _, ch := range q.others {
			close(ch)
		}
		q.others = nil
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *signalQueue) take() ([]*dbus.Signal, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.queue
	q.queue = nil
	return s, q.closed
}

func (q *signalQueue) count() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.delivered
}

// unitCache is one connection's view of the manager. Its loop goroutine owns
// all state; everything else talks to it through channels.
type unitCache struct {
	number      uint64 // the client's count of connections, this one's
	conn        *dbus.Conn
	budget      *busBudget // every call on conn goes through it
	sd          *sdbus.Conn
	signals     *signalQueue
	watched     func(string) bool // the include/exclude filter
	patterns    []string          // the same filter for ListUnitsByPatterns; nil = all
	callTimeout time.Duration
	resyncEvery time.Duration

	barriers chan barrierRequest
	extra    chan []string // unit names that must be watched besides the filter
	done     chan struct{} // closed when the loop ends
	err      error         // why the loop ended; read after done
	ready    chan struct{} // closed after the first full sync

	// Loop state.
	units      map[string]*unitEntry
	extraNames map[string]bool
	// unloaded are units last read as not loaded (not-found, masked, ...).
	// Reading a unit's properties makes systemd load it, which announces it
	// (UnitNew) and soon unloads it again (UnitRemoved): fetching on every
	// UnitNew would chase that forever. Such a unit comes back into the
	// cache when its state changes or a listing shows it loaded.
	unloaded  map[string]bool
	processed uint64
	queue     []string // units waiting for a fetch slot
	running   int
	listing   bool
	listAgain bool
	// outstanding counts unfinished work (fetches, listings) by the signal
	// sequence that caused it; a barrier waits for all work at or below its
	// sequence.
	outstanding map[uint64]int
	waiting     []barrierRequest
	results     chan fetchResult
	snapshot    *cacheView
	dirty       bool
	// latest is the view as of the last change, published for Cached when
	// publish is set (a watch reads it); onChange is given each view that
	// follows a change of state of a unit read by name (a check's), so a
	// watch sees every state such a unit passes through, even those a
	// batch of signals carries together.
	publish   *atomic.Bool
	latest    atomic.Pointer[cacheView]
	onChange  func(*cacheView)
	namedMove bool // apply moved a unit read by name to another state
	// unloadedCounts keeps the counts of the checks' units while they are
	// unloaded: bounded by the checks, pruned when the checks change.
	unloadedCounts map[string]unloadedCounts
	readyClosed    bool
	fatal          error // set by apply when the connection is no longer usable
	// reloading is set between the manager's Reloading(true) and
	// Reloading(false) signals: a daemon-reload, or the start of a
	// daemon-reexec (which drops the connection).
	reloading bool
}

type barrierRequest struct {
	seq   uint64
	reply chan *cacheView
}

// cacheView is an immutable copy of the cache at one barrier.
type cacheView struct {
	units map[string]Unit
	names []string // sorted

	failedOnce sync.Once
	failed     []string // the units in ActiveState failed, sorted (failed.go)
}

type fetchResult struct {
	name     string     // "" for a listing
	entry    *unitEntry // the entry the fetch was for
	issueSeq uint64
	trigSeq  uint64
	unit     Unit
	gone     bool // the unit no longer exists
	listed   []sdbus.UnitStatus
	err      error
}

func newUnitCache(conn *dbus.Conn, sd *sdbus.Conn, signals *signalQueue, watched func(string) bool, patterns []string, callTimeout, resyncEvery time.Duration) *unitCache {
	return &unitCache{
		conn:           conn,
		budget:         newBusBudget(callBudget),
		sd:             sd,
		signals:        signals,
		watched:        watched,
		patterns:       patterns,
		callTimeout:    callTimeout,
		resyncEvery:    resyncEvery,
		barriers:       make(chan barrierRequest),
		extra:          make(chan []string, 1),
		done:           make(chan struct{}),
		ready:          make(chan struct{}),
		units:          map[string]*unitEntry{},
		extraNames:     map[string]bool{},
		unloaded:       map[string]bool{},
		unloadedCounts: map[string]unloadedCounts{},
		outstanding:    map[uint64]int{},
		results:        make(chan fetchResult, maxUnitFetches+1),
		snapshot:       &cacheView{units: map[string]Unit{}},
	}
}

// run is the loop. It returns, closing done, when the connection fails or
// ctx ends; the caller then closes the connection.
func (c *unitCache) run(ctx context.Context) {
	defer close(c.done)
	c.err = c.loop(ctx)
}

func (c *unitCache) loop(ctx context.Context) error {
	resync := time.NewTicker(c.resyncEvery)
	defer resync.Stop()
	c.startListing()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.signals.wake:
			sigs, closed := c.signals.take()
			for _, s := range sigs {
				c.processed++
				c.apply(s)
				if c.namedMove {
					c.namedMove = false
					c.publishView(true)
				}
			}
			if c.fatal != nil {
				return c.announced(c.fatal)
			}
			if closed {
				return c.announced(errors.New("connection to systemd closed"))
			}
		case r := <-c.results:
			if err := c.finish(r); err != nil {
				return err
			}
		case b := <-c.barriers:
			c.waiting = append(c.waiting, b)
		case names := <-c.extra:
			c.setExtra(names)
		case <-resync.C:
			c.startListing()
		}
		c.dispatch()
		c.answerBarriers()
		c.publishChange()
	}
}

// errReexecuting marks a connection lost after the manager announced a
// reload (Reloading true) and before it said the reload was over: it is
// re-executing (daemon-reexec, a systemd upgrade) and comes back.
var errReexecuting = errors.New("the manager went away in the middle of a reload: daemon-reexec")

// announced wraps why the connection ended with errReexecuting when the
// manager had announced it.
func (c *unitCache) announced(err error) error {
	if c.reloading {
		return fmt.Errorf("%w (%w)", errReexecuting, err)
	}
	return err
}

// publishChange publishes the view after a loop iteration that changed
// the cache, for a watch.
func (c *unitCache) publishChange() {
	if !c.dirty && c.latest.Load() != nil {
		return
	}
	c.publishView(false)
}

// publishView publishes the view as it is now, only while someone watches
// (a view copies every cached unit); told, the watch is given it too.
func (c *unitCache) publishView(tell bool) {
	if !c.readyClosed || c.publish == nil || !c.publish.Load() {
		return
	}
	v := c.snap()
	c.latest.Store(v)
	if tell {
		c.onChange(v)
	}
}

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

func (c *unitCache) startListing() {
	if c.listing {
		c.listAgain = true
		return
	}
	c.listing = true
	c.outstanding[c.processed]++
	issue, trig := c.processed, c.processed
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.callTimeout)
		defer cancel()
		listed, err := c.list(ctx)
		c.results <- fetchResult{issueSeq: issue, trigSeq: trig, listed: listed, err: err}
	}()
}

func (c *unitCache) list(ctx context.Context) ([]sdbus.UnitStatus, error) {
	var listed []sdbus.UnitStatus
	err := c.budget.do(ctx, func(ctx context.Context) (err error) {
		if c.patterns != nil {
			listed, err = c.sd.ListUnitsByPatternsContext(ctx, nil, c.patterns)
		} else {
			listed, err = c.sd.ListUnitsContext(ctx)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing units: %w", err)
	}
	cleanStatuses(listed)
	var extra []string
	for name := range c.extraNames {
		extra = append(extra, name)
	}
	if len(extra) > 0 {
		more, err := c.listByName(ctx, extra)
		if err != nil {
			return nil, fmt.Errorf("listing units by name: %w", err)
		}
		listed = append(listed, more...)
	}
	return listed, nil
}

// listByName lists the named units, loaded or not, within the budget.
func (c *unitCache) listByName(ctx context.Context, names []string) ([]sdbus.UnitStatus, error) {
	var listed []sdbus.UnitStatus
	err := c.budget.do(ctx, func(ctx context.Context) (err error) {
		listed, err = c.sd.ListUnitsByNamesContext(ctx, names)
		return err
	})
	cleanStatuses(listed)
	return listed, err
}

// namedExtras is what a scrape reads of a check's unit besides its status.
type namedExtras struct {
	// FileState is the UnitFileState (enabled, disabled, static, masked,
	// ...): whether the unit comes back at boot.
	FileState string
	// StateChange is when the unit last changed ActiveState, in
	// microseconds since the epoch: the "since" of a failure.
	StateChange uint64
	// StartLimitBurst and StartLimitInterval (microseconds) are a failed
	// unit's start limit, what a reason says systemd gave up at.
	StartLimitBurst    uint32
	StartLimitInterval uint64
}

// namedExtrasBatch is how many calls namedExtras pipelines at once: what
// the budget (64) holds beside the cache's fetches and the reserve.
const namedExtrasBatch = 16

// namedExtras reads UnitFileState and StateChangeTimestamp of the loaded
// units among statuses, pipelined within the budget. Read per scrape for
// the checks' units only: systemd signals no change of the file state on
// the unit (enable/disable only reload the unit files), and the cache does
// not keep the timestamp for every unit.
func (c *unitCache) namedExtras(ctx context.Context, statuses []sdbus.UnitStatus) (map[string]namedExtras, error) {
	var calls []*busCall
	var names []string
	// The calls of names[i] start at first[i]; a failed unit's end with
	// its start limit's two, which only a failed unit's reason uses: a
	// scrape of 100 healthy checks makes no more calls for them.
	var first []int
	for _, st := range statuses {
		if st.LoadState == "not-found" || st.Path == "" {
			continue
		}
		obj := c.conn.Object(dbusSystemdName, st.Path)
		first = append(first, len(calls))
		calls = append(calls,
			&busCall{obj: obj, method: dbusPropsIface + ".Get", args: []any{dbusUnitIface, "UnitFileState"}},
			&busCall{obj: obj, method: dbusPropsIface + ".Get", args: []any{dbusUnitIface, "StateChangeTimestamp"}})
		if st.ActiveState == "failed" {
			calls = append(calls,
				&busCall{obj: obj, method: dbusPropsIface + ".Get", args: []any{dbusUnitIface, "StartLimitBurst"}},
				&busCall{obj: obj, method: dbusPropsIface + ".Get", args: []any{dbusUnitIface, "StartLimitIntervalUSec"}})
		}
		names = append(names, st.Name)
	}
	if len(calls) == 0 {
		return nil, nil
	}
	// In batches the budget can hold: a pipeline asks for all its calls at
	// once, and one larger than the budget would wait for ever (100 checks
	// are 200 calls; the budget is 64).
	for batch := range slices.Chunk(calls, namedExtrasBatch) {
		if err := c.budget.pipeline(ctx, batch); err != nil {
			return nil, err
		}
	}
	out := make(map[string]namedExtras, len(names))
	for i, name := range names {
		var x namedExtras
		var v dbus.Variant
		get := func(j int) bool {
			// A unit gone meanwhile answers an error: nothing of it this
			// scrape.
			j += first[i]
			end := len(calls)
			if i+1 < len(first) {
				end = first[i+1]
			}
			return j < end && calls[j].call.Err == nil && calls[j].call.Store(&v) == nil
		}
		if get(0) {
			x.FileState = propWord(v)
		}
		if get(1) {
			x.StateChange, _ = v.Value().(uint64)
		}
		if get(2) {
			x.StartLimitBurst, _ = v.Value().(uint32)
		}
		if get(3) {
			x.StartLimitInterval, _ = v.Value().(uint64)
		}
		out[name] = x
	}
	return out, nil
}

// dispatch starts queued fetches up to the concurrency bound.
func (c *unitCache) dispatch() {
	for c.running < maxUnitFetches && len(c.queue) > 0 {
		name := c.queue[0]
		c.queue = c.queue[1:]
		e := c.units[name]
		if e == nil || e.fetch != fetchQueued {
			continue
		}
		e.fetch = fetchRunning
		c.running++
		issue, trig := c.processed, e.countedSeq
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.callTimeout)
			defer cancel()
			u, gone, err := fetchUnit(ctx, c.conn, c.budget, unitFetchShape, name)
			c.results <- fetchResult{name: name, entry: e, issueSeq: issue, trigSeq: trig, unit: u, gone: gone, err: err}
		}()
	}
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
	if r.unit.LoadState != "loaded" {
		if again {
			e.fetch = fetchRunningAgain
		}
		c.remove(e)
		c.unloaded[r.name] = true
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

// answerBarriers replies to every barrier whose signals are applied and whose
// work is done.
func (c *unitCache) answerBarriers() {
	if len(c.waiting) == 0 || !c.readyClosed {
		return
	}
	kept := c.waiting[:0]
	for _, b := range c.waiting {
		if c.processed < b.seq || c.busyUpTo(b.seq) {
			kept = append(kept, b)
			continue
		}
		b.reply <- c.snap()
	}
	c.waiting = kept
}

func (c *unitCache) busyUpTo(seq uint64) bool {
	for s := range c.outstanding {
		if s <= seq {
			return true
		}
	}
	return false
}

func (c *unitCache) snap() *cacheView {
	if !c.dirty {
		return c.snapshot
	}
	s := &cacheView{units: make(map[string]Unit, len(c.units)), names: make([]string, 0, len(c.units))}
	for name, e := range c.units {
		if e.LoadState == "" {
			continue // known by a signal only, its fetch is still to come
		}
		s.units[name] = e.Unit
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	c.snapshot, c.dirty = s, false
	return s
}

// barrier returns the cache as fresh as of seq, or ctx's error.
func (c *unitCache) barrier(ctx context.Context, seq uint64) (*cacheView, error) {
	req := barrierRequest{seq: seq, reply: make(chan *cacheView, 1)}
	select {
	case c.barriers <- req:
	case <-c.done:
		return nil, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case s := <-req.reply:
		return s, nil
	case <-c.done:
		return nil, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// setExtraNames makes the cache watch names besides its filter (the units
// the checks name).
func (c *unitCache) setExtraNames(names []string) {
	select {
	case c.extra <- names:
	case <-c.done:
	}
}

// The properties we read per unit. Not a service's RemainAfterExit:
// nothing reads it (a oneshot that exited with it is active).
var (
	unitProps    = []string{"LoadState", "ActiveState", "SubState", "ActiveEnterTimestamp"}
	serviceProps = []string{"Result", "NRestarts", "MainPID", "ControlGroup"}
	socketProps  = []string{"ControlGroup", "Listen"}
)

// timerJobProps tell a timer's job: a service's Type (Service interface;
// a running oneshot is activating, not down) and TriggeredBy (Unit
// interface; idle between a timer's runs is up). Two more calls in a
// service's fetch, pipelined with the rest (~0.04 ms each).
var (
	timerJobServiceProps = []string{"Type"}
	timerJobUnitProps    = []string{"TriggeredBy"}
)

// fetchShape is how a unit's properties are read.
type fetchShape int

const (
	// fetchByGet pipelines one Properties.Get per property: 10 calls for a
	// service, small answers.
	fetchByGet fetchShape = iota
	// fetchByGetAll makes one Properties.GetAll per interface: 2 calls, but
	// the Unit interface alone answers ~100 properties.
	fetchByGetAll
)

// unitFetchShape is the shape the cache uses. Measured per unit, every
// loaded service, as many units in flight as callBudget allows for the
// shape (BenchmarkFetchUnitShapes, 2-core VM): system bus of a booted
// Debian 12 host (dbus-daemon, 313 services) Get 429-502 us, GetAll
// 680-744 us; session bus with the system bus's limit (304) Get 312 us,
// GetAll 595 us. Without a budget, on a private socket: Get 0.33 ms, Unit
// + Service GetAll 2.4 ms. Pipelined Gets win everywhere.
const unitFetchShape = fetchByGet

// callsPerFetch is how many calls one unit's fetch makes at most.
func callsPerFetch(shape fetchShape) int {
	if shape == fetchByGetAll {
		return 2
	}
	return len(unitProps) + len(serviceProps) +
		len(timerJobServiceProps) + len(timerJobUnitProps)
}

// maxUnitFetches bounds the units fetched at once, so that their calls fit
// the connection's budget beside the listings' and the scrapes'.
var maxUnitFetches = (callBudget - reservedCalls) / callsPerFetch(unitFetchShape)

// fetchUnit reads the properties we need of one unit, all its calls in
// flight at once, within the connection's budget.
func fetchUnit(ctx context.Context, conn *dbus.Conn, budget *busBudget, shape fetchShape, name string) (Unit, bool, error) {
	obj := conn.Object(dbusSystemdName, unitPath(name))
	type part struct {
		iface string
		prop  string // "" for GetAll
	}
	var parts []part
	add := func(iface string, names []string) {
		if shape == fetchByGetAll {
			parts = append(parts, part{iface: iface})
			return
		}
		for _, n := range names {
			parts = append(parts, part{iface, n})
		}
	}
	switch {
	case strings.HasSuffix(name, ".service"):
		add(dbusUnitIface, unitProps)
		add(dbusServiceIface, serviceProps)
		add(dbusUnitIface, timerJobUnitProps)
		add(dbusServiceIface, timerJobServiceProps)
	case strings.HasSuffix(name, ".socket"):
		add(dbusUnitIface, append(slices.Clone(unitProps), "Triggers"))
		add(dbusSocketIface, socketProps)
	default:
		add(dbusUnitIface, unitProps)
	}
	calls := make([]*busCall, len(parts))
	for i, p := range parts {
		if p.prop == "" {
			calls[i] = &busCall{obj: obj, method: dbusPropsIface + ".GetAll", args: []any{p.iface}}
		} else {
			calls[i] = &busCall{obj: obj, method: dbusPropsIface + ".Get", args: []any{p.iface, p.prop}}
		}
	}
	if err := budget.pipeline(ctx, calls); err != nil {
		return Unit{}, false, err
	}
	u := Unit{Name: name, IsService: strings.HasSuffix(name, ".service")}
	var firstErr error
	for i, p := range parts {
		call := calls[i].call
		if call.Err != nil {
			if isGone(call.Err) {
				return Unit{}, true, nil
			}
			if isUnknownProperty(call.Err) {
				continue // an older systemd without it (NRestarts < 235)
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("%s %s: %w", p.iface, p.prop, call.Err)
			}
			continue
		}
		var m map[string]dbus.Variant
		if p.prop == "" {
			if err := call.Store(&m); err != nil {
				firstErr = cmp.Or(firstErr, err)
				continue
			}
		} else {
			var v dbus.Variant
			if err := call.Store(&v); err != nil {
				firstErr = cmp.Or(firstErr, err)
				continue
			}
			m = map[string]dbus.Variant{p.prop: v}
		}
		if p.iface == dbusUnitIface {
			setUnitProps(&u, m)
		} else {
			setTypeProps(&u, m)
		}
	}
	return u, false, firstErr
}

func setUnitProps(u *Unit, changed map[string]dbus.Variant) {
	for k, v := range changed {
		switch k {
		case "LoadState":
			u.LoadState = propWord(v)
		case "ActiveState":
			u.ActiveState = propWord(v)
		case "SubState":
			u.SubState = propWord(v)
		case "ActiveEnterTimestamp":
			u.ActiveEnterTimestamp, _ = v.Value().(uint64)
		case "Triggers":
			triggers, _ := v.Value().([]string)
			u.Triggers = hosttext.CleanAll(triggers, maxUnitName)
		case "TriggeredBy":
			by, _ := v.Value().([]string)
			u.TriggeredBy = hosttext.CleanAll(by, maxUnitName)
		}
	}
}

func setTypeProps(u *Unit, changed map[string]dbus.Variant) {
	for k, v := range changed {
		switch k {
		case "Result":
			u.Result = propWord(v)
		case "Type":
			u.Type = propWord(v)
		case "NRestarts":
			u.NRestarts, u.HasRestarts = v.Value().(uint32)
		case "MainPID":
			u.MainPID, _ = v.Value().(uint32)
		case "ControlGroup":
			u.ControlGroup, _ = v.Value().(string)
		case "Listen":
			if pairs, ok := v.Value().([][]any); ok {
				u.Listen = nil // a new slice: the old one is the snapshots'

				for _, p := range pairs {
					if len(p) == 2 {
						t, _ := p[0].(string)
						a, _ := p[1].(string)
						u.Listen = append(u.Listen, ListenSpec{Type: hosttext.Clean(t, maxWord), Address: hosttext.Clean(a, maxListenAddress)})
					}
				}
			}
		}
	}
}

func isGone(err error) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name == "org.freedesktop.systemd1.NoSuchUnit" || de.Name == "org.freedesktop.DBus.Error.UnknownObject"
	}
	return false
}

func isUnknownProperty(err error) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name == "org.freedesktop.DBus.Error.UnknownProperty" || de.Name == "org.freedesktop.DBus.Error.InvalidArgs"
	}
	return false
}

// unitPath is the object path of a unit: every byte outside [A-Za-z0-9]
// becomes _xx (systemd's bus_label_escape).
func unitPath(name string) dbus.ObjectPath {
	return dbus.ObjectPath(dbusUnitPathPrefx + sdbus.PathBusEscape(name))
}

// unitNameFromPath reverses unitPath.
func unitNameFromPath(p dbus.ObjectPath) (string, bool) {
	label, ok := strings.CutPrefix(string(p), dbusUnitPathPrefx)
	if !ok || label == "" {
		return "", false
	}
	return unitName(unescapeHex(label, '_')), true
}

// unescapeHex replaces each marker+two hex digits in s by the byte they
// encode: "_2e" in a bus object label, "%20" in a D-Bus address value.
func unescapeHex(s string, marker byte) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == marker && i+2 < len(s) {
			if v, ok := unhex(s[i+1], s[i+2]); ok {
				b.WriteByte(v)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(a, b byte) (byte, bool) {
	h := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	x, ok1 := h(a)
	y, ok2 := h(b)
	return x<<4 | y, ok1 && ok2
}

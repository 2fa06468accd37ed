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
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
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
//
// This file is the cache's loop, its barriers and the views it publishes.
// The signals arrive through signals.go's queue; state.go folds them, and
// the fetches' and listings' results, into the units; fetch.go makes those
// calls and decode.go reads their answers; escape.go maps unit names to
// object paths and back.

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
	// unloaded are units last read as not loaded (not-found, masked, ...)
	// or announced unloaded (UnitRemoved: collected once stopped).
	// Reading a unit's properties makes systemd load it, which announces it
	// (UnitNew) and soon unloads it again (UnitRemoved): fetching on every
	// UnitNew would chase that forever — one of our reads still in flight
	// when a stopped unit was collected did, ~10 calls a round. Such a unit
	// comes back into the cache when its state changes or a listing shows
	// it loaded. Reset by each listing, and capped (maxUnloaded).
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
	// pending are the watched units whose properties (ControlGroup among
	// them) are older than their last signal: a fetch is queued or
	// running, or only a signal has named them yet.
	pending map[string]bool
	// watches is the cache's include/exclude filter and the checks' names
	// as of the view: a unit it watches is in the view once loaded.
	watches func(string) bool

	failedOnce sync.Once
	failed     []string // the units in ActiveState failed, sorted (failed.go)

	socketsOnce sync.Once
	sockets     []string // the socket units, sorted (SocketUnits)
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
// the cache, for a watch: the cache is dirty, or a barrier's answer
// already made the view of the change. Before the second case counted,
// a change answered to a scrape in the iteration it was applied in never
// reached the watch, which judged the view before it until the next
// change; the scrapes' view and the watch's then differed for good, and
// what is worked out once per view (the daemon units among 2,000 names,
// 6% of a compact scrape's CPU) was worked out again at every scrape and
// tick.
func (c *unitCache) publishChange() {
	if !c.dirty && c.latest.Load() == c.snapshot {
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
	extra, filter := c.extraNames, c.watched // extraNames is replaced, never changed
	s := &cacheView{
		units: make(map[string]Unit, len(c.units)), names: make([]string, 0, len(c.units)),
		pending: map[string]bool{},
		watches: func(name string) bool { return extra[name] || filter(name) },
	}
	for name, e := range c.units {
		if e.fetch != fetchIdle || e.LoadState == "" {
			s.pending[name] = true
		}
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

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
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// The watcher's defaults.
const (
	// DefaultResync is how often the whole list is read again even when
	// the stream runs: it mends what an event lost would leave stale.
	DefaultResync = 5 * time.Minute
	// DefaultMaxContainers caps the containers kept per engine (a host
	// runs tens; 1024 at ~1 KiB each is 1 MiB).
	DefaultMaxContainers = 1024
	// Reconnecting backs off from 1 s to 30 s: an engine restarting
	// (docker takes ~2 s) is read again soon, one that is down is not
	// hammered.
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
	// inspectConcurrency bounds the inspects of a full sync: ~2-3 ms each
	// here, 1024 containers take ~1 s at 4 and leave the engine room.
	inspectConcurrency = 4
)

// WatcherOptions configure a Watcher.
type WatcherOptions struct {
	Endpoints     []Endpoint
	Logger        log.Logger
	Resync        time.Duration // DefaultResync when 0
	CallTimeout   time.Duration // DefaultCallTimeout when 0
	MaxContainers int           // DefaultMaxContainers when 0
	// minBackoff replaces the 1 s first reconnect wait in tests.
	minBackoff time.Duration
}

// Watcher keeps every engine's containers, fed by each engine's event
// stream and a full list every Resync. Snapshot makes no call.
type Watcher struct {
	opts    WatcherOptions
	snap    atomic.Pointer[Snapshot]
	changes chan struct{}
	tried   chan struct{} // closed once every engine was tried once

	mu      sync.Mutex
	engines []*engineState
	counts  map[Key]Counts
	removed []Key // counts of removed containers, oldest first
	pending int   // engines not yet tried
	dirty   bool  // changed since the last snapshot (events publish in batches)
}

type engineState struct {
	ep         Endpoint
	info       Engine
	containers map[string]Container // by ID
	// gone holds the containers dropped while the engine was away, until
	// the next sync: restarts are counted from where they were.
	gone      map[string]Container
	baselined bool // synced once: later syncs count increases
	// dies are die events without an exit code, by container ID: counted
	// at its next inspect, by the exit code it reports.
	dies map[string]uint64
	// order is the containers' IDs by name, for the snapshot; nil when
	// the set changed.
	order []string
	// destroyed are the containers removed (a destroy event, a read's
	// 404) within destroyedKept, when: a read or a list that answers
	// after the removal does not bring one back (an ID is never reused).
	destroyed map[string]time.Time
	// events counts the events applied of each container, by ID: a read
	// started before one of them is older than the cache (see read).
	events    map[string]uint64
	loggedCap bool
	tried     bool
}

// NewWatcher returns a watcher of opts.Endpoints; Run starts it.
func NewWatcher(opts WatcherOptions) *Watcher {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.MaxContainers <= 0 {
		opts.MaxContainers = DefaultMaxContainers
	}
	if opts.minBackoff <= 0 {
		opts.minBackoff = minBackoff
	}
	w := &Watcher{
		opts:    opts,
		changes: make(chan struct{}, 1),
		tried:   make(chan struct{}),
		counts:  map[Key]Counts{},
		pending: len(opts.Endpoints),
	}
	for _, ep := range opts.Endpoints {
		w.engines = append(w.engines, &engineState{
			ep:         ep,
			info:       Engine{Name: ep.Engine, Address: ep.Address},
			containers: map[string]Container{},
		})
	}
	if w.pending == 0 {
		close(w.tried)
	}
	w.publishLocked()
	return w
}

// Snapshot returns the current view; it makes no call and is never
// changed afterwards.
func (w *Watcher) Snapshot() *Snapshot { return w.snap.Load() }

// Changes receives after a change of the snapshot, coalesced: one value
// waits however many changes there were since it was last drained.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// WaitSynced returns once every engine was tried once: synced, found
// missing, or failed (its Err says why), or with ctx's error.
func (w *Watcher) WaitSynced(ctx context.Context) error {
	select {
	case <-w.tried:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the container engines' first sync: %w", ctx.Err())
	}
}

// Run watches every engine until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range w.engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.runEngine(ctx, i)
		}()
	}
	wg.Wait()
}

// errResync ends a session whose stream ran its Resync interval.
var errResync = errors.New("resync due")

func (w *Watcher) runEngine(ctx context.Context, i int) {
	ep := w.engines[i].ep
	logger := log.With(w.opts.Logger, "engine", ep.Engine, "address", ep.Address)
	c, err := NewClient(ep, w.opts.CallTimeout)
	if err != nil {
		w.setEngine(i, func(e *engineState) { e.info.Err = err })
		level.Error(logger).Log("msg", "cannot watch the container engine", "err", err)
		<-ctx.Done()
		return
	}
	defer c.Close()
	s := &session{w: w, i: i, c: c, seenLast: map[string]bool{}}
	backoff := w.opts.minBackoff
	lastErr := ""
	for ctx.Err() == nil {
		wait := w.opts.Resync
		err := s.run(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errResync):
			backoff = w.opts.minBackoff
			continue
		case Missing(err):
			// Not installed or not running: cheap to look again at each
			// resync, not worth a log line each time.
			w.dropAll(i)
			w.setEngine(i, func(e *engineState) {
				e.info = Engine{Name: e.ep.Engine, Address: e.ep.Address, Err: err}
			})
		case err != nil:
			// The socket is there (or the address is tcp://): present,
			// unreadable.
			w.setEngine(i, func(e *engineState) { e.info.Present, e.info.Err = true, err })
			if s.synced {
				backoff = w.opts.minBackoff
			}
			wait, backoff = backoff, min(2*backoff, maxBackoff)
		}
		if msg := fmt.Sprint(err); err != nil && msg != lastErr && !Missing(err) {
			level.Warn(logger).Log("msg", "reading the container engine", "err", err, "retry_in", wait)
		}
		lastErr = fmt.Sprint(err)
		w.markTried(i)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// session is one engine's ping, full sync and event stream.
type session struct {
	w      *Watcher
	i      int
	c      *Client
	synced bool // the last run synced
	// since is where the next stream starts: the last event's time (the
	// stream was complete up to it) or the time before the first list.
	since    time.Time
	seenLast map[string]bool // events at since's nanosecond, applied
	inspects inspectQueue    // the containers events changed, to read again
}

// run pings, syncs and follows the stream until it breaks (the error) or
// the Resync interval ends (errResync). A nil error is a docker.sock that
// is podman's, already read through the podman endpoint.
func (s *session) run(ctx context.Context) error {
	s.synced = false
	if p := s.c.SocketPath(); p != "" {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return &ConnectError{Engine: s.c.ep.Engine, Address: s.c.ep.Address, Err: err}
		}
	}
	ping, err := s.c.Ping(ctx)
	if err != nil {
		return err
	}
	if same, err := s.samePodman(ctx, ping); err != nil {
		return err
	} else if same {
		s.w.dropAll(s.i)
		s.w.setEngine(s.i, func(e *engineState) {
			e.info = Engine{Name: e.ep.Engine, Address: e.ep.Address, APIVersion: ping.APIVersion, SameAs: Podman}
		})
		s.w.markTried(s.i)
		return nil
	}
	s.w.setEngine(s.i, func(e *engineState) {
		e.info.Present, e.info.APIVersion, e.info.SameAs = true, ping.APIVersion, ""
	})
	before := time.Now()
	if err := s.sync(ctx); err != nil {
		return err
	}
	s.synced = true
	s.w.markTried(s.i)
	if s.since.IsZero() {
		s.since = before
	}
	sctx, cancel := context.WithTimeout(ctx, s.w.opts.Resync)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	s.inspects = inspectQueue{due: map[string]time.Time{}, last: s.inspects.last, now: make(chan struct{}, 1)}
	wg.Go(func() { s.flush(sctx) })
	if ping.Podman {
		wg.Go(func() { s.pollPodman(sctx) })
	}
	err = s.c.Events(sctx, s.since, func(ev Event) error { return s.event(sctx, ev) })
	if ctx.Err() == nil && sctx.Err() != nil {
		return errResync
	}
	return err
}

// samePodman says a docker endpoint answered as podman (podman-docker's
// docker.sock) and the podman endpoint reaches the same engine (the same
// storage root), whose containers the podman endpoint reads.
func (s *session) samePodman(ctx context.Context, ping Ping) (bool, error) {
	if s.c.ep.Engine != Docker || !ping.Podman {
		return false, nil
	}
	i := slices.IndexFunc(s.w.opts.Endpoints, func(ep Endpoint) bool { return ep.Engine == Podman })
	if i < 0 {
		return false, nil
	}
	pc, err := NewClient(s.w.opts.Endpoints[i], s.w.opts.CallTimeout)
	if err != nil {
		return false, nil
	}
	defer pc.Close()
	theirs, err := pc.RootDir(ctx)
	if err != nil {
		return false, nil // the podman endpoint is not there: read this one
	}
	ours, err := s.c.RootDir(ctx)
	if err != nil {
		return false, err
	}
	return ours == theirs, nil
}

// sync lists every container, inspects them (inspectConcurrency at a
// time) and replaces the engine's containers with what it found.
func (s *session) sync(ctx context.Context) error {
	list, err := s.c.List(ctx)
	if err != nil {
		return err
	}
	limit := s.w.opts.MaxContainers
	if len(list) > limit {
		// The same ones each time: by name.
		slices.SortFunc(list, func(a, b Listed) int { return strings.Compare(a.Name, b.Name) })
		s.w.capped(s.i, len(list)-limit)
		list = list[:limit]
	} else {
		s.w.capped(s.i, 0)
	}
	found := make([]Container, len(list))
	errs := make([]error, len(list))
	sem := make(chan struct{}, inspectConcurrency)
	var wg sync.WaitGroup
	for j, l := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			found[j], errs[j] = s.c.Inspect(ctx, l.ID)
		}()
	}
	wg.Wait()
	var live []Container
	for j, err := range errs {
		switch {
		case errors.Is(err, ErrNotFound):
			// Removed between the list and its inspect.
		case err != nil:
			return err
		default:
			live = append(live, found[j])
		}
	}
	s.w.replace(s.i, live)
	return nil
}

// event applies one event: every event re-inspects its container (podman
// 4.3.1's health_status carries the status before the check), destroy
// drops it, die/oom/start count.
func (s *session) event(ctx context.Context, ev Event) error {
	t := time.Unix(0, ev.TimeNano)
	key := ev.Action + " " + ev.ID
	if ev.TimeNano != 0 && (t.Before(s.since) || t.Equal(s.since) && s.seenLast[key]) {
		return nil // replayed: applied before the stream broke
	}
	if err := s.apply(ctx, ev); err != nil {
		return err // not recorded: the next stream replays it
	}
	switch {
	case ev.TimeNano == 0:
	case t.Equal(s.since):
		s.seenLast[key] = true
	default:
		s.since, s.seenLast = t, map[string]bool{key: true}
	}
	return nil
}

// apply applies an event: what it says at once (state, counts), its
// container read again after the burst (see inspectQueue).
func (s *session) apply(_ context.Context, ev Event) error {
	if ev.Action == "destroy" {
		s.w.remove(s.i, ev.ID)
		return nil
	}
	known := s.w.onEvent(s.i, ev)
	// A health change is read at once: its event says the status, not
	// the check's output, exit code or streak (docker sends one on a
	// change only: few).
	s.inspects.add(ev.ID, !known || ev.Action == "health_status", time.Now())
	return nil
}

// podmanPollTick is how often pollPodman looks for reads due; each
// container is re-inspected once per its own health interval, never more
// often than this.
const podmanPollTick = 2 * time.Second

// podmanStatePoll is how often Podman's running containers without a
// health check are read: Podman syncs a container's state when asked, and
// a container whose conmon was killed (podman run from a service that
// ended, INVOCATION_ID set: the booted-host test) dies with no event. 50
// containers cost 5 inspects a second.
const podmanStatePoll = 10 * time.Second

// pollPodman re-inspects Podman's running containers, each once per its
// health check's interval (30 s by default), or podmanStatePoll: on a
// systemd host Podman 4.3 runs the checks from its transient
// <id>.timer/<id>.service units and writes no health_status event for
// them (seen in the booted host: none in /events nor the journal through
// starting → unhealthy and 5 runs), so without this a container's health
// was as old as the last resync (5 minutes). Docker emits the event on
// each change: its containers are not polled.
func (s *session) pollPodman(ctx context.Context) {
	tick := time.NewTicker(podmanPollTick)
	defer tick.Stop()
	last := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			running := s.w.running(s.i)
			ids := make(map[string]bool, len(running))
			for _, c := range running {
				ids[c.ID] = true
				every := c.Health.Interval
				if every == 0 {
					every = podmanStatePoll
				}
				if now.Sub(last[c.ID]) < every {
					continue
				}
				last[c.ID] = now
				taken := s.w.eventCount(s.i, c.ID)
				fresh, err := s.c.Inspect(ctx, c.ID)
				switch {
				case err != nil && ctx.Err() == nil:
					level.Debug(s.w.opts.Logger).Log("msg", "re-reading a container's health failed", "container", c.Name, "err", err)
				case err == nil && (fresh.Health != c.Health || fresh.State != c.State):
					// Applied only when it says something new: the
					// watch judges at each change.
					// (One older than an event is the event's
					// next read's to say.)
					s.w.refresh(s.i, []read{{fresh, taken}})
				}
			}
			// (A set, not a walk of running per entry: 1,024
			// containers an engine.)
			maps.DeleteFunc(last, func(id string, _ time.Time) bool { return !ids[id] })
		}
	}
}

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

// Package systemd reads unit state from a systemd manager over one
// long-lived D-Bus connection, kept fresh by the manager's signals
// (cache.go), behind a small API: New, Client.Snapshot, Client.Close.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/godbus/dbus/v5"
)

// Options configures the systemd source.
type Options struct {
	Endpoint Endpoint
	// Include and Exclude select the units watched besides those the
	// checks name. Both are anchored; Exclude may be nil. Podman's
	// health-check units are never included (IsContainerHealthCheckUnit).
	Include, Exclude *regexp.Regexp
	// CallTimeout bounds each call the cache makes on its own (listings,
	// fetches, connecting); a scrape's calls are bounded by the scrape.
	CallTimeout time.Duration
	// ResyncInterval is how often the cache lists all units again, to catch
	// what signals do not carry (LoadState).
	ResyncInterval time.Duration
	Logger         log.Logger
}

const (
	minReconnectBackoff = 100 * time.Millisecond
	maxReconnectBackoff = 5 * time.Second
	// reexecRetry is how often we try to reach a manager that announced a
	// daemon-reexec: its private socket refuses connections until the new
	// manager listens (a few to a few hundred ms on the test machines,
	// ECONNREFUSED or ENOENT), and a call on the bus may be dropped by the
	// old one ("recipient disconnected").
	reexecRetry = 50 * time.Millisecond
	// reexecWindow bounds how long such a manager is expected back: a
	// scrape caught in three back-to-back reexecs of a user manager with
	// 130 units waited at most 0.42 s idle, 0.72 s under two busy loops;
	// one not back within the window is gone, and a scrape fails at its
	// first attempt again.
	reexecWindow = 30 * time.Second
)

// Client reads unit state from systemd over one long-lived D-Bus
// connection, kept fresh by the manager's signals (see cache.go).
type Client struct {
	opts     Options
	patterns []string // Include as ListUnitsByPatterns globs; nil = list all

	start sync.Once
	stop  context.CancelFunc
	done  chan struct{}
	poke  chan struct{} // a scrape wants a connection now

	mu      sync.Mutex
	cache   *unitCache
	lastErr error
	// backUntil is set when the manager announced a daemon-reexec and
	// dropped the connection: it is expected back until then (see
	// reexecWindow); zero once connected again.
	backUntil time.Time
	changed   chan struct{} // closed when cache or lastErr changes
	extra     []string      // the checks' units, as last given to the cache

	// connections counts the connections made (each ready for calls).
	connections atomic.Uint64

	// A watch's: whether caches publish their views, and the views that
	// follow a change of state of a unit read by name.
	watching atomic.Bool
	changes  chan *Snapshot
	// lastNamed is the last Snapshot's read by name, which the views of
	// Cached and Changes carry: the checks' units that are not loaded,
	// and the extras the cache does not keep.
	lastNamed atomic.Pointer[namedRead]
}

// New returns a client; it connects on its first Snapshot.
func New(opts Options) *Client {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 5 * time.Second
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	s := &Client{
		opts:     opts,
		patterns: globsForRegexp(opts.Include),
		done:     make(chan struct{}),
		poke:     make(chan struct{}, 1),
		changed:  make(chan struct{}),
		changes:  make(chan *Snapshot, maxPendingChanges),
		lastErr:  errors.New("not connected yet"),
	}
	return s
}

// Close ends the connection and its goroutines.
func (s *Client) Close() {
	started := true
	s.start.Do(func() { started = false; close(s.done) })
	if started {
		s.stop()
		<-s.done
	}
}

// Snapshot reads the units: the cache, as fresh as a call systemd answers
// now, and the units names (the checks') read by name, so one that is
// masked, missing or stopped is seen as it is. It returns by ctx's deadline.
//
// A connection that ends under a read (daemon-reexec, a restarted bus
// daemon) is replaced at once by the maintainer, and the read starts over
// on the new one, as often as ctx allows: the scrape waits for the new
// manager (reconnect, first sync, answer) rather than fail, and is never
// answered from the old connection's cache. Seen on a booted host: 1 scrape
// in ~170 failed across a daemon-reexec without the retry; with three
// attempts, and one connection attempt while the new manager was not up
// yet, 3-7 of 9 scrapes around three back-to-back reexecs failed in 5 runs
// of 5 under two busy loops on 2 cores (130 units).
func (s *Client) Snapshot(ctx context.Context, names []string) (*Snapshot, error) {
	s.start.Do(func() {
		life, cancel := context.WithCancel(context.Background())
		s.stop = cancel
		go s.maintain(life)
	})
	var first uint64 // the connection the read began on
	began := time.Now()
	for {
		cache, err := s.connected(ctx)
		if err != nil {
			return nil, err
		}
		if first == 0 {
			first = cache.number
		}
		r, err := s.read(ctx, cache, names)
		if err == nil {
			if cache.number != first {
				level.Info(s.opts.Logger).Log("msg", "read systemd on a new connection after losing the last one (daemon-reexec or restart)",
					"lost_connections", cache.number-first, "waited", time.Since(began))
			}
			s.lastNamed.Store(&namedRead{named: r.named, extras: r.extras})
			return r, nil
		}
		if ctx.Err() != nil || !connectionLost(ctx, cache) {
			return nil, err
		}
	}
}

// lostGrace is how long a failed read waits to learn whether its
// connection is going away: a call can fail (the peer reset the socket,
// "recipient disconnected") just before the cache sees the disconnection
// or the manager's bus name change.
const lostGrace = 500 * time.Millisecond

// connectionLost reports whether cache's connection ended, waiting up to
// lostGrace (and no longer than ctx) for it to.
func connectionLost(ctx context.Context, cache *unitCache) bool {
	t := time.NewTimer(lostGrace)
	defer t.Stop()
	select {
	case <-cache.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// read is one scrape's reading from a connected cache.
func (s *Client) read(ctx context.Context, cache *unitCache, names []string) (*Snapshot, error) {
	s.setExtra(cache, names)

	// The ping is a call systemd answers even on a fresh private-socket
	// connection, and its reply orders the signals: those that arrived
	// before it are what the barrier waits for.
	manager := cache.conn.Object(dbusSystemdName, dbusSystemdPath)
	err := cache.budget.do(ctx, func(ctx context.Context) error {
		var version dbus.Variant
		return manager.CallWithContext(ctx, dbusPropsIface+".Get", 0, dbusManagerIface, "Version").Store(&version)
	})
	if err != nil {
		return nil, fmt.Errorf("systemd did not answer: %w", err)
	}
	snap, err := cache.barrier(ctx, cache.signals.count())
	if err != nil {
		return nil, fmt.Errorf("waiting for the unit cache: %w", err)
	}
	r := &Snapshot{snap: snap, conn: cache.number}
	if len(names) > 0 {
		// LoadState is never signalled, and a unit that is not loaded has
		// no object to signal about: ask for the checks' units by name, so
		// one that is masked or missing stays visible.
		statuses, err := cache.listByName(ctx, names)
		if err != nil {
			return nil, fmt.Errorf("listing the checks' units: %w", err)
		}
		r.named = make(map[string]sdbus.UnitStatus, len(statuses))
		for _, st := range statuses {
			r.named[st.Name] = st
		}
		if r.extras, err = cache.namedExtras(ctx, statuses); err != nil {
			return nil, fmt.Errorf("reading the checks' unit file states: %w", err)
		}
	}
	r.readFailedSince(ctx, cache)
	return r, nil
}

// connected returns the live cache once it finished its first sync. Without
// one, it asks the maintainer to try now and returns that attempt's outcome;
// it waits at most until ctx ends.
func (s *Client) connected(ctx context.Context) (*unitCache, error) {
	select {
	case s.poke <- struct{}{}:
	default:
	}
	attempted := false
	for {
		s.mu.Lock()
		cache, lastErr, changed, back := s.cache, s.lastErr, s.changed, time.Now().Before(s.backUntil)
		s.mu.Unlock()
		if cache != nil {
			select {
			case <-cache.done:
				// Lost, and the maintainer has not recorded it yet: wait
				// for it to (it reconnects at once after a loss).
				select {
				case <-changed:
					continue
				case <-ctx.Done():
					return nil, fmt.Errorf("reconnecting to systemd: %w", ctx.Err())
				}
			default:
			}
			select {
			case <-cache.ready:
				return cache, nil
			case <-cache.done:
				continue // lost meanwhile; the maintainer records why
			case <-changed:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("first sync with systemd not finished: %w", ctx.Err())
			}
		}
		// A manager that re-executes refuses connections, or drops them
		// half made, until the new one is up: wait for it, within ctx.
		// Otherwise one attempt decides (a manager that is gone costs a
		// scrape nothing but the attempt).
		if attempted && !back {
			return nil, lastErr
		}
		select {
		case <-changed:
			attempted = true
		case <-ctx.Done():
			if back {
				return nil, fmt.Errorf("waiting for systemd to come back from a daemon-reexec (%v): %w", lastErr, ctx.Err())
			}
			return nil, fmt.Errorf("not connected to systemd (%v): %w", lastErr, ctx.Err())
		}
	}
}

// comingBack reports whether the manager is expected back: it announced a
// daemon-reexec and no connection has been made since, for at most
// reexecWindow.
func (s *Client) comingBack() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Before(s.backUntil)
}

func (s *Client) setExtra(cache *unitCache, names []string) {
	s.mu.Lock()
	same := slices.Equal(s.extra, names)
	s.extra = names
	s.mu.Unlock()
	if !same {
		cache.setExtraNames(names)
	}
}

func (s *Client) setState(cache *unitCache, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cache, s.lastErr = cache, err
	if cache != nil {
		s.backUntil = time.Time{}
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// maintain keeps one connection open for the life of the source,
// reconnecting with capped backoff; a scrape's poke skips the wait.
func (s *Client) maintain(ctx context.Context) {
	defer close(s.done)
	backoff := minReconnectBackoff
	logger := s.opts.Logger
	for ctx.Err() == nil {
		wait := backoff
		conn, sd, signals, err := s.connect(ctx)
		if err != nil {
			level.Debug(logger).Log("msg", "cannot connect to systemd", "endpoint", s.opts.Endpoint, "err", err)
			s.setState(nil, fmt.Errorf("connecting to systemd at %s: %w", s.opts.Endpoint, err))
		} else {
			cache := newUnitCache(conn, sd, signals, s.watched, s.patterns, s.opts.CallTimeout, s.opts.ResyncInterval)
			cache.number = s.connections.Add(1)
			cache.publish = &s.watching
			cache.onChange = func(v *cacheView) { s.notifyChange(v, cache.number) }
			s.mu.Lock()
			cache.extraNames = map[string]bool{}
			for _, n := range s.extra {
				cache.extraNames[n] = true
			}
			s.mu.Unlock()
			s.setState(cache, nil)
			level.Info(logger).Log("msg", "connected to systemd", "endpoint", s.opts.Endpoint, "connection", cache.number)
			began := time.Now()
			cache.run(ctx)
			conn.Close()
			if ctx.Err() != nil {
				break
			}
			level.Warn(logger).Log("msg", "lost the connection to systemd", "err", cache.err)
			if errors.Is(cache.err, errReexecuting) {
				s.mu.Lock()
				s.backUntil = time.Now().Add(reexecWindow)
				s.mu.Unlock()
				wait = 0 // the new manager may be up already (a bus keeps calls for it)
			}
			s.setState(nil, fmt.Errorf("lost the connection to systemd: %w", cache.err))
			if time.Since(began) > time.Minute {
				backoff = minReconnectBackoff
			}
		}
		if s.comingBack() {
			// Retried on a short fixed interval, pokes or not: a refused
			// connection fails in microseconds, and scrapes waiting for
			// the manager must not turn that into a busy loop.
			wait = min(wait, reexecRetry)
			if !sleep(ctx, wait, nil) {
				break
			}
			continue
		}
		if !sleep(ctx, wait, s.poke) {
			break
		}
		backoff = min(backoff*2, maxReconnectBackoff)
	}
	s.setState(nil, errors.New("systemd source closed"))
}

// sleep waits d, or until poke (nil: never) delivers; false if ctx ended.
func sleep(ctx context.Context, d time.Duration, poke <-chan struct{}) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
	case <-poke:
	}
	return true
}

// watched is the include/exclude filter. Podman's health-check units
// never pass it (see IsContainerHealthCheckUnit): the cache does not hold
// them, so they are in no failed-unit list, count, series or discovery;
// a check that names one is watched by name (extraNames), not by this.
func (s *Client) watched(name string) bool {
	if IsContainerHealthCheckUnit(name) {
		return false
	}
	if s.opts.Exclude != nil && s.opts.Exclude.MatchString(name) {
		return false
	}
	return s.opts.Include != nil && s.opts.Include.MatchString(name)
}

// Connections returns how many connections to the manager the client has
// made so far: 1 after the first, one more after each reconnection.
func (s *Client) Connections() uint64 { return s.connections.Load() }

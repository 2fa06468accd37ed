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
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/godbus/dbus/v5"
)

// Endpoint is where the manager is reached.
type Endpoint struct {
	// Path of the unix socket; with Abstract, a name in the abstract
	// namespace.
	Path     string
	Abstract bool
	// Direct is true for a manager's private socket (peer to peer, no bus
	// daemon: no Hello, no match rules, every signal is delivered).
	Direct bool
}

func (e Endpoint) String() string {
	kind := "bus"
	if e.Direct {
		kind = "private socket"
	}
	if e.Abstract {
		return fmt.Sprintf("%s unix:abstract=%s", kind, e.Path)
	}
	return fmt.Sprintf("%s unix:path=%s", kind, e.Path)
}

// ErrBadAddress is returned for an address we cannot dial.
var ErrBadAddress = errors.New("unsupported D-Bus address")

// ResolveEndpoint picks the socket for scope ("system" or "user") and
// an optional address: a D-Bus address ("unix:path=/run/user/1000/bus"), or a
// socket path. A socket named systemd/private is the manager's own and is
// spoken to directly; anything else is a bus. getenv is os.Getenv outside
// tests.
func ResolveEndpoint(scope, address string, getenv func(string) string) (Endpoint, error) {
	if address == "" {
		switch scope {
		case "system":
			address = getenv("DBUS_SYSTEM_BUS_ADDRESS")
			if address == "" {
				address = "unix:path=/run/dbus/system_bus_socket"
			}
		case "user":
			address = getenv("DBUS_SESSION_BUS_ADDRESS")
			if address == "" {
				dir := getenv("XDG_RUNTIME_DIR")
				if dir == "" {
					return Endpoint{}, fmt.Errorf("%w: --systemd.scope=user needs DBUS_SESSION_BUS_ADDRESS or XDG_RUNTIME_DIR, or --systemd.address", ErrBadAddress)
				}
				address = "unix:path=" + filepath.Join(dir, "bus")
			}
		default:
			return Endpoint{}, fmt.Errorf("%w: unknown scope %q (system or user)", ErrBadAddress, scope)
		}
	}
	var ep Endpoint
	if strings.HasPrefix(address, "/") {
		ep.Path = address
	} else {
		// A D-Bus address may list several alternatives; take the first
		// unix one.
		for alt := range strings.SplitSeq(address, ";") {
			transport, params, ok := strings.Cut(alt, ":")
			if !ok || transport != "unix" {
				continue
			}
			for kv := range strings.SplitSeq(params, ",") {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "path":
					ep.Path = unescapeHex(v, '%')
				case "abstract":
					ep.Path, ep.Abstract = unescapeHex(v, '%'), true
				}
			}
			if ep.Path != "" {
				break
			}
		}
		if ep.Path == "" {
			return Endpoint{}, fmt.Errorf("%w %q: only unix:path= and unix:abstract= are supported", ErrBadAddress, address)
		}
	}
	ep.Direct = !ep.Abstract && filepath.Base(ep.Path) == "private" && filepath.Base(filepath.Dir(ep.Path)) == "systemd"
	return ep, nil
}

// Options configures the systemd source.
type Options struct {
	Endpoint Endpoint
	// Include and Exclude select the units watched besides those the
	// checks name. Both are anchored; Exclude may be nil.
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
// connection, kept fresh by the manager's signals (see systemd_cache.go).
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
			cache.publish, cache.onChange = &s.watching, s.notifyChange
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

func (s *Client) watched(name string) bool {
	if s.opts.Exclude != nil && s.opts.Exclude.MatchString(name) {
		return false
	}
	return s.opts.Include != nil && s.opts.Include.MatchString(name)
}

// connect opens and prepares a connection. Every step is bounded: a manager
// that accepts but never answers (frozen, or systemd 252's private socket
// ignoring a small first call) costs one attempt, not a hang.
func (s *Client) connect(ctx context.Context) (*dbus.Conn, *sdbus.Conn, *signalQueue, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	ep := s.opts.Endpoint
	path := ep.Path
	if ep.Abstract {
		path = "@" + path
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, nil, nil, err
	}
	deadline, _ := ctx.Deadline()
	// The deadline covers the handshake, which dbus does with plain
	// blocking reads; it is lifted once the connection is ready.
	nc.SetDeadline(deadline)
	signals := newSignalQueue()
	conn, err := dialConn(nc, dbus.WithSignalHandler(signals))
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	fail := func(step string, err error) (*dbus.Conn, *sdbus.Conn, *signalQueue, error) {
		conn.Close()
		return nil, nil, nil, explainBusRefusal(err, step, ep)
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		return fail("authenticating", err)
	}
	if !ep.Direct {
		if err := conn.Hello(); err != nil {
			return fail("registering with the bus", err)
		}
	}
	manager := conn.Object(dbusSystemdName, dbusSystemdPath)
	if err := firstCall(ctx, manager); err != nil {
		return fail("reading the manager's version", err)
	}
	if !ep.Direct {
		// On a bus only the signals we match reach us. The Service and
		// Socket interfaces' property changes too: their Result, sent just
		// before each Unit signal, is what a failure is counted by
		// (failures.go); read after the Unit signal, a restart had already
		// reset it to success (0 of 5 crashes counted). It costs a second
		// signal per change of a service: 983 bytes beside the Unit one's
		// 1,110-1,160 (systemd 252), ~50 us to decode on a 2-core VM. Not
		// every type's: mounts, devices and scopes change far more often.
		for _, rule := range []string{
			"type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',arg0='org.freedesktop.systemd1.Unit'",
			"type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',arg0='org.freedesktop.systemd1.Service'",
			"type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',arg0='org.freedesktop.systemd1.Socket'",
			"type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='UnitNew'",
			"type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='UnitRemoved'",
			"type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='Reloading'",
			"type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.freedesktop.systemd1'",
		} {
			if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.AddMatch", 0, rule).Err; err != nil {
				return fail("adding a match rule", err)
			}
		}
	}
	if err := manager.CallWithContext(ctx, dbusManagerIface+".Subscribe", 0).Err; err != nil {
		return fail("subscribing to unit changes", err)
	}
	// go-systemd gives typed listings. It wants two connections (calls and
	// signals); one serves both here, since all our signals go through our
	// own handler.
	sd, err := sdbus.NewConnection(func() (*dbus.Conn, error) { return conn, nil })
	if err != nil {
		return fail("setting up go-systemd", err)
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return fail("clearing the handshake deadline", err)
	}
	return conn, sd, signals, nil
}

// nudgeInterval is how long the first call may go unanswered before we
// write again.
const nudgeInterval = 200 * time.Millisecond

// firstCall makes the connection's first call, reading the manager's
// version. systemd 252 sometimes leaves the first message on a fresh
// private-socket connection unread until the client writes again (seen in
// 13-17 of 20 tries for small calls); so while no answer has come, we repeat
// the call, and each write wakes the manager up.
func firstCall(ctx context.Context, manager dbus.BusObject) error {
	done := make(chan *dbus.Call, 16)
	for {
		manager.GoWithContext(ctx, dbusPropsIface+".Get", 0, done, dbusManagerIface, "Version")
		timer := time.NewTimer(nudgeInterval)
		select {
		case call := <-done:
			timer.Stop()
			return call.Err
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// Connections returns how many connections to the manager the client has
// made so far: 1 after the first, one more after each reconnection.
func (s *Client) Connections() uint64 { return s.connections.Load() }

// Snapshot is one reading of systemd: immutable, safe to share.
type Snapshot struct {
	snap *cacheView
	// conn is the connection it was read on (Client.Connections then).
	conn  uint64
	named map[string]sdbus.UnitStatus // the checks' units, read this scrape
	// extras are the checks' loaded units' file state and state change
	// time, read this scrape.
	extras map[string]namedExtras

	triggeredOnce sync.Once
	triggeredBy   map[string][]string // unit -> the socket units that trigger it

	// The failed units Failed lists (see failed.go), and when the ones
	// not read by name failed, read this scrape.
	failedOnce  sync.Once
	failed      []string
	failedMore  int
	failedSince map[string]uint64
}

// Connection is the number of the connection the snapshot's units were
// read on (see Client.Connections); 0 for one not read from a manager.
func (r *Snapshot) Connection() uint64 { return r.conn }

// Unit returns what is known of a unit: its state (fresh this scrape for the
// checks' units) and the cached extras.
func (r *Snapshot) Unit(name string) (Unit, bool) {
	u, cached := r.snap.units[name]
	st, named := r.named[name]
	if !named {
		return u, cached
	}
	u.Name, u.LoadState, u.ActiveState, u.SubState = name, st.LoadState, st.ActiveState, st.SubState
	x := r.extras[name]
	u.StateChangeTimestamp = x.StateChange
	u.StartLimitBurst, u.StartLimitIntervalUSec = x.StartLimitBurst, x.StartLimitInterval
	return u, true
}

// Triggers returns, for a socket unit, the services it activates:
// Triggers= when systemd reported it, else the service of the same name.
// r may be nil (systemd not read): the default then.
func (r *Snapshot) Triggers(socket string) []string {
	u := Unit{Name: socket}
	if r != nil {
		u, _ = r.Unit(socket)
		u.Name = socket
	}
	return u.Activates()
}

// Activators returns the socket units that activate service, as the cache
// last saw them: those whose Triggers= name it (by default foo.socket
// triggers foo.service). Only watched socket units are known; the default
// --systemd.unit-include watches every one.
func (r *Snapshot) Activators(service string) []Unit {
	r.triggeredOnce.Do(func() {
		r.triggeredBy = map[string][]string{}
		for _, name := range r.snap.names {
			if !strings.HasSuffix(name, ".socket") {
				continue
			}
			for _, t := range r.snap.units[name].Activates() {
				r.triggeredBy[t] = append(r.triggeredBy[t], name)
			}
		}
	})
	var out []Unit
	for _, name := range r.triggeredBy[service] {
		if u, ok := r.Unit(name); ok {
			out = append(out, u)
		}
	}
	return out
}

// maxGlobs bounds how many patterns one include regexp may expand to.
const maxGlobs = 64

// globsForRegexp turns an anchored include regexp into fnmatch globs for
// ListUnitsByPatterns, so the manager filters before it answers. It handles
// literals, alternations and ".*"/".+"; anything else (classes, optional
// parts) returns nil, and the listing fetches every unit for us to filter.
// The regexp is applied to the result either way, so the globs only need
// to match a superset.
func globsForRegexp(re *regexp.Regexp) []string {
	if re == nil {
		return nil
	}
	expr := strings.TrimSuffix(strings.TrimPrefix(re.String(), "^(?:"), ")$")
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	globs, ok := globs(parsed.Simplify())
	if !ok || len(globs) == 0 {
		return nil
	}
	sort.Strings(globs)
	return slices.Compact(globs)
}

func globs(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		lit := string(re.Rune)
		// systemd matches with FNM_NOESCAPE: a glob character cannot be
		// escaped (and no unit name contains one anyway).
		if strings.ContainsAny(lit, "*?[") {
			return nil, false
		}
		return []string{lit}, true
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpCapture:
		return globs(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		if s := re.Sub[0]; s.Op == syntax.OpAnyChar || s.Op == syntax.OpAnyCharNotNL {
			if re.Op == syntax.OpStar {
				return []string{"*"}, true
			}
			return []string{"?*"}, true
		}
		return nil, false
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			g, ok := globs(sub)
			if !ok {
				return nil, false
			}
			out = append(out, g...)
		}
		return out, len(out) <= maxGlobs
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			g, ok := globs(sub)
			if !ok {
				return nil, false
			}
			next := make([]string, 0, len(out)*len(g))
			for _, prefix := range out {
				for _, suffix := range g {
					next = append(next, prefix+suffix)
				}
			}
			if len(next) > maxGlobs {
				return nil, false
			}
			out = next
		}
		return out, true
	}
	return nil, false
}

// Names are the cached units, sorted. The slice is shared: do not modify.
func (r *Snapshot) Names() []string { return r.snap.names }

// Named reports whether name was read by name in this snapshot.
func (r *Snapshot) Named(name string) bool {
	_, ok := r.named[name]
	return ok
}

// NamedUnits are the units read by name in this snapshot, sorted.
func (r *Snapshot) NamedUnits() []string {
	return slices.Sorted(maps.Keys(r.named))
}

// FileState is the UnitFileState of a unit read by name (enabled,
// disabled, static, masked, ...); "" when unknown.
func (r *Snapshot) FileState(name string) string { return r.extras[name].FileState }

// SameCache reports whether r and o were read from the same state of the
// cache (nil is never the same): what is derived from the cached units
// alone can be kept from one to the other.
func (r *Snapshot) SameCache(o *Snapshot) bool {
	return r != nil && o != nil && r.snap == o.snap
}

// SnapshotOf returns a snapshot holding units as cached, none read by
// name: captured or made-up data for the layers above, in tests and
// benchmarks.
func SnapshotOf(units ...Unit) *Snapshot {
	v := &cacheView{units: make(map[string]Unit, len(units)), names: make([]string, 0, len(units))}
	for _, u := range units {
		if _, dup := v.units[u.Name]; !dup {
			v.names = append(v.names, u.Name)
		}
		v.units[u.Name] = u
	}
	sort.Strings(v.names)
	return &Snapshot{snap: v}
}

// maxPendingChanges bounds the views a slow watch has not taken yet;
// past it the newest is dropped (Cached still has it): a burst of more
// state changes than this between two looks is coalesced.
const maxPendingChanges = 64

// Changes returns the views of the units that follow each change of state
// (ActiveState) of a unit read by name (the checks' units): every state it
// passes through, in order, as the cache applies the manager's signals.
// The units read by name are not in them (see WithNamed). Calling it turns
// the watch on: from then on the cache also publishes its view for Cached.
func (s *Client) Changes() <-chan *Snapshot {
	s.watching.Store(true)
	return s.changes
}

func (s *Client) notifyChange(v *cacheView) {
	select {
	case s.changes <- &Snapshot{snap: v}:
	default:
	}
}

// ErrNoView is Cached's error before the cache has a view to give: not
// connected or not synced yet, or Changes was never called.
var ErrNoView = errors.New("no view of the units yet")

// Cached returns the units as the cache last saw them, without a call to
// the manager: what a watch reads between scrapes, WithNamed(last).
func (s *Client) Cached(last *Snapshot) (*Snapshot, error) {
	s.mu.Lock()
	cache := s.cache
	s.mu.Unlock()
	if cache == nil {
		return nil, ErrNoView
	}
	view := cache.latest.Load()
	if view == nil {
		return nil, ErrNoView
	}
	return (&Snapshot{snap: view, conn: cache.number}).WithNamed(last), nil
}

// WithNamed returns r with the units last read by name (in last; nil for
// none) that r's cache view does not hold (not loaded): they have no
// object to signal about until they are loaded, which the cache sees.
func (r *Snapshot) WithNamed(last *Snapshot) *Snapshot {
	out := &Snapshot{snap: r.snap, conn: r.conn}
	if last != nil {
		for name, st := range last.named {
			if _, cached := r.snap.units[name]; !cached {
				if out.named == nil {
					out.named = map[string]sdbus.UnitStatus{}
				}
				out.named[name] = st
			}
		}
		out.extras = last.extras
	}
	return out
}

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

package daemonconf

import (
	"cmp"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// UnitState is what the reader needs of a unit, from the systemd layer.
type UnitState struct {
	Name string
	// Started identifies the run: ActiveEnterTimestamp (µs) and MainPID.
	// A new run reads the unit's ExecStart again (its config file may be
	// another) and the configuration anew.
	Started uint64
	MainPID uint32
	// Up: active or reloading. A configuration changed while the unit is
	// down is applied at its next start: not "not applied".
	Up bool
	// Applied is when the running daemon last read its configuration:
	// the unit's last state change (a reload goes reloading -> active);
	// zero when not known.
	Applied time.Time
	// StartedAt is when the unit last entered active (zero when never):
	// a configuration older than that was read, even when Applied is not
	// known (the first evaluation reads no unit's last state change but
	// the checks'), so what it asks for is what the daemon holds.
	StartedAt time.Time
}

// ExecFunc reads how a unit starts (systemd.Client.ServiceExec).
type ExecFunc func(ctx context.Context, unit string) (systemd.Exec, error)

// Expectation is what one unit's daemon configuration expects.
type Expectation struct {
	Daemon string
	File   string // the main configuration file
	// Listens are the sockets the configuration asks for; meaningful only
	// when Err is nil.
	Listens []Listen
	// Err says why the configuration could not be read or parsed (the
	// check then falls back to learning).
	Err error
	// NotApplied: the configuration's files changed after the unit last
	// (re)started or reloaded, and say something else than what they said
	// when it did, as far as the reader saw.
	NotApplied bool
	// Applied are the sockets of the configuration the running daemon
	// read, when NotApplied and it is known (the reader saw it before the
	// edit): what it is expected to hold until it applies the new one.
	Applied      []Listen
	AppliedKnown bool
	// Settling: the daemon applied a configuration that asks for other
	// sockets less than the settle window ago (a reload, a restart); Previous
	// are the sockets of the one it ran before. A reload binds the new
	// ports after systemd reports it done (nginx's master does it on
	// SIGHUP, after "nginx -s reload" returned): until then a port moved
	// on purpose is neither bound nor an outage.
	Settling bool
	Previous []Listen
	// Gen and AppliedGen identify the reads Listens and Applied come from:
	// unique in the reader's life, so a caller may keep what it derives
	// from them (the check's ports, their wording) until they change.
	Gen, AppliedGen uint64
	// Changed is when its files last changed: their newest mtime; when the
	// reader saw their content change (a watched edit), their ctime if
	// later — the kernel's to set, so a file put back with last week's
	// mtime (cp -p, tar, rsync -t, dpkg's conffiles) changed now. Not the
	// ctime alone: a chmod or an ACL grant (the one the README gives for
	// redis.conf) changes it too, and no content.
	Changed time.Time
}

// SettleWindow is the default Reader.Settle: how long after a unit
// applied a configuration that moved its sockets the new ones may be
// missing. Seen on a booted Debian host: nginx, sshd, haproxy and Apache
// bind theirs a few milliseconds after their reload returns, and one
// scrape in four in between saw the new port down; 10 s leaves a daemon
// that binds late (a slow start) its time, and delays the page of a port
// that cannot bind by as much (it waits 2 minutes anyway).
const SettleWindow = 10 * time.Second

// maxUnits caps the units the reader keeps (least recently asked for goes
// first): a host runs a handful of these daemons.
const maxUnits = 256

// pollEvery is how often a configuration that cannot be watched (no
// inotify, or past its limits) is parsed again.
const pollEvery = 30 * time.Second

// Reader reads and caches the daemons' configurations, per unit.
type Reader struct {
	// Root prefixes every path read (tests); "" on a host.
	Root string
	Now  func() time.Time
	// Daemons are the daemons known; nil for All.
	Daemons []*Daemon
	// Settle is the settle window; 0 for SettleWindow.
	Settle time.Duration

	mu      sync.Mutex
	units   map[string]*unitEntry
	watch   *watcher // nil: inotify unavailable, configurations are polled
	watchOK bool     // newWatcher was tried
	tick    uint64   // counts Expect batches, for least-recently-used eviction
	gens    uint64   // counts parses: Expectation.Gen
}

type unitEntry struct {
	started  uint64
	mainPID  uint32
	execRead bool // ExecStart was read for this run (or not needed)
	daemon   *Daemon
	spec     Spec

	parsed  bool
	dirty   bool
	polled  bool // some directory could not be watched
	parseAt time.Time
	watched []string
	exp     Expectation
	digest  [32]byte

	applied        [32]byte  // the digest the running daemon is known to have read
	appliedListens []Listen  // what that configuration asked for
	appliedGen     uint64    // and the read it came from
	previous       []Listen  // what the configuration applied before it asked for
	switchedAt     time.Time // when the unit applied it (its last state change)

	haveApplied bool
	used        uint64
}

// NewReader returns a reader of the host's configurations.
func NewReader() *Reader { return &Reader{Now: time.Now, units: map[string]*unitEntry{}} }

// Close releases the inotify descriptor.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watch != nil {
		err := r.watch.close()
		r.watch = nil
		return err
	}
	return nil
}

// Begin starts an evaluation's batch of Expect calls: the changes since
// the last one mark the configurations to parse again.
func (r *Reader) Begin() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tick++
	if !r.watchOK {
		r.watchOK = true
		if w, err := newWatcher(); err == nil {
			r.watch = w
		}
	}
	if r.watch == nil {
		return
	}
	changed, all := r.watch.drain()
	if len(changed) == 0 && !all {
		return
	}
	for _, e := range r.units {
		if all {
			e.dirty = true
			continue
		}
		for _, d := range e.watched {
			if changed[below(r.Root, d)] {
				e.dirty = true
				break
			}
		}
	}
}

// Expect returns what unit u's daemon configuration expects; ok is false
// when u runs no daemon the reader knows. exec reads how the unit starts,
// once per run of the unit (nil: the defaults' paths are used), under
// r.mu: bounded by ctx, ~1 ms. byExec: a unit whose name is no daemon's
// is known by its ExecStart's executable too (a configured check's unit);
// otherwise its name alone decides, and no ExecStart is read for it.
func (r *Reader) Expect(ctx context.Context, u UnitState, exec ExecFunc, byExec bool) (Expectation, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.units[u.Name]
	if e == nil || e.started != u.Started || e.mainPID != u.MainPID {
		prev := e
		e = &unitEntry{started: u.Started, mainPID: u.MainPID, daemon: r.byUnit(u.Name, nil)}
		if prev != nil {
			// The digest the last run was known to have read stands until
			// this run's configuration is read.
			e.applied, e.appliedListens, e.appliedGen, e.haveApplied = prev.applied, prev.appliedListens, prev.appliedGen, prev.haveApplied
			e.previous, e.switchedAt = prev.previous, prev.switchedAt
		}
		r.evictFor(u.Name)
		r.units[u.Name] = e
	}
	e.used = r.tick
	if e.daemon == nil && !byExec {
		return Expectation{}, false
	}
	if !e.execRead {
		var argv []string
		if exec != nil {
			x, err := exec(ctx, u.Name)
			if err != nil && ctx.Err() != nil {
				// Read again next time: this run's command line is not known.
				argv = nil
			} else {
				e.execRead = true
				if err == nil {
					argv = Argv(&Files{Root: r.Root}, x)
				}
			}
		} else {
			e.execRead = true
		}
		if e.daemon == nil {
			e.daemon = r.byUnit(u.Name, argv)
		}
		if e.daemon != nil {
			e.spec = Spec{Unit: u.Name, Argv: argv}
			if e.daemon.Config != nil {
				e.spec.Config = e.daemon.Config(u.Name, argv)
			}
			e.parsed = false
		}
	}
	if e.daemon == nil {
		return Expectation{}, false
	}
	if !e.parsed || e.dirty || e.polled && r.Now().Sub(e.parseAt) >= pollEvery {
		r.parse(e, r.Now())
	}
	if e.daemon.BindsAtStart {
		// A reload applies none of its sockets: only a start does.
		u.Applied = u.StartedAt
	}
	exp := e.exp
	exp.NotApplied = r.notApplied(e, u)
	if exp.NotApplied && e.haveApplied {
		exp.Applied, exp.AppliedKnown, exp.AppliedGen = e.appliedListens, true, e.appliedGen
	}
	if !exp.NotApplied && !e.switchedAt.IsZero() && r.Now().Sub(e.switchedAt) < cmp.Or(r.Settle, SettleWindow) {
		exp.Settling, exp.Previous = true, e.previous
	}
	return exp, true
}

// parse reads e's configuration and watches its directories (r.mu held).
func (r *Reader) parse(e *unitEntry, now time.Time) {
	f := &Files{Root: r.Root}
	r.gens++
	prevChanged := e.exp.Changed
	e.exp = Expectation{Daemon: e.daemon.Name, File: e.spec.Config, Gen: r.gens}
	if e.daemon.Parse == nil {
		e.exp.Err = errors.New("no parser for " + e.daemon.Name)
	} else {
		e.exp.Listens, e.exp.Err = e.daemon.Parse(f, e.spec)
	}
	e.exp.Changed = f.Newest()
	switch d := f.Digest(); {
	case !e.parsed:
	case d != e.digest:
		e.exp.Changed = f.NewestChanged()
	case prevChanged.After(e.exp.Changed):
		e.exp.Changed = prevChanged // the same content: when it changed stands
	}
	e.digest = f.Digest()
	e.parsed, e.dirty, e.parseAt = true, false, now
	e.watched = f.Watched()
	e.polled = r.watch == nil
	if r.watch != nil {
		for _, d := range e.watched {
			if !r.watch.add(below(r.Root, d)) {
				e.polled = true
			}
		}
	}
	if e.exp.Err != nil && e.spec.Config != "" {
		// A missing or unreadable main file's directory is watched too:
		// the file's creation or a new permission is a change.
		e.watched = append(e.watched, filepath.Dir(e.spec.Config))
		if r.watch == nil || !r.watch.add(below(r.Root, filepath.Dir(e.spec.Config))) {
			e.polled = true
		}
	}
}

// notApplied decides whether the running daemon has not read its
// configuration as it is now (r.mu held). The configuration is applied
// when it is what the daemon is known to have read (same digest), or
// when none of its files changed after the unit's last state change (its
// start or reload); then its digest is the one known read. Not known when
// the unit is down (it reads the configuration at its next start) or when
// the time of its last change is not known.
func (r *Reader) notApplied(e *unitEntry, u UnitState) bool {
	if !u.Up || e.exp.Err != nil {
		return false
	}
	if e.haveApplied && e.digest == e.applied {
		return false
	}
	if u.Applied.IsZero() {
		if !u.StartedAt.IsZero() && !e.exp.Changed.After(u.StartedAt) && !e.haveApplied {
			// Older than the start: read by this run, for sure.
			e.applied, e.appliedListens, e.appliedGen, e.haveApplied = e.digest, e.exp.Listens, e.exp.Gen, true
		}
		return false
	}
	if !e.exp.Changed.After(u.Applied) {
		if e.haveApplied && !sameSockets(e.appliedListens, e.exp.Listens) {
			e.previous, e.switchedAt = e.appliedListens, u.Applied
		}
		e.applied, e.appliedListens, e.appliedGen, e.haveApplied = e.digest, e.exp.Listens, e.exp.Gen, true
		return false
	}
	return true
}

// MarkApplied records that unit's daemon runs the configuration read gen
// (an Expectation.Gen): seen listening where it says, though systemd's
// timestamps say nothing of it (a kill -HUP). From then on it is the one
// the daemon is known to have read, as if a reload had applied it.
func (r *Reader) MarkApplied(unit string, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.units[unit]; e != nil && e.parsed && e.exp.Gen == gen && e.exp.Err == nil {
		e.applied, e.appliedListens, e.appliedGen, e.haveApplied = e.digest, e.exp.Listens, e.exp.Gen, true
	}
}

// evictFor makes room for one more unit (r.mu held).
func (r *Reader) evictFor(name string) {
	if _, ok := r.units[name]; ok || len(r.units) < maxUnits {
		return
	}
	var oldest string
	var used uint64
	for n, e := range r.units {
		if oldest == "" || e.used < used {
			oldest, used = n, e.used
		}
	}
	delete(r.units, oldest)
}

func (r *Reader) byUnit(unit string, argv []string) *Daemon {
	if r.Daemons != nil {
		return byUnitIn(r.Daemons, unit, argv)
	}
	return ByUnit(unit, argv)
}

// sameSockets reports whether a and b ask for the same sockets, wherever
// they say so.
func sameSockets(a, b []Listen) bool {
	if len(a) != len(b) {
		return false
	}
	for _, l := range a {
		if !hasSocket(b, l.socket()) {
			return false
		}
	}
	return true
}

// Settled are the sockets of listens that previous asked for too: while a
// daemon settles on a new configuration, those it binds anew are not yet
// expected.
func Settled(listens, previous []Listen) []Listen {
	var out []Listen
	for _, l := range listens {
		if hasSocket(previous, l.socket()) {
			out = append(out, l)
		}
	}
	return out
}

// hasSocket reports whether one of ls is socket s.
func hasSocket(ls []Listen, s socket) bool {
	return slices.ContainsFunc(ls, func(l Listen) bool { return l.socket() == s })
}

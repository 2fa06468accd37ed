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

package discovery

import (
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// How discovery follows a unit's ports as they change: a move (the
// service now listens elsewhere), a detour (it went elsewhere and came
// back), and ports that vary at each start.

// gap is a learned port that came back: when it was first seen, and when
// it was last seen before it went away.
type gap struct {
	port            string
	firstSeen, from time.Time
}

// detour reports whether lp (at key) was where the unit went while away
// from the port g: a port that appeared after g's and was held during g's
// absence. Reloads overlap: the unit may hold both for a moment either
// way, so neither "appeared after g left" nor "gone when g came back" is
// required.
func (g gap) detour(key string, lp *learnedPort) bool {
	return key != g.port && lp.FirstSeen.After(g.firstSeen) && lp.LastSeen.After(g.from)
}

// follow drops the learned ports of unit that it has moved away from, so
// the check follows the service instead of expecting every port it ever
// held:
//
//   - back on a port it had left (80 -> 8080 -> 80): the ports that
//     appeared while it was away and are gone again are dropped at once;
//   - on a new port while a learned one has been missing for
//     RelearnAfter, the unit active without a restart all that time: the
//     missing one is dropped (80 -> 8080 and staying: port_down for an
//     hour, then ok on 8080).
//
// A port that vanishes while the unit listens on nothing new is kept:
// that is the outage the check is for.
func (d *Discovery) follow(unit string, lu *learnedUnit, seenNow map[string]learnedPort, returned []gap, units *systemd.Snapshot, now time.Time) bool {
	u, _ := units.Unit(unit)
	activeSince := time.UnixMicro(int64(u.ActiveEnterTimestamp))
	stable := u.Active() && (u.ActiveEnterTimestamp == 0 || now.Sub(activeSince) >= d.opts.RelearnAfter)
	var newest time.Time // when the newest port it holds now first appeared
	for key := range seenNow {
		if lp := lu.Ports[key]; lp != nil && lp.FirstSeen.After(newest) {
			newest = lp.FirstSeen
		}
	}
	changed := false
	for key, lp := range lu.Ports {
		switch {
		case lp.Learned && slices.ContainsFunc(returned, func(g gap) bool { return g.detour(key, lp) }):
			lp.DetourSince, changed = now, true
		case !lp.DetourSince.IsZero() && now.Sub(lp.DetourSince) >= d.opts.RelearnAfter:
			lp.DetourSince, changed = time.Time{}, true
		}
	}
	for key, lp := range lu.Ports {
		if _, held := seenNow[key]; held || !lp.Learned {
			continue
		}
		var why string
		switch {
		case !lp.DetourSince.IsZero():
			why = "the unit is back on a port it had left"
		case stable && now.Sub(lp.LastSeen) >= d.opts.RelearnAfter && newest.After(lp.LastSeen):
			why = "the unit has listened elsewhere for --discovery.relearn-after"
		default:
			continue
		}
		level.Info(d.opts.Logger).Log("msg", "discovery follows the service: a port it left is no longer expected", "unit", unit, "port", key, "why", why)
		delete(lu.Ports, key)
		changed = true
	}
	return changed
}

// varyAfterMoves is how many restarts in a row must each bring a unit up
// on ports it never held before, none of its earlier ones back, for its
// ports to be taken as varying at each start. One such restart is a move
// (a port changed in its configuration: follow handles it); a service
// that binds a random port each start (23952, then 24261, ...) makes two
// within its second restart, and every one after pages for an hour.
const varyAfterMoves = 2

// noteRun follows the unit's runs (by ActiveEnterTimestamp) and, at the
// first scrape of a new run that sees it listening, whether it moved to
// ports never seen before. After varyAfterMoves such runs in a row the
// protos it moved on vary: the check expects any port of the unit's own
// of those protos, and their specific ports are dropped. It reports
// whether the state changed.
func (d *Discovery) noteRun(unit string, lu *learnedUnit, seenNow map[string]learnedPort, units *systemd.Snapshot) bool {
	u, _ := units.Unit(unit)
	if !u.Active() || u.ActiveEnterTimestamp == 0 || len(seenNow) == 0 {
		return false
	}
	start := time.UnixMicro(int64(u.ActiveEnterTimestamp))
	if !start.After(lu.RunStart) {
		return d.pruneVarying(lu, seenNow) // the same run
	}
	first := lu.RunStart.IsZero()
	lu.RunStart = start
	if !first {
		d.noteMove(unit, lu, seenNow, start)
	}
	d.pruneVarying(lu, seenNow)
	return true
}

// noteMove counts the first sight of a run that began at start: a move
// when every port the unit holds now was first seen in this run (one
// first seen before it began is a port it came back to).
func (d *Discovery) noteMove(unit string, lu *learnedUnit, seenNow map[string]learnedPort, start time.Time) {
	var protos []string
	for key := range seenNow {
		lp := lu.Ports[key]
		if lp == nil || lp.FirstSeen.Before(start) {
			lu.Moves = 0
			return
		}
		if !slices.Contains(protos, lp.Proto) {
			protos = append(protos, lp.Proto)
		}
	}
	lu.Moves = min(lu.Moves+1, varyAfterMoves)
	if lu.Moves < varyAfterMoves {
		return
	}
	slices.Sort(protos)
	var added []string
	for _, p := range protos {
		if !slices.Contains(lu.Varies, p) {
			lu.Varies = append(lu.Varies, p)
			added = append(added, p)
		}
	}
	slices.Sort(lu.Varies)
	if len(added) > 0 {
		level.Info(d.opts.Logger).Log("msg", "discovery: the unit's ports vary at each start (new ones at each of its last restarts); it now expects any port of its own of these protos",
			"unit", unit, "protos", strings.Join(added, ","), "restarts", varyAfterMoves)
	}
}

// pruneVarying drops the ports of the unit's varying protos that it does
// not hold now: they are not expected, and kept they would grow the state
// by one port per restart.
func (d *Discovery) pruneVarying(lu *learnedUnit, seenNow map[string]learnedPort) bool {
	changed := false
	for key, lp := range lu.Ports {
		if _, held := seenNow[key]; !held && slices.Contains(lu.Varies, lp.Proto) {
			delete(lu.Ports, key)
			changed = true
		}
	}
	return changed
}

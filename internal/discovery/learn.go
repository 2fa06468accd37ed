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
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// forgetNotFoundAfter is how long a learned unit systemd reports
// not-found is kept: long enough for a package upgrade that removes and
// reinstalls a unit file, short enough that a removed transient unit does
// not page for a day.
const forgetNotFoundAfter = 10 * time.Minute

// dropNils removes nil entries and returns how many ports are learned or
// candidates. load admits no nil, but a nil here would panic every scrape
// and take every check's series with it: cheap to rule out.
func (d *Discovery) dropNils() (ports int) {
	for unit, lu := range d.st.Units {
		if lu == nil {
			delete(d.st.Units, unit)
			continue
		}
		if lu.Ports == nil {
			lu.Ports = map[string]*learnedPort{}
		}
		for key, lp := range lu.Ports {
			if lp == nil {
				delete(lu.Ports, key)
			}
		}
		ports += len(lu.Ports)
	}
	return ports
}

// listening returns, per service unit, the ports it holds now (through
// the owners of its listeners ls, owners[i] holding ls[i]) or that its
// socket units declare (declared, by "unit key": learned as soon as seen).
func (d *Discovery) listening(cfg *config.Config, units *systemd.Snapshot, ls []listeners.Listener, owners []owner.Owner) (seen map[string]map[string]learnedPort, declared map[string]bool) {
	triggers := units.Triggers
	seen, declared = map[string]map[string]learnedPort{}, map[string]bool{}
	note := func(unit, proto, addr string, port int) {
		// What load would drop is not learned (a listener with no
		// address, a Listen= of port 0).
		if _, err := learnedPortValid(proto, addr, port); err != nil {
			return
		}
		if seen[unit] == nil {
			seen[unit] = map[string]learnedPort{}
		}
		seen[unit][learnedKey(proto, addr, port)] = learnedPort{Proto: proto, Address: addr, Port: port}
	}
	ephemeral := func(port int) bool {
		lo, hi := d.opts.EphemeralPorts[0], d.opts.EphemeralPorts[1]
		return !cfg.Discovery.LearnEphemeralPorts && lo > 0 && port >= lo && port <= hi
	}
	for i, l := range ls {
		if i >= len(owners) || owners[i].Unit == "" {
			continue
		}
		port := int(l.Port)
		if ephemeral(port) || cfg.Discovery.ExcludesPort(port) {
			continue
		}
		for _, svc := range serviceOf(owners[i].Unit, triggers) {
			if u, ok := units.Unit(svc); ok && u.Loaded() && !cfg.Discovery.ExcludesUnit(svc) {
				note(svc, l.Proto, l.Addr.String(), port)
			}
		}
	}
	for _, name := range units.SocketUnits() {
		u, _ := units.Unit(name)
		for _, ls := range u.Listen {
			addr, port, ok := ls.AddrPort()
			proto := map[string]string{"Stream": "tcp", "Datagram": "udp"}[ls.Type]
			if !ok || proto == "" {
				continue
			}
			a := ""
			if addr.IsValid() {
				a = addr.String()
			}
			for _, svc := range serviceOf(name, triggers) {
				if cfg.Discovery.ExcludesUnit(svc) || cfg.Discovery.ExcludesPort(int(port)) {
					continue
				}
				note(svc, proto, a, int(port))
				declared[svc+" "+learnedKey(proto, a, int(port))] = true
			}
		}
	}
	return seen, declared
}

// record notes what each unit holds now: new candidates (within the caps),
// candidates held for the min age (or declared) become learned, and the
// unit is followed where it moved. It reports whether the learned state
// changed.
func (d *Discovery) record(seen map[string]map[string]learnedPort, declared map[string]bool, units *systemd.Snapshot, ports int, now time.Time) (changed bool) {
	// In name and key order: at a cap, what is learned does not depend on
	// the order of a map.
	for _, unit := range slices.Sorted(maps.Keys(seen)) {
		lu := d.st.Units[unit]
		// When the unit was last seen holding a port: a learned port last
		// seen before that was missing then.
		var prevLatest time.Time
		if lu != nil {
			for _, lp := range lu.Ports {
				if lp.LastSeen.After(prevLatest) {
					prevLatest = lp.LastSeen
				}
			}
		}
		var returned []gap // the learned ports that came back, and from when
		for _, key := range slices.Sorted(maps.Keys(seen[unit])) {
			var lp *learnedPort
			if lu != nil {
				lp = lu.Ports[key]
			}
			if lp != nil && lp.Learned && lp.LastSeen.Before(prevLatest) {
				returned = append(returned, gap{port: key, firstSeen: lp.FirstSeen, from: lp.LastSeen})
			}
			if lp == nil {
				if !d.room(lu, ports, unit, key) {
					continue
				}
				if lu == nil {
					lu = &learnedUnit{Ports: map[string]*learnedPort{}}
					d.st.Units[unit] = lu
				}
				p := seen[unit][key]
				lp = &learnedPort{Proto: p.Proto, Address: p.Address, Port: p.Port, FirstSeen: now}
				lu.Ports[key] = lp
				ports++
			}
			lp.LastSeen = now
			if !lp.Learned && (now.Sub(lp.FirstSeen) >= d.opts.MinAge || declared[unit+" "+key]) {
				lp.Learned, changed = true, true
				d.logLearned(unit, lu, lp, declared[unit+" "+key], now)
			}
		}
		if lu != nil && d.follow(unit, lu, seen[unit], returned, units, now) {
			changed = true
		}
		if lu != nil && d.noteRun(unit, lu, seen[unit], units) {
			changed = true
		}
	}
	return changed
}

// expire drops the candidates not seen again within the min age (they
// were ephemeral) and forgets the units that are gone; it reports whether
// the state file should be written.
func (d *Discovery) expire(units *systemd.Snapshot, now time.Time) (changed bool) {
	loaded := false
	for unit, lu := range d.st.Units {
		for key, lp := range lu.Ports {
			if !lp.Learned && now.Sub(lp.LastSeen) > d.opts.MinAge {
				delete(lu.Ports, key)
			}
		}
		if u, ok := units.Unit(unit); ok && u.Loaded() {
			lu.LastLoaded, loaded = now, true
		} else if !lu.LastLoaded.IsZero() && now.Sub(lu.LastLoaded) > d.opts.ForgetAfter {
			level.Info(d.opts.Logger).Log("msg", "forgetting a unit gone for longer than --discovery.forget-after", "unit", unit)
			delete(d.st.Units, unit)
			changed = true
			continue
		} else if ok && u.NotFound() && now.Sub(laterOf(lu.LastLoaded, d.started)) > forgetNotFoundAfter {
			// No unit file and not loaded (a transient unit removed, a
			// package purged): it will not come back by itself. Read by
			// name, so a unit merely stopped (and unloaded) is loaded, not
			// not-found.
			level.Info(d.opts.Logger).Log("msg", "forgetting a learned unit systemd no longer knows", "unit", unit)
			delete(d.st.Units, unit)
			changed = true
			continue
		}
		if len(lu.Ports) == 0 && len(lu.Varies) == 0 {
			delete(d.st.Units, unit)
		}
	}
	// The file's last_loaded is what a restart judges a unit by: written
	// only when something else changed, it was the time a unit was
	// learned, and a restart on a quiet host forgot at once a unit that
	// was loaded until minutes before.
	if loaded && now.Sub(d.saved) >= d.refreshEvery() {
		changed = true
	}
	return changed
}

// refreshEvery is how often the state file's last_loaded is brought up to
// date while units are loaded: hourly, or 24 times per
// --discovery.forget-after when that is shorter, so a restart forgets a
// unit at most a 24th of forget-after early (1h of the default 24h).
func (d *Discovery) refreshEvery() time.Duration {
	return min(time.Hour, d.opts.ForgetAfter/24)
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// room reports whether a new port may be added to lu (nil for a new unit)
// holding ports in all, and logs the first time one may not: the caps hold
// until units are forgotten or candidates expire, and a warning per scrape
// would say nothing new.
func (d *Discovery) room(lu *learnedUnit, ports int, unit, key string) bool {
	var full string
	switch {
	case lu == nil && len(d.st.Units) >= maxStateUnits:
		full = fmt.Sprintf("%d units", maxStateUnits)
	case lu != nil && len(lu.Ports) >= maxStateUnitPorts:
		full = fmt.Sprintf("%d ports per unit", maxStateUnitPorts)
	case ports >= maxStatePorts:
		full = fmt.Sprintf("%d ports", maxStatePorts)
	default:
		return true
	}
	if !d.full {
		d.full = true
		level.Warn(d.opts.Logger).Log("msg", "discovery is at a cap: it learns no new port until some are forgotten (logged once)",
			"cap", full, "unit", unit, "port", key)
	}
	return false
}

// serviceOf maps an owner unit to the service units it stands for: itself
// if it is a service, the services a socket unit activates. Podman's
// health-check services stand for none (systemd.IsContainerHealthCheckUnit):
// one runs `podman healthcheck run` every interval and is judged through
// its container, not learned as a service of the host.
func serviceOf(unit string, triggers func(string) []string) []string {
	switch {
	case systemd.IsContainerHealthCheckUnit(unit):
	case strings.HasSuffix(unit, ".service"):
		return []string{unit}
	case strings.HasSuffix(unit, ".socket"):
		var out []string
		for _, t := range triggers(unit) {
			if strings.HasSuffix(t, ".service") && !systemd.IsContainerHealthCheckUnit(t) {
				out = append(out, t)
			}
		}
		return out
	}
	return nil
}

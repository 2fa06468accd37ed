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

package collector

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// Discovery learns implicit checks: every loaded service unit that holds a
// listener (itself, or through the socket unit that activates it), or whose
// socket unit declares Listen= addresses, becomes a check named after the
// unit, expecting the ports it was seen with. What is learned is kept for
// the life of the process and, with a state file, across restarts: a port
// that disappears later is exactly what the check is for.

// DiscoveryOptions configures discovery.
type DiscoveryOptions struct {
	// StateFile keeps what was learned across restarts; "" keeps it in
	// memory only.
	StateFile string
	// MinAge is how long a port must be seen before it is learned, so a
	// short-lived listener (a one-off tool, a test) is not.
	MinAge time.Duration
	// ForgetAfter is how long a unit may be gone (not loaded) before its
	// learned ports are forgotten.
	ForgetAfter time.Duration
	// RelearnAfter is how long a learned port may be missing, while its
	// unit has been active without a restart and listens on a port that
	// appeared since, before it is replaced by what the unit listens on now.
	RelearnAfter time.Duration
	// EphemeralPorts is the kernel's ephemeral port range (lo, hi),
	// net.ipv4.ip_local_port_range: listeners in it are not learned unless
	// the config's discovery.learn_ephemeral_ports says so. Zero: no range.
	EphemeralPorts [2]int
	Logger         log.Logger
	// Registerer, if set, gets the state file's metrics (its write
	// failures and last success); only with a StateFile.
	Registerer prometheus.Registerer
	// Now is time.Now outside tests.
	Now func() time.Time
}

// forgetNotFoundAfter is how long a learned unit systemd reports
// not-found is kept: long enough for a package upgrade that removes and
// reinstalls a unit file, short enough that a removed transient unit does
// not page for a day.
const forgetNotFoundAfter = 10 * time.Minute

// DefaultRelearnAfter is --discovery.relearn-after's default.
const DefaultRelearnAfter = time.Hour

type discovery struct {
	opts   DiscoveryOptions
	mu     sync.Mutex
	st     discoveryState
	full   bool // a cap kept observe from learning, and that was logged
	writer *stateWriter
	// started is when the state file was read: a unit's not-found grace
	// counts from then at the earliest, as the file's last_loaded may be
	// up to refreshEvery old.
	started time.Time
	// saved is when the state was last handed to the writer: the file's
	// last_loaded of the loaded units is refreshed every refreshEvery.
	saved time.Time
}

// The caps of what discovery holds. They bound the state file, and the
// scrape too: a learned unit is an implicit check of a dozen series, a
// learned port three more, and observe walks them all on every scrape.
const (
	// maxStateUnits: a host with more than a few hundred services holding
	// listeners is rare; 2,000 implicit checks is a fifth of
	// config.MaxChecks.
	maxStateUnits = 2000
	// maxStateUnitPorts keeps one unit that opens listeners without end (a
	// passive FTP server's data ports) from taking the other units' room.
	// Most services hold one to four ports; docker.service publishing 128
	// ports on IPv4 and IPv6 holds 256.
	maxStateUnitPorts = 256
	// maxStatePorts bounds every unit's ports together: 2,000 units of 256
	// ports would be a 150 MB file. With it a state at every cap is at most
	// 3.2 MB as save writes it, within maxStateFileBytes, so the exporter
	// never writes a file it would refuse at its next start
	// (TestDiscoveryStateAtTheCapsFitsTheFile).
	maxStatePorts = 8192
)

// discoveryState is what the state file holds.
type discoveryState struct {
	Version int                     `json:"version"`
	Units   map[string]*learnedUnit `json:"units"`
}

type learnedUnit struct {
	LastLoaded time.Time               `json:"last_loaded"`
	Ports      map[string]*learnedPort `json:"ports"`
	// RunStart is the ActiveEnterTimestamp of the run the unit was last
	// seen listening in, and Moves how many runs in a row it came up on
	// ports never seen before (see noteRun).
	RunStart time.Time `json:"run_start,omitzero"`
	Moves    int       `json:"moves,omitempty"`
	// Varies are the protos ("tcp", "udp") whose ports vary at each
	// start: the check expects any port of the unit's own of each.
	Varies []string `json:"varies,omitempty"`
}

type learnedPort struct {
	Proto     string    `json:"proto"`
	Address   string    `json:"address"`
	Port      int       `json:"port"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Learned   bool      `json:"learned"`
	// DetourSince marks a port the unit moved to and then came back from
	// (80 -> 8080 -> 80: 8080), from the return on: once gone, it is no
	// longer expected, even if it was still held at the return (a reload
	// binds the new sockets before it closes the old). Cleared after
	// RelearnAfter: a port held that long beside the other is the
	// service's.
	DetourSince time.Time `json:"detour_since,omitzero"`
}

const discoveryStateVersion = 1

func newDiscovery(opts DiscoveryOptions) *discovery {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ForgetAfter <= 0 {
		opts.ForgetAfter = 24 * time.Hour
	}
	if opts.RelearnAfter <= 0 {
		opts.RelearnAfter = DefaultRelearnAfter
	}
	d := &discovery{opts: opts, st: discoveryState{Version: discoveryStateVersion, Units: map[string]*learnedUnit{}},
		writer: newStateWriter(opts.StateFile, opts.Logger, opts.Registerer), started: opts.Now()}
	d.load()
	return d
}

// learnedPortValid checks a port as observe would note it, and returns the
// address as observe spells it: "" (a socket unit's port-only Listen=) or
// an IP address without a zone, v4-mapped addresses unmapped.
func learnedPortValid(proto, address string, port int) (string, error) {
	if proto != "tcp" && proto != "udp" {
		return "", fmt.Errorf("has proto %q, not tcp or udp", proto)
	}
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("has port %d, out of range 1-65535", port)
	}
	if address == "" {
		return "", nil
	}
	addr, err := netip.ParseAddr(address)
	if err != nil || addr.Zone() != "" {
		return "", fmt.Errorf("has address %q, not an IP address without a zone", address)
	}
	return addr.Unmap().String(), nil
}

// learnedUnitName is systemd's unit_name_is_valid for the names discovery
// learns, which are service units only (serviceOf): at most 255 bytes
// (UNIT_NAME_MAX less its NUL) of [A-Za-z0-9:_.\-@\\], and a template only
// with an instance. config's validUnitName is this rule for every unit type.
func learnedUnitName(name string) error {
	const suffix = ".service"
	switch {
	case len(name) > 255:
		return errors.New("is longer than 255 bytes")
	case !strings.HasSuffix(name, suffix) || len(name) == len(suffix):
		return errors.New("is not a service unit")
	case strings.HasSuffix(name, "@"+suffix):
		return errors.New("is a template without an instance")
	case name[0] == '@':
		return errors.New("has an instance but no template")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":_.-@\\", r)) {
			return fmt.Errorf("contains %q, which systemd does not allow in unit names", r)
		}
	}
	return nil
}

// learnedKey is how a learned port is keyed in its unit.
func learnedKey(proto, address string, port int) string {
	return proto + " " + address + " " + strconv.Itoa(port)
}

// observe learns from one evaluation's units and host listeners (either
// may be nil: nothing is learned then) and returns the implicit checks:
// one per service unit with learned ports, except units (and names) the
// configured checks already cover. The state file is written off this
// path (see saveLocked).
func (d *discovery) observe(cfg *config.Config, units *systemd.Snapshot, host *listeners.Reading, owners []owner.Owner) []config.Check {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.opts.Now()
	ports := d.dropNils()
	if units != nil && host != nil {
		seen, declared := d.listening(cfg, units, host.Listeners, owners)
		changed := d.record(seen, declared, units, ports, now)
		if d.expire(units, now) || changed {
			d.saveLocked()
		}
	}
	return d.checks(cfg)
}

// dropNils removes nil entries and returns how many ports are learned or
// candidates. load admits no nil, but a nil here would panic every scrape
// and take every check's series with it: cheap to rule out.
func (d *discovery) dropNils() (ports int) {
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
// its listeners' owners) or that its socket units declare (declared, by
// "unit key": learned as soon as seen).
func (d *discovery) listening(cfg *config.Config, units *systemd.Snapshot, ls []listeners.Listener, owners []owner.Owner) (seen map[string]map[string]learnedPort, declared map[string]bool) {
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
			if u, ok := units.Unit(svc); ok && u.LoadState == "loaded" && !cfg.Discovery.ExcludesUnit(svc) {
				note(svc, l.Proto, l.Addr.String(), port)
			}
		}
	}
	for _, name := range units.Names() {
		if !strings.HasSuffix(name, ".socket") {
			continue
		}
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
func (d *discovery) record(seen map[string]map[string]learnedPort, declared map[string]bool, units *systemd.Snapshot, ports int, now time.Time) (changed bool) {
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
func (d *discovery) expire(units *systemd.Snapshot, now time.Time) (changed bool) {
	loaded := false
	for unit, lu := range d.st.Units {
		for key, lp := range lu.Ports {
			if !lp.Learned && now.Sub(lp.LastSeen) > d.opts.MinAge {
				delete(lu.Ports, key)
			}
		}
		if u, ok := units.Unit(unit); ok && u.LoadState == "loaded" {
			lu.LastLoaded, loaded = now, true
		} else if !lu.LastLoaded.IsZero() && now.Sub(lu.LastLoaded) > d.opts.ForgetAfter {
			level.Info(d.opts.Logger).Log("msg", "forgetting a unit gone for longer than --discovery.forget-after", "unit", unit)
			delete(d.st.Units, unit)
			changed = true
			continue
		} else if ok && u.LoadState == "not-found" && now.Sub(laterOf(lu.LastLoaded, d.started)) > forgetNotFoundAfter {
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
func (d *discovery) refreshEvery() time.Duration {
	return min(time.Hour, d.opts.ForgetAfter/24)
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// checks are the implicit checks: one per unit with learned ports that no
// configured check covers (by unit or by name), in name order.
func (d *discovery) checks(cfg *config.Config) []config.Check {
	configured := map[string]bool{}
	for _, c := range cfg.Checks {
		configured[c.Unit] = true
		configured[c.Name] = true
	}
	var out []config.Check
	for unit, lu := range d.st.Units {
		if configured[unit] {
			continue
		}
		c := config.Check{Name: unit, Unit: unit}
		for _, lp := range lu.Ports {
			if lp.Learned && !slices.Contains(lu.Varies, lp.Proto) {
				c.Ports = append(c.Ports, config.Port{Proto: lp.Proto, Address: lp.Address, Port: lp.Port})
			}
		}
		for _, proto := range lu.Varies {
			c.Ports = append(c.Ports, config.Port{Proto: proto, Port: config.AnyPort})
		}
		if len(c.Ports) == 0 {
			continue
		}
		sort.Slice(c.Ports, func(i, j int) bool { return portLess(c.Ports[i], c.Ports[j]) })
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// current returns the implicit checks as discovery holds them now,
// learning nothing.
func (d *discovery) current(cfg *config.Config) []config.Check {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.checks(cfg)
}

// learnedUnits returns the units discovery holds, sorted.
func (d *discovery) learnedUnits() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Sorted(maps.Keys(d.st.Units))
}

// ErrNotLearned is returned by Forget for a name discovery has not learned.
var ErrNotLearned = errors.New("not a learned check")

// ErrNotPersisted is returned by Forget when the state file could not be
// written: the check is not forgotten, as a restart would bring it back.
var ErrNotPersisted = errors.New("the discovery state file cannot be written")

// learned reports whether unit is a learned check.
func (d *discovery) learned(unit string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.st.Units[unit]
	return ok
}

// forget drops what was learned of unit and waits (within ctx) until the
// state file says so. When it cannot be written, the unit is put back and
// the error wraps ErrNotPersisted: answering "forgotten" for a unit a
// restart would load again is how a full disk went unnoticed.
func (d *discovery) forget(ctx context.Context, unit string) error {
	d.mu.Lock()
	lu, ok := d.st.Units[unit]
	if !ok {
		d.mu.Unlock()
		return fmt.Errorf("%q: %w", unit, ErrNotLearned)
	}
	delete(d.st.Units, unit)
	if d.opts.StateFile == "" {
		d.mu.Unlock()
		level.Info(d.opts.Logger).Log("msg", "forgot a learned check on request", "unit", unit)
		return nil
	}
	seq := d.saveLocked()
	d.mu.Unlock()
	err := errors.New("the state cannot be encoded")
	if seq != 0 {
		err = d.writer.wait(ctx, seq)
	}
	if err == nil {
		level.Info(d.opts.Logger).Log("msg", "forgot a learned check on request", "unit", unit, "file", d.opts.StateFile)
		return nil
	}
	// Put back as it was (a candidate noted since by a scrape is replaced
	// by what was learned), and hand the writer that state: its retry
	// must not write the forget after all.
	d.mu.Lock()
	d.st.Units[unit] = lu
	d.saveLocked()
	d.mu.Unlock()
	level.Warn(d.opts.Logger).Log("msg", "did not forget a learned check: the state file cannot be written", "unit", unit, "file", d.opts.StateFile, "err", err)
	return fmt.Errorf("%w (%s): %w", ErrNotPersisted, d.opts.StateFile, err)
}

// room reports whether a new port may be added to lu (nil for a new unit)
// holding ports in all, and logs the first time one may not: the caps hold
// until units are forgotten or candidates expire, and a warning per scrape
// would say nothing new.
func (d *discovery) room(lu *learnedUnit, ports int, unit, key string) bool {
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

func portLess(a, b config.Port) bool {
	if a.Port != b.Port {
		return a.Port < b.Port
	}
	if a.Proto != b.Proto {
		return a.Proto < b.Proto
	}
	return a.Address < b.Address
}

// serviceOf maps an owner unit to the service units it stands for: itself
// if it is a service, the services a socket unit activates.
func serviceOf(unit string, triggers func(string) []string) []string {
	switch {
	case strings.HasSuffix(unit, ".service"):
		return []string{unit}
	case strings.HasSuffix(unit, ".socket"):
		var out []string
		for _, t := range triggers(unit) {
			if strings.HasSuffix(t, ".service") {
				out = append(out, t)
			}
		}
		return out
	}
	return nil
}

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
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// discoveryScene is a captured view of a host: units and listeners with
// their owners, as the sources and the owner resolver give them.
type discoveryScene struct {
	units     map[string]systemd.Unit
	listeners []listeners.Listener
	owners    []owner.Owner
}

func (s discoveryScene) snapshot() *systemd.Snapshot {
	var units []systemd.Unit
	for name, u := range s.units {
		u.Name = name
		units = append(units, u)
	}
	return systemd.SnapshotOf(units...)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// observe is one evaluation's Learn of s.
func (s discoveryScene) observe(d *Discovery, cfg *config.Config) []config.Check {
	return d.Learn(cfg, s.snapshot(), s.listeners, s.owners)
}

// flush waits until the state handed to the writer has been tried once.
func (d *Discovery) flush() { d.writer.flush() }

// learnedChecks observes s and waits for the state file to be written.
func learnedChecks(d *Discovery, cfg *config.Config, s discoveryScene) []config.Check {
	checks := s.observe(d, cfg)
	d.flush()
	return checks
}

func lst(proto, addr string, port uint16, v6only bool) listeners.Listener {
	a := netip.MustParseAddr(addr)
	return listeners.Listener{Proto: proto, Addr: a, Port: port, IPv6: a.Is6(), V6Only: v6only, V6OnlyKnown: true}
}

func TestDiscoveryLearnsAfterMinAgeAndForgets(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	d := New(Options{MinAge: time.Minute, ForgetAfter: time.Hour, Now: c.now})
	loaded := systemd.Unit{LoadState: "loaded", ActiveState: "active"}
	scene := discoveryScene{
		units:     map[string]systemd.Unit{"web.service": loaded, "tool.service": loaded, "web.socket": {LoadState: "loaded", ActiveState: "active", Listen: []systemd.ListenSpec{{Type: "Stream", Address: "127.0.0.1:8443"}}}},
		listeners: []listeners.Listener{lst("tcp", "0.0.0.0", 80, false), lst("tcp", "127.0.0.1", 9999, false), lst("tcp", "127.0.0.1", 22, false)},
		owners:    []owner.Owner{{Unit: "web.service"}, {Unit: "tool.service"}, {Foreign: true}},
	}
	cfg := config.Default()
	got := learnedChecks(d, cfg, scene)
	// Only the socket unit's declared port is learned at once.
	if len(got) != 1 || got[0].Name != "web.service" || len(got[0].Ports) != 1 || got[0].Ports[0].Port != 8443 {
		t.Fatalf("first scrape: %+v", got)
	}
	// The tool's listener goes away before min-age: never learned.
	c.t = c.t.Add(30 * time.Second)
	scene.listeners, scene.owners = scene.listeners[:1], scene.owners[:1]
	learnedChecks(d, cfg, scene)
	c.t = c.t.Add(45 * time.Second)
	got = learnedChecks(d, cfg, scene)
	if len(got) != 1 || len(got[0].Ports) != 2 {
		t.Fatalf("after min-age: %+v", got)
	}
	// web.service is removed: kept while within forget-after, then forgotten.
	delete(scene.units, "web.service")
	delete(scene.units, "web.socket")
	scene.listeners, scene.owners = nil, nil
	c.t = c.t.Add(30 * time.Minute)
	if got = learnedChecks(d, cfg, scene); len(got) != 1 {
		t.Fatalf("within forget-after: %+v", got)
	}
	c.t = c.t.Add(2 * time.Hour)
	if got = learnedChecks(d, cfg, scene); len(got) != 0 {
		t.Fatalf("after forget-after: %+v", got)
	}
}

func TestDiscoveryConfiguredCheckReplacesImplicit(t *testing.T) {
	d := New(Options{})
	scene := discoveryScene{
		units:     map[string]systemd.Unit{"web.service": {LoadState: "loaded", ActiveState: "active"}, "db.service": {LoadState: "loaded", ActiveState: "active"}},
		listeners: []listeners.Listener{lst("tcp", "0.0.0.0", 80, false), lst("tcp", "127.0.0.1", 5432, false)},
		owners:    []owner.Owner{{Unit: "web.service"}, {Unit: "db.service"}},
	}
	cfg := &config.Config{Discovery: config.Discovery{Enabled: true}, Checks: []config.Check{{Name: "web", Unit: "web.service"}}}
	got := learnedChecks(d, cfg, scene)
	if len(got) != 1 || got[0].Name != "db.service" {
		t.Fatalf("implicit checks: %+v", got)
	}
}

// hcID is a container's full ID, as podman names its health-check units.
const hcID = "3f1c2b9a8e7d6c5b4a3928170615243342516070819a0b1c2d3e4f5a6b7c8d9e"

// Podman's health-check service (`podman healthcheck run <id>`, every
// interval) is never learned, even holding a listener or activated by a
// socket unit that declares one; a name that is not exactly podman's (63
// hex digits, upper case) is a service like any other.
func TestDiscoveryDoesNotLearnContainerHealthChecks(t *testing.T) {
	d := New(Options{})
	loaded := systemd.Unit{LoadState: "loaded", ActiveState: "active"}
	hc, short, upper := hcID+".service", hcID[1:]+".service", strings.ToUpper(hcID)+".service"
	scene := discoveryScene{
		units: map[string]systemd.Unit{
			hc: {LoadState: "loaded", ActiveState: "failed"}, hcID + ".timer": loaded, short: loaded, upper: loaded,
			hcID + ".socket": {LoadState: "loaded", ActiveState: "active", Listen: []systemd.ListenSpec{{Type: "Stream", Address: "127.0.0.1:8081"}}},
		},
		listeners: []listeners.Listener{lst("tcp", "0.0.0.0", 8080, false), lst("tcp", "0.0.0.0", 8082, false), lst("tcp", "0.0.0.0", 8083, false)},
		owners:    []owner.Owner{{Unit: hc}, {Unit: short}, {Unit: upper}},
	}
	got := learnedChecks(d, config.Default(), scene)
	var names []string
	for _, c := range got {
		names = append(names, c.Name)
	}
	if want := []string{upper, short}; !slices.Equal(names, want) {
		t.Errorf("implicit checks %v, want %v", names, want)
	}
	if units := d.LearnedUnits(); slices.Contains(units, hc) {
		t.Errorf("discovery holds %s: %v", hc, units)
	}
}

// Whatever the state holds, a scrape's observe must not panic: a panic
// there takes every check's series with it.
func TestDiscoveryLearnSurvivesNilEntries(t *testing.T) {
	d := New(Options{})
	d.st.Units["a.service"] = nil
	d.st.Units["b.service"] = &learnedUnit{}
	d.st.Units["c.service"] = &learnedUnit{Ports: map[string]*learnedPort{"tcp  80": nil}}
	scene := discoveryScene{
		units:     map[string]systemd.Unit{"b.service": {LoadState: "loaded"}, "c.service": {LoadState: "loaded"}, "b.socket": {LoadState: "loaded", Listen: []systemd.ListenSpec{{Type: "Stream", Address: "81"}}}},
		listeners: []listeners.Listener{},
	}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("observe panicked: %v", r)
		}
	}()
	got := learnedChecks(d, config.Default(), scene)
	if len(got) != 1 || got[0].Name != "b.service" || len(got[0].Ports) != 1 || got[0].Ports[0].Port != 81 {
		t.Fatalf("learned %+v", got)
	}
	// With no readings Learn only lists what it holds, as Current does.
	d.st.Units["d.service"] = nil
	d.st.Units["b.service"].Ports["tcp  82"] = nil
	d.Learn(config.Default(), nil, nil, nil)
	d.st.Units["d.service"] = nil
	d.st.Units["b.service"].Ports["tcp  82"] = nil
	if got := d.Current(config.Default()); len(got) != 1 || got[0].Name != "b.service" {
		t.Fatalf("current %+v", got)
	}
}

// At a cap observe learns nothing new, and says so once.
func TestDiscoveryLearnStopsAtTheCaps(t *testing.T) {
	c := &clock{t: stateNow}
	loaded := systemd.Unit{LoadState: "loaded", ActiveState: "active"}
	// fill gives units n ports each, all loaded and still listening.
	fill := func(d *Discovery, scene discoveryScene, units, ports int) {
		for u := range units {
			name := fmt.Sprintf("u%d.service", u)
			lu := &learnedUnit{LastLoaded: stateNow, Ports: map[string]*learnedPort{}}
			for i := range ports {
				lu.Ports[learnedKey("tcp", "", 1000+i)] = &learnedPort{Proto: "tcp", Port: 1000 + i, FirstSeen: stateNow, LastSeen: stateNow, Learned: true}
			}
			d.st.Units[name] = lu
			scene.units[name] = loaded
		}
	}
	// declare is a socket unit declaring port for svc: learned at once.
	declare := func(scene discoveryScene, svc string, port int) {
		scene.units[svc] = loaded
		scene.units[strings.TrimSuffix(svc, ".service")+".socket"] = systemd.Unit{LoadState: "loaded", ActiveState: "active", Listen: []systemd.ListenSpec{{Type: "Stream", Address: strconv.Itoa(port)}}}
	}
	for _, tc := range []struct {
		name         string
		units, ports int
		unit         string // declares a new port
	}{
		{"units", maxStateUnits, 1, "new.service"},
		{"ports of a unit", 1, maxStateUnitPorts, "u0.service"},
		{"ports of every unit", maxStatePorts / maxStateUnitPorts, maxStateUnitPorts, "new.service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			d := New(Options{Now: c.now, Logger: log.NewLogfmtLogger(&logs)})
			scene := discoveryScene{units: map[string]systemd.Unit{}, listeners: []listeners.Listener{}}
			fill(d, scene, tc.units, tc.ports)
			declare(scene, tc.unit, 9)
			for range 2 {
				for _, ch := range learnedChecks(d, config.Default(), scene) {
					for _, p := range ch.Ports {
						if p.Port == 9 {
							t.Fatalf("%s learned port 9 past the cap", ch.Name)
						}
					}
				}
			}
			if n := strings.Count(logs.String(), "level=warn"); n != 1 {
				t.Errorf("want one warning over two scrapes, got %d: %s", n, logs.String())
			}
		})
	}
}

// stateAtTheCaps is the largest state discovery keeps, as saveLocked would encode
// it at its longest: every cap full, 255-byte unit names, the longest IPv6
// addresses, five-digit ports, timestamps with nanoseconds and a zone. The
// scene has every unit loaded and every port listening, owned by its unit.
func stateAtTheCaps(now time.Time) (discoveryState, discoveryScene) {
	st := discoveryState{Version: discoveryStateVersion, Units: map[string]*learnedUnit{}}
	scene := discoveryScene{units: map[string]systemd.Unit{}}
	ts := now.Add(-2*time.Hour + 123456789).In(time.FixedZone("", 5*3600+30*60))
	const addr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
	for u := range maxStateUnits {
		name := fmt.Sprintf("%04d", u) + strings.Repeat("x", 255-4-len(".service")) + ".service"
		lu := &learnedUnit{LastLoaded: ts, Ports: map[string]*learnedPort{}}
		n := maxStatePorts / maxStateUnits
		if u < maxStatePorts%maxStateUnits {
			n++
		}
		for i := range n {
			port := 60000 + i
			lu.Ports[learnedKey("tcp", addr, port)] = &learnedPort{Proto: "tcp", Address: addr, Port: port, FirstSeen: ts, LastSeen: ts, Learned: true}
			scene.listeners = append(scene.listeners, lst("tcp", addr, uint16(port), true))
			scene.owners = append(scene.owners, owner.Owner{Unit: name})
		}
		st.Units[name] = lu
		scene.units[name] = systemd.Unit{LoadState: "loaded", ActiveState: "active"}
	}
	return st, scene
}

// The exporter must never write a state file it would refuse to read: a
// state at every cap fits the file's cap, and loads back whole.
func TestDiscoveryStateAtTheCapsFitsTheFile(t *testing.T) {
	c := &clock{t: stateNow}
	st, _ := stateAtTheCaps(stateNow)
	state := filepath.Join(t.TempDir(), "learned.json")
	writeState(t, state, st)
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a state at the caps is %d bytes, the cap %d", fi.Size(), maxStateFileBytes)
	if fi.Size() > maxStateFileBytes {
		t.Fatalf("a state at the caps is %d bytes, over the cap of %d", fi.Size(), maxStateFileBytes)
	}
	var logs bytes.Buffer
	d := New(Options{StateFile: state, Now: c.now, Logger: log.NewLogfmtLogger(&logs)})
	ports := 0
	for _, lu := range d.st.Units {
		ports += len(lu.Ports)
	}
	if len(d.st.Units) != maxStateUnits || ports != maxStatePorts || logs.Len() != 0 {
		t.Fatalf("loaded back %d units, %d ports; logged %s", len(d.st.Units), ports, logs.String())
	}
}

// BenchmarkDiscoveryAtTheCaps measures a start and the scrapes after it
// with a state at every cap: load alone; load and the first scrape's
// observe, which writes the file (its units' last_loaded is refreshed);
// the observe of every later scrape; and the costliest file load may
// read, one of as many entries as fit the size cap, every one dropped.
func BenchmarkDiscoveryAtTheCaps(b *testing.B) {
	c := &clock{t: stateNow}
	st, scene := stateAtTheCaps(stateNow)
	state := filepath.Join(b.TempDir(), "learned.json")
	opts := Options{StateFile: state, Now: c.now, ForgetAfter: 24 * time.Hour}
	writeState(b, state, st)
	cfg := config.Default()
	units := scene.snapshot()
	b.Run("load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			New(opts)
		}
	})
	b.Run("load+first-observe", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			// Two hours on, so every iteration's observe writes the file.
			c.t = c.t.Add(2 * time.Hour)
			New(opts).Learn(cfg, units, scene.listeners, scene.owners)
		}
	})
	b.Run("observe", func(b *testing.B) {
		d := New(opts)
		d.Learn(cfg, units, scene.listeners, scene.owners)
		b.ReportAllocs()
		for b.Loop() {
			if got := d.Learn(cfg, units, scene.listeners, scene.owners); len(got) != maxStateUnits {
				b.Fatalf("%d implicit checks", len(got))
			}
		}
	})
	b.Run("load-4MiB-of-nulls", func(b *testing.B) {
		var units []string
		for i, size := 0, len(`{"version":1,"units":{}}`); ; i++ {
			u := fmt.Sprintf(`"%d":null`, i)
			if size += len(u) + 1; size > maxStateFileBytes {
				break
			}
			units = append(units, u)
		}
		opts := Options{StateFile: stateFile(b, units), Now: c.now}
		b.ReportAllocs()
		for b.Loop() {
			if d := New(opts); len(d.st.Units) != 0 {
				b.Fatal("a null was kept")
			}
		}
	})
}

func learnedPorts(checks []config.Check, name string) []int {
	for _, c := range checks {
		if c.Name == name {
			var ports []int
			for _, p := range c.Ports {
				ports = append(ports, p.Port)
			}
			slices.Sort(ports)
			return ports
		}
	}
	return nil
}

// Discovery follows the service: back on a port it had left, the ports of
// the detour are dropped at once; moved for good, the old port is dropped
// after --discovery.relearn-after of stable service; a port lost while the
// unit listens on nothing new stays expected (that is the outage).
func TestDiscoveryFollowsTheService(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	web := func(c *clock, since time.Time, ports ...uint16) discoveryScene {
		s := discoveryScene{units: map[string]systemd.Unit{"web.service": {LoadState: "loaded", ActiveState: "active", ActiveEnterTimestamp: uint64(since.UnixMicro())}}}
		for _, p := range ports {
			s.listeners = append(s.listeners, lst("tcp", "0.0.0.0", p, false))
			s.owners = append(s.owners, owner.Owner{Unit: "web.service"})
		}
		return s
	}
	run := func(d *Discovery, c *clock, scene discoveryScene, after time.Duration) []int {
		c.t = c.t.Add(after)
		return learnedPorts(learnedChecks(d, config.Default(), scene), "web.service")
	}
	newD := func(c *clock) *Discovery {
		return New(Options{MinAge: time.Minute, RelearnAfter: time.Hour, Now: c.now})
	}

	t.Run("80 -> 8080 -> 80 ends on 80", func(t *testing.T) {
		c := &clock{t: start}
		d := newD(c)
		since := start.Add(-2 * time.Hour)
		run(d, c, web(c, since, 80), 0)
		if got := run(d, c, web(c, since, 80), 2*time.Minute); !slices.Equal(got, []int{80}) {
			t.Fatalf("learned %v, want [80]", got)
		}
		run(d, c, web(c, since, 8080), time.Minute)
		if got := run(d, c, web(c, since, 8080), 2*time.Minute); !slices.Equal(got, []int{80, 8080}) {
			t.Fatalf("after the move: %v, want [80 8080] (80 is down: the move pages)", got)
		}
		if got := run(d, c, web(c, since, 80), time.Minute); !slices.Equal(got, []int{80}) {
			t.Errorf("back on 80: %v, want [80] at once", got)
		}
	})
	t.Run("80 -> 8080 -> 80 through reloads that hold both for a moment", func(t *testing.T) {
		c := &clock{t: start}
		d := newD(c)
		since := start.Add(-2 * time.Hour)
		run(d, c, web(c, since, 80), 0)
		run(d, c, web(c, since, 80), 2*time.Minute)
		// Each reload binds the new port before it closes the old.
		run(d, c, web(c, since, 80, 8080), time.Minute)
		run(d, c, web(c, since, 8080), 2*time.Minute)
		run(d, c, web(c, since, 8080), time.Minute)
		if got := run(d, c, web(c, since, 80, 8080), time.Minute); !slices.Equal(got, []int{80, 8080}) {
			t.Fatalf("both held: %v", got)
		}
		if got := run(d, c, web(c, since, 80), time.Minute); !slices.Equal(got, []int{80}) {
			t.Errorf("8080 closed after the return: %v, want [80] at once", got)
		}
	})
	t.Run("moved for good: the old port is dropped after relearn-after", func(t *testing.T) {
		c := &clock{t: start}
		d := newD(c)
		since := start.Add(-2 * time.Hour)
		run(d, c, web(c, since, 80), 0)
		run(d, c, web(c, since, 80), 2*time.Minute)
		run(d, c, web(c, since, 8080), time.Minute)
		if got := run(d, c, web(c, since, 8080), 30*time.Minute); !slices.Equal(got, []int{80, 8080}) {
			t.Fatalf("within relearn-after: %v, want [80 8080]", got)
		}
		if got := run(d, c, web(c, since, 8080), 31*time.Minute); !slices.Equal(got, []int{8080}) {
			t.Errorf("after relearn-after: %v, want [8080]", got)
		}
	})
	t.Run("a restart within relearn-after keeps the old port expected", func(t *testing.T) {
		c := &clock{t: start}
		d := newD(c)
		run(d, c, web(c, start.Add(-2*time.Hour), 80), 0)
		run(d, c, web(c, start.Add(-2*time.Hour), 80), 2*time.Minute)
		restarted := start.Add(80 * time.Minute)
		run(d, c, web(c, restarted, 8080), time.Minute)
		if got := run(d, c, web(c, restarted, 8080), 80*time.Minute); !slices.Equal(got, []int{80, 8080}) {
			t.Errorf("restarted 3 minutes ago: %v, want [80 8080] until it is stable for relearn-after", got)
		}
	})
	t.Run("a port lost, nothing new: still expected", func(t *testing.T) {
		c := &clock{t: start}
		d := newD(c)
		since := start.Add(-2 * time.Hour)
		run(d, c, web(c, since, 80, 443), 0)
		run(d, c, web(c, since, 80, 443), 2*time.Minute)
		if got := run(d, c, web(c, since, 80), 3*time.Hour); !slices.Equal(got, []int{80, 443}) {
			t.Errorf("443 gone for 3 hours, nothing new: %v, want [80 443]", got)
		}
	})
}

// Ports in the kernel's ephemeral range, excluded ports and excluded units
// are not learned; learn_ephemeral_ports learns the range too.
func TestDiscoveryExclusionsAndEphemeralPorts(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	scene := discoveryScene{
		units: map[string]systemd.Unit{"web.service": {LoadState: "loaded", ActiveState: "active"}, "tool-x.service": {LoadState: "loaded", ActiveState: "active"}},
		listeners: []listeners.Listener{lst("tcp", "0.0.0.0", 80, false), lst("tcp", "0.0.0.0", 40000, false), lst("tcp", "0.0.0.0", 9999, false),
			lst("tcp", "0.0.0.0", 7000, false)},
		owners: []owner.Owner{{Unit: "web.service"}, {Unit: "web.service"}, {Unit: "web.service"}, {Unit: "tool-x.service"}},
	}
	cfg, err := config.Parse([]byte("discovery:\n  enabled: true\n  exclude_units: ['tool-.*']\n  exclude_ports: [9999]\n"), "t.yml")
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{MinAge: time.Minute, EphemeralPorts: [2]int{32768, 60999}, Now: c.now})
	scene.observe(d, cfg)
	c.t = c.t.Add(2 * time.Minute)
	got := scene.observe(d, cfg)
	if len(got) != 1 || !slices.Equal(learnedPorts(got, "web.service"), []int{80}) {
		t.Errorf("learned %+v, want only web.service on 80", got)
	}
	cfg.Discovery.LearnEphemeralPorts = true
	scene.observe(d, cfg)
	c.t = c.t.Add(2 * time.Minute)
	got = scene.observe(d, cfg)
	if !slices.Equal(learnedPorts(got, "web.service"), []int{80, 40000}) {
		t.Errorf("with learn_ephemeral_ports: %+v, want web.service on 80 and 40000", got)
	}
	if _, err := config.Parse([]byte("discovery:\n  enabled: true\n  exclude_ports: [0]\n  exclude_units: ['(']\n"), "t.yml"); err == nil ||
		!strings.Contains(err.Error(), "discovery.exclude_ports[0]") || !strings.Contains(err.Error(), "discovery.exclude_units[0]") {
		t.Errorf("bad excludes: %v", err)
	}
}

// A learned unit systemd reports not-found (read by name: a removed
// transient unit, a purged package) is forgotten after ten minutes, not
// after --discovery.forget-after; one merely not loaded waits for that.
func TestDiscoveryForgetsNotFoundUnitsQuickly(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	d := New(Options{MinAge: time.Minute, ForgetAfter: 24 * time.Hour, Now: c.now})
	scene := discoveryScene{
		units:     map[string]systemd.Unit{"gone.service": {LoadState: "loaded", ActiveState: "active"}, "away.service": {LoadState: "loaded", ActiveState: "active"}},
		listeners: []listeners.Listener{lst("tcp", "0.0.0.0", 80, false), lst("tcp", "0.0.0.0", 81, false)},
		owners:    []owner.Owner{{Unit: "gone.service"}, {Unit: "away.service"}},
	}
	learnedChecks(d, config.Default(), scene)
	c.t = c.t.Add(2 * time.Minute)
	if got := learnedChecks(d, config.Default(), scene); len(got) != 2 {
		t.Fatalf("learned %+v", got)
	}
	// gone.service: not-found; away.service: not in the reading at all.
	scene = discoveryScene{units: map[string]systemd.Unit{"gone.service": {LoadState: "not-found", ActiveState: "inactive"}}}
	c.t = c.t.Add(5 * time.Minute)
	if got := learnedChecks(d, config.Default(), scene); len(got) != 2 {
		t.Fatalf("within ten minutes both stay: %+v", got)
	}
	c.t = c.t.Add(6 * time.Minute)
	got := learnedChecks(d, config.Default(), scene)
	if len(got) != 1 || got[0].Name != "away.service" {
		t.Errorf("after ten minutes: %+v, want only away.service (gone.service is not-found)", got)
	}
}

// writeState writes st to path as the exporter does.
func writeState(t testing.TB, path string, st discoveryState) {
	t.Helper()
	data, err := (&Discovery{st: st}).encode()
	if err == nil {
		err = writeFileAtomic(path, data)
	}
	if err != nil {
		t.Fatal(err)
	}
}

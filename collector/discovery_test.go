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
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/config"
)

// discoveryScene is a captured view of a host: units and listeners with
// their owners, as the sources and the owner resolver give them.
type discoveryScene struct {
	units     map[string]Unit
	listeners []Listener
	owners    []Owner
}

func (s discoveryScene) readings() readings {
	snap := &unitSnapshot{units: map[string]Unit{}}
	for name, u := range s.units {
		u.Name = name
		snap.units[name] = u
		snap.names = append(snap.names, name)
	}
	return readings{units: &systemdReading{snap: snap}, listeners: &listenersReading{listeners: s.listeners}}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func learnedChecks(d *discovery, cfg *config.Config, s discoveryScene) []config.Check {
	r := s.readings()
	return d.observe(cfg, r, s.owners, socketTriggers(r.units))
}

func TestDiscoveryLearnsAfterMinAgeAndForgets(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	d := newDiscovery(DiscoveryOptions{MinAge: time.Minute, ForgetAfter: time.Hour, Now: c.now})
	loaded := Unit{LoadState: "loaded", ActiveState: "active"}
	scene := discoveryScene{
		units:     map[string]Unit{"web.service": loaded, "tool.service": loaded, "web.socket": {LoadState: "loaded", ActiveState: "active", Listen: []ListenSpec{{"Stream", "127.0.0.1:8443"}}}},
		listeners: []Listener{lst("tcp", "0.0.0.0", 80, false), lst("tcp", "127.0.0.1", 9999, false), lst("tcp", "127.0.0.1", 22, false)},
		owners:    []Owner{{Unit: "web.service"}, {Unit: "tool.service"}, {Foreign: true}},
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
	d := newDiscovery(DiscoveryOptions{})
	scene := discoveryScene{
		units:     map[string]Unit{"web.service": {LoadState: "loaded", ActiveState: "active"}, "db.service": {LoadState: "loaded", ActiveState: "active"}},
		listeners: []Listener{lst("tcp", "0.0.0.0", 80, false), lst("tcp", "127.0.0.1", 5432, false)},
		owners:    []Owner{{Unit: "web.service"}, {Unit: "db.service"}},
	}
	cfg := &config.Config{Discovery: config.Discovery{Enabled: true}, Checks: []config.Check{{Name: "web", Unit: "web.service"}}}
	got := learnedChecks(d, cfg, scene)
	if len(got) != 1 || got[0].Name != "db.service" {
		t.Fatalf("implicit checks: %+v", got)
	}
}

func TestDiscoveryStateFile(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "learned.json")
	scene := discoveryScene{
		units:     map[string]Unit{"web.service": {LoadState: "loaded", ActiveState: "active"}},
		listeners: []Listener{lst("tcp", "0.0.0.0", 80, false)},
		owners:    []Owner{{Unit: "web.service"}},
	}
	learnedChecks(newDiscovery(DiscoveryOptions{StateFile: state}), config.Default(), scene)
	// A new process, nothing running: it still expects port 80.
	got := learnedChecks(newDiscovery(DiscoveryOptions{StateFile: state}), config.Default(), discoveryScene{units: map[string]Unit{}})
	if len(got) != 1 || got[0].Ports[0].Port != 80 {
		t.Fatalf("after a restart: %+v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the atomic write left files behind: %v", entries)
	}

	// A corrupt file is logged and ignored.
	var logs bytes.Buffer
	os.WriteFile(state, []byte(`{"version": 1, "units": {"x": `), 0o644)
	d := newDiscovery(DiscoveryOptions{StateFile: state, Logger: log.NewLogfmtLogger(&logs)})
	if got := learnedChecks(d, config.Default(), discoveryScene{units: map[string]Unit{}}); len(got) != 0 {
		t.Errorf("a corrupt file must be ignored: %+v", got)
	}
	if !strings.Contains(logs.String(), "corrupt") {
		t.Errorf("not logged: %s", logs.String())
	}

	// A state file in a read-only place: logged, the exporter goes on.
	logs.Reset()
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o555)
	d = newDiscovery(DiscoveryOptions{StateFile: filepath.Join(ro, "learned.json"), Logger: log.NewLogfmtLogger(&logs)})
	if got := learnedChecks(d, config.Default(), scene); len(got) != 1 {
		t.Errorf("learning must go on without a writable state file: %+v", got)
	}
	if os.Geteuid() != 0 && !strings.Contains(logs.String(), "cannot write the discovery state file") {
		t.Errorf("the write failure is not logged: %s", logs.String())
	}
}

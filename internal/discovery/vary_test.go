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
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// When a unit's ports are taken to vary at each start: two restarts in a
// row each onto ports never seen before, none of the old back. Each step
// is a start (a new ActiveEnterTimestamp) and the ports held in it, seen
// for two scrapes a minute apart.
func TestDiscoveryLearnsThatPortsVary(t *testing.T) {
	type run struct {
		restart bool // a new ActiveEnterTimestamp
		ports   []uint16
	}
	for _, tc := range []struct {
		name   string
		runs   []run
		want   []int // the check's ports at the end (0: any port)
		varies bool
	}{
		{"a new port at each start", []run{{false, []uint16{23952}}, {true, []uint16{24261}}, {true, []uint16{11877}}}, []int{0}, true},
		{"one move is a move", []run{{false, []uint16{80}}, {true, []uint16{8080}}}, []int{80, 8080}, false},
		{"back on an old port resets the count", []run{{false, []uint16{80}}, {true, []uint16{8080}}, {true, []uint16{80}}, {true, []uint16{9090}}}, []int{80, 9090}, false}, // 8080 a detour (follow)
		{"a fixed port beside a random one is no move", []run{{false, []uint16{80, 23952}}, {true, []uint16{80, 24261}}, {true, []uint16{80, 11877}}}, []int{80, 11877, 23952, 24261}, false},
		{"the same ports across restarts", []run{{false, []uint16{80}}, {true, []uint16{80}}, {true, []uint16{80}}}, []int{80}, false},
		{"moves without restarts are follow's, not varying", []run{{false, []uint16{23952}}, {false, []uint16{24261}}, {false, []uint16{11877}}}, []int{11877, 23952, 24261}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1_800_000_000, 0)}
			var logs bytes.Buffer
			d := New(Options{MinAge: time.Minute, RelearnAfter: time.Hour, Now: c.now, Logger: log.NewLogfmtLogger(&logs)})
			start := c.t.Add(-time.Hour)
			var got []config.Check
			for _, r := range tc.runs {
				if r.restart {
					start = c.t
				}
				scene := discoveryScene{units: map[string]systemd.Unit{"rp.service": {LoadState: "loaded", ActiveState: "active", ActiveEnterTimestamp: uint64(start.UnixMicro())}}}
				for _, p := range r.ports {
					scene.listeners = append(scene.listeners, lst("tcp", "127.0.0.1", p, false))
					scene.owners = append(scene.owners, owner.Owner{Unit: "rp.service"})
				}
				for range 2 {
					c.t = c.t.Add(time.Minute)
					got = learnedChecks(d, config.Default(), scene)
				}
			}
			if ports := learnedPorts(got, "rp.service"); !slices.Equal(ports, tc.want) {
				t.Errorf("expects %v, want %v", ports, tc.want)
			}
			said := strings.Contains(logs.String(), `msg="discovery: the unit's ports vary at each start`)
			if said != tc.varies || len(d.st.Units["rp.service"].Varies) > 0 != tc.varies {
				t.Errorf("varies %v, logged %v, want %v:\n%s", d.st.Units["rp.service"].Varies, said, tc.varies, logs.String())
			}
		})
	}
}

// A varying unit is kept with no port between runs and across a restart
// of the exporter, and its learned state does not grow with its restarts.
func TestDiscoveryVaryingUnitInTheStateFile(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	state := filepath.Join(t.TempDir(), "learned.json")
	opts := Options{StateFile: state, MinAge: time.Minute, Now: c.now}
	d := New(opts)
	for i, p := range []uint16{23952, 24261, 11877, 30001, 17000} {
		start := c.t
		scene := discoveryScene{
			units:     map[string]systemd.Unit{"rp.service": {LoadState: "loaded", ActiveState: "active", ActiveEnterTimestamp: uint64(start.UnixMicro())}},
			listeners: []listeners.Listener{lst("tcp", "127.0.0.1", p, false)},
			owners:    []owner.Owner{{Unit: "rp.service"}},
		}
		for range 2 {
			c.t = c.t.Add(time.Minute)
			learnedChecks(d, config.Default(), scene)
		}
		if n := len(d.st.Units["rp.service"].Ports); i >= 2 && n != 1 {
			t.Fatalf("after %d starts the unit keeps %d ports, want the current one", i+1, n)
		}
	}
	// Stopped: no listener, still a check expecting any tcp port.
	stopped := discoveryScene{units: map[string]systemd.Unit{"rp.service": {LoadState: "loaded", ActiveState: "inactive"}}}
	c.t = c.t.Add(time.Hour)
	learnedChecks(d, config.Default(), stopped)
	d.Close()
	again := New(opts)
	got := learnedChecks(again, config.Default(), stopped)
	if ports := learnedPorts(got, "rp.service"); !slices.Equal(ports, []int{0}) {
		t.Errorf("after a restart of the exporter: %v, want [0] (any tcp port)", ports)
	}
}

// What discovery is learning, as the landing page and /checks show it,
// and the log line when a port is learned.
func TestDiscoveryLearningStatus(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	var logs bytes.Buffer
	d := New(Options{MinAge: time.Minute, Now: c.now, Logger: log.NewLogfmtLogger(&logs)})
	loaded := systemd.Unit{LoadState: "loaded", ActiveState: "active"}
	scene := discoveryScene{
		units:     map[string]systemd.Unit{"web.service": loaded, "db.service": loaded},
		listeners: []listeners.Listener{lst("tcp", "0.0.0.0", 80, false), lst("tcp", "::", 80, true), lst("tcp", "127.0.0.1", 5432, false)},
		owners:    []owner.Owner{{Unit: "web.service"}, {Unit: "web.service"}, {Unit: "db.service"}},
	}
	cfg := &config.Config{Discovery: config.Discovery{Enabled: true}, Checks: []config.Check{{Name: "db", Unit: "db.service"}}}
	learnedChecks(d, cfg, scene)
	c.t = c.t.Add(18 * time.Second)
	got := d.Learning(cfg)
	want := Learning{Candidates: 2, Units: []LearningUnit{{Unit: "web.service", Ports: []string{"tcp 0.0.0.0:80", "tcp [::]:80"}, LearnedInSeconds: 42}}}
	if got.Candidates != want.Candidates || len(got.Units) != 1 || !slices.Equal(got.Units[0].Ports, want.Units[0].Ports) || got.Units[0].LearnedInSeconds != 42 {
		t.Errorf("learning %+v, want %+v (db.service is configured: not shown)", got, want)
	}
	if strings.Contains(logs.String(), "learned a port") {
		t.Errorf("logged learned before min-age:\n%s", logs.String())
	}
	c.t = c.t.Add(time.Minute)
	learnedChecks(d, cfg, scene)
	if got := d.Learning(cfg); got.Candidates != 0 || len(got.Units) != 0 {
		t.Errorf("learning after min-age: %+v", got)
	}
	for _, want := range []string{
		`msg="discovery learned a port: the unit's check expects it from now on" unit=web.service port="tcp 0.0.0.0:80" why="held for --discovery.min-age (1m18s)"`,
		`unit=web.service port="tcp [::]:80"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, logs.String())
		}
	}
}

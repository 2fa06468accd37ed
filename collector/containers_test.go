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
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/containers"
	"github.com/warden-exporter/warden_exporter/internal/discovery"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// The container layer as the Exporter drives it, against a container
// source and listeners served by its seams; the real engines' tests are
// the integration tests (containers_integration_test.go).

type sceneContainers struct{ snap *containers.Snapshot }

func (s sceneContainers) Snapshot() *containers.Snapshot { return s.snap }
func (s sceneContainers) Changes() <-chan struct{}       { return nil }

// netnsListeners serves the host's listeners and those of the network
// namespaces of the PIDs it names.
type netnsListeners struct {
	host   []listeners.Listener
	inside map[int][]listeners.Listener
}

func (n netnsListeners) Read(context.Context) (*listeners.Reading, error) {
	return &listeners.Reading{Listeners: n.host, Backend: "netlink"}, nil
}

func (n netnsListeners) InNetnsOf(_ context.Context, pid int) ([]listeners.Listener, uint64, error) {
	ls, ok := n.inside[pid]
	if !ok {
		return nil, 0, fmt.Errorf("no process %d", pid)
	}
	return ls, uint64(pid), nil
}

// dockerProxy is what docker.service holds for a published port.
var dockerUnits = []systemd.Unit{{Name: "docker.service", LoadState: "loaded", ActiveState: "active", SubState: "running", ControlGroup: "/system.slice/docker.service"}}

func mongoContainer(state string) containers.Container {
	c := containers.Container{Engine: containers.Docker, ID: strings.Repeat("0123456789ab", 5) + "cdef", Name: "mongo", State: state,
		Health: containers.Health{Status: containers.HealthNone},
		Ports:  []containers.PortBinding{{Proto: "tcp", HostIP: "127.0.0.1", HostPort: 27017, ContainerPort: 27017}}}
	if state == containers.StateRunning {
		c.Pid = 4242
	}
	return c
}

func containerExporter(t *testing.T, cfg *config.Config, snap *containers.Snapshot, ls netnsListeners) *Exporter {
	t.Helper()
	e, err := New(Options{Config: func() *config.Config { return cfg }, ProcRoot: t.TempDir(),
		Systemd: sceneUnits{systemd.SnapshotOf(dockerUnits...)}, Listeners: ls, Containers: sceneContainers{snap}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func evaluateOnce(t *testing.T, e *Exporter) ([]verdict.Verdict, []*dto.MetricFamily) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := e.Evaluate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := ev.Families()
	if err != nil {
		t.Fatal(err)
	}
	return ev.Verdicts, mfs
}

func series(mfs []*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

func TestContainerCheckThroughTheExporter(t *testing.T) {
	cfg := &config.Config{Checks: []config.Check{{Name: "mongo", Container: "mongo"}}}
	proxy := lst("tcp", "127.0.0.1", 27017, false)
	inside := map[int][]listeners.Listener{4242: {lst("tcp", "0.0.0.0", 27017, false)}}
	engines := []containers.Engine{{Name: containers.Docker, Address: "unix:///var/run/docker.sock", Present: true}}
	counts := map[containers.Key]containers.Counts{{Engine: "docker", Name: "mongo"}: {Restarts: 5, OOMKills: 1, Exits: [3]uint64{0, 2, 1}}}

	t.Run("running, listening on the host and inside", func(t *testing.T) {
		snap := &containers.Snapshot{Engines: engines, Containers: []containers.Container{mongoContainer(containers.StateRunning)}, Counts: counts}
		vs, mfs := evaluateOnce(t, containerExporter(t, cfg, snap, netnsListeners{host: []listeners.Listener{proxy}, inside: inside}))
		if vs[0].Status != verdict.OK {
			t.Fatalf("status %s: %s", vs[0].Status, vs[0].Reason)
		}
		for name, want := range map[string]float64{"warden_container_restarts_total": 5, "warden_container_oom_kills_total": 1, "warden_container_unhealthy_total": 0} {
			if got, ok := series(mfs, name, map[string]string{"check": "mongo", "container": "mongo"}); !ok || got != want {
				t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
			}
		}
		if got, _ := series(mfs, "warden_container_state", map[string]string{"check": "mongo", "state": "running"}); got != 1 {
			t.Errorf("warden_container_state{state=running} = %v", got)
		}
		if got, ok := series(mfs, "warden_container_exits_total", map[string]string{"check": "mongo", "class": "success"}); !ok || got != 0 {
			t.Errorf("exits{class=success} = %v (present %v): zero-initialised for increase()", got, ok)
		}
		if got, ok := series(mfs, "warden_port_listening", map[string]string{"check": "mongo", "port": "27017", "address": "127.0.0.1"}); !ok || got != 1 {
			t.Errorf("warden_port_listening of the published port = %v (present %v)", got, ok)
		}
		if got, _ := series(mfs, "warden_container_engine_up", map[string]string{"engine": "docker"}); got != 1 {
			t.Errorf("warden_container_engine_up = %v", got)
		}
	})
	t.Run("nothing listens inside", func(t *testing.T) {
		snap := &containers.Snapshot{Engines: engines, Containers: []containers.Container{mongoContainer(containers.StateRunning)}}
		vs, _ := evaluateOnce(t, containerExporter(t, cfg, snap, netnsListeners{host: []listeners.Listener{proxy}, inside: map[int][]listeners.Listener{4242: nil}}))
		if vs[0].Status != verdict.PortDown || !strings.Contains(vs[0].Reason, "nothing listens on tcp 27017 inside container mongo") {
			t.Fatalf("status %s: %s", vs[0].Status, vs[0].Reason)
		}
	})
	t.Run("a squatter while the container is down", func(t *testing.T) {
		snap := &containers.Snapshot{Engines: engines, Containers: []containers.Container{mongoContainer(containers.StateExited)}}
		vs, mfs := evaluateOnce(t, containerExporter(t, cfg, snap, netnsListeners{host: []listeners.Listener{proxy}}))
		if vs[0].Status != verdict.ForeignListener {
			t.Fatalf("status %s: %s", vs[0].Status, vs[0].Reason)
		}
		if _, ok := series(mfs, "warden_port_listening", map[string]string{"check": "mongo", "port": "27017"}); ok {
			t.Error("a stopped container's published port has a series: it is not expected while it is down")
		}
	})
	t.Run("an engine that cannot be read fails its checks, not the others", func(t *testing.T) {
		denied := []containers.Engine{{Name: containers.Docker, Address: "unix:///var/run/docker.sock", Present: true,
			Err: fmt.Errorf("cannot read the Docker API at unix:///var/run/docker.sock: %w", syscall.EACCES)}}
		both := &config.Config{Checks: []config.Check{{Name: "mongo", Container: "mongo"}, {Name: "docker", Unit: "docker.service"}}}
		vs, mfs := evaluateOnce(t, containerExporter(t, both, &containers.Snapshot{Engines: denied}, netnsListeners{}))
		if vs[0].Status != verdict.Unknown || !strings.Contains(vs[0].Reason, "permission denied") {
			t.Errorf("the container check: %s: %s", vs[0].Status, vs[0].Reason)
		}
		if vs[1].Status != verdict.OK {
			t.Errorf("the unit check: %s: %s", vs[1].Status, vs[1].Reason)
		}
		if got, _ := series(mfs, "warden_collector_success", map[string]string{"collector": "containers"}); got != 0 {
			t.Errorf("warden_collector_success{collector=containers} = %v, want 0", got)
		}
		if got, ok := series(mfs, "warden_container_engine_up", map[string]string{"engine": "docker"}); !ok || got != 0 {
			t.Errorf("warden_container_engine_up = %v (present %v), want 0", got, ok)
		}
	})
	t.Run("no engine runs: the container is down", func(t *testing.T) {
		gone := []containers.Engine{{Name: containers.Docker, Address: "unix:///var/run/docker.sock"}, {Name: containers.Podman, Address: "unix:///run/podman/podman.sock"}}
		vs, _ := evaluateOnce(t, containerExporter(t, cfg, &containers.Snapshot{Engines: gone}, netnsListeners{}))
		if vs[0].Status != verdict.ServiceDown || !strings.Contains(vs[0].Reason, "no engine answers (docker at unix:///var/run/docker.sock, podman at") {
			t.Errorf("%s: %s", vs[0].Status, vs[0].Reason)
		}
	})
}

// Zero-config: a container that publishes a port is a check of its own,
// and its port is no longer learned as the engine's (docker-proxy runs in
// docker.service's cgroup).
func TestDiscoveryLearnsContainersNotTheEnginesPorts(t *testing.T) {
	cfg := &config.Config{Discovery: config.Discovery{Enabled: true}}
	snap := &containers.Snapshot{Engines: []containers.Engine{{Name: containers.Docker, Present: true}},
		Containers: []containers.Container{mongoContainer(containers.StateRunning)}}
	ls := netnsListeners{host: []listeners.Listener{lst("tcp", "127.0.0.1", 27017, false)}, inside: map[int][]listeners.Listener{4242: {lst("tcp", "0.0.0.0", 27017, false)}}}
	dir := t.TempDir()
	e, err := New(Options{Config: func() *config.Config { return cfg }, ProcRoot: dir, Discovery: discovery.Options{},
		Systemd: sceneUnits{systemd.SnapshotOf(dockerUnits...)}, Listeners: ls, Containers: sceneContainers{snap}})
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := evaluateOnce(t, e)
	var names []string
	for _, v := range vs {
		names = append(names, v.Check)
		if v.Check == "docker/mongo" && (v.Status != verdict.OK || !v.Implicit) {
			t.Errorf("docker/mongo: %s (implicit %v): %s", v.Status, v.Implicit, v.Reason)
		}
	}
	if len(names) != 1 || names[0] != "docker/mongo" {
		t.Errorf("checks %q, want only the container's docker/mongo (not docker.service for its proxy)", names)
	}
}

// A port learned as the engine's before (a state file of an older
// version) is not expected of the engine any more: stopped, the container
// would be docker.service's port_down, the wrong service.
func TestAPortLearnedAsTheEnginesIsTheContainers(t *testing.T) {
	state := filepath.Join(t.TempDir(), "learned.json")
	seen := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	port := `{"proto":"tcp","address":"127.0.0.1","port":27017,"first_seen":"` + seen + `","last_seen":"` + seen + `","learned":true}`
	if err := os.WriteFile(state, []byte(`{"version":1,"units":{"docker.service":{"last_loaded":"`+seen+`","ports":{"tcp 127.0.0.1 27017":`+port+`}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Discovery: config.Discovery{Enabled: true}}
	snap := &containers.Snapshot{Engines: []containers.Engine{{Name: containers.Docker, Present: true}},
		Containers: []containers.Container{mongoContainer(containers.StateExited)}}
	e, err := New(Options{Config: func() *config.Config { return cfg }, ProcRoot: t.TempDir(), Discovery: discovery.Options{StateFile: state},
		Systemd: sceneUnits{systemd.SnapshotOf(dockerUnits...)}, Listeners: netnsListeners{}, Containers: sceneContainers{snap}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	vs, _ := evaluateOnce(t, e)
	if len(vs) != 2 {
		t.Fatalf("%d checks, want docker.service (learned) and docker/mongo: %+v", len(vs), vs)
	}
	for _, v := range vs {
		switch v.Check {
		case "docker.service":
			if v.Status != verdict.OK || len(v.Ports) != 0 {
				t.Errorf("docker.service: %s, ports %+v: %s", v.Status, v.Ports, v.Reason)
			}
		case "docker/mongo":
			if v.Status != verdict.ServiceDown {
				t.Errorf("docker/mongo: %s: %s", v.Status, v.Reason)
			}
		default:
			t.Errorf("unexpected check %s", v.Check)
		}
	}
}

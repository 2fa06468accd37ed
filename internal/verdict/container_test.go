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

package verdict

import (
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
)

func TestContainerVerdicts(t *testing.T) {
	mongo := config.Check{Name: "mongo", Container: "mongo"}
	published := []Published{{Proto: "tcp", HostIP: "127.0.0.1", HostPort: 27017, ContainerPort: 27017}}
	inside := NewNamespace([]Listener{lst("tcp", "0.0.0.0", 27017, false)}, nil)
	loopbackInside := NewNamespace([]Listener{lst("tcp", "127.0.0.1", 27017, false)}, nil)
	proxy := NewNamespace([]Listener{lst("tcp", "127.0.0.1", 27017, false)}, []Owner{{Unit: "docker.service"}})
	nothing := NewNamespace(nil, nil)
	finished := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	running := func(mod func(*Container)) *Container {
		c := &Container{Engine: "docker", Name: "mongo", Found: true, ID: strings.Repeat("ab", 32), State: "running",
			Health: "none", Published: published, Inside: inside}
		if mod != nil {
			mod(c)
		}
		return c
	}
	for _, tc := range []struct {
		name       string
		check      config.Check
		ct         *Container
		host       *Namespace
		want       Status
		reason     []string // in Reason
		diagnosis  string   // == Diagnosis, when set
		notInDiag  []string
		portSeries bool // the published port has a series (not BetweenRuns)
		strangers  map[uint64]Stranger
	}{
		{name: "running, listening on the host and inside", check: mongo, ct: running(nil), host: proxy, want: OK, portSeries: true},
		{name: "exited, OOM killed, restarted", check: mongo, host: nothing, ct: running(func(c *Container) {
			c.State, c.ExitCode, c.OOMKilled, c.FinishedAt, c.RestartCount, c.Inside = "exited", 137, true, finished, 5, nil
		}), want: ServiceDown,
			reason:    []string{"container mongo (docker) exited 137, OOM killed at 2026-12-04T19:00:00Z; restarted 5 times"},
			diagnosis: "container mongo (docker) exited 137, OOM killed"},
		{name: "restarting in a crash loop", check: mongo, host: nothing, ct: running(func(c *Container) {
			c.State, c.ExitCode, c.RestartCount, c.Inside = "restarting", 3, 8, nil
		}), want: ServiceDown, reason: []string{"is restarting after exit 3; restarted 8 times"},
			diagnosis: "container mongo (docker) is restarting after exit 3"},
		{name: "not found in the named engine", check: config.Check{Name: "m", Container: "mongo", Engine: "podman"},
			ct: &Container{}, host: nothing, want: ServiceDown, diagnosis: "container mongo is not in podman"},
		{name: "the engine does not run", check: mongo, ct: &Container{EngineDown: "docker does not answer at unix:///var/run/docker.sock (connection refused)"},
			host: nothing, want: ServiceDown, reason: []string{"container mongo does not run: docker does not answer"}},
		{name: "the engine cannot be read", check: mongo, ct: &Container{EngineError: "cannot read the Docker API at unix:///var/run/docker.sock: permission denied"},
			host: nothing, want: Unknown, reason: []string{"could not read: container state (cannot read the Docker API", "permission denied"}},
		{name: "the layer not read", check: mongo, host: nothing, want: Unknown, reason: []string{"could not read: container state"}},
		{name: "unhealthy", check: mongo, host: proxy, ct: running(func(c *Container) {
			c.Health, c.HealthStreak, c.HealthExitCode, c.HealthOutput = "unhealthy", 3, 1, "dial 127.0.0.1:1 at 19:00:01: refused"
		}), want: ProbeFailed, portSeries: true,
			reason:    []string{"the health check of container mongo (docker) fails (3 in a row, exit 1): dial 127.0.0.1:1 at 19:00:01: refused"},
			diagnosis: "the health check of container mongo (docker) fails (exit 1)"},
		{name: "nothing listens inside", check: mongo, host: proxy, ct: running(func(c *Container) { c.Inside = NewNamespace(nil, nil) }),
			want: PortDown, portSeries: true,
			reason: []string{"nothing listens on tcp 27017 inside container mongo (docker publishes 127.0.0.1:27017 → 27017/tcp) while container mongo (docker) is running"}},
		{name: "listening inside on loopback only", check: mongo, host: proxy, ct: running(func(c *Container) { c.Inside = loopbackInside }),
			want: PortDown, portSeries: true, reason: []string{"loopback only, which the published port cannot reach"}},
		{name: "the engine's proxy is gone", check: mongo, host: nothing, ct: running(nil), want: PortDown, portSeries: true,
			reason: []string{"nothing listens on tcp 127.0.0.1:27017 on the host (docker publishes it → 27017 in container mongo)"}},
		{name: "a squatter on the published port while it is down", check: mongo, host: NewNamespace([]Listener{lst("tcp", "0.0.0.0", 27017, false)}, []Owner{{Unit: "squat.service"}}),
			ct: running(func(c *Container) { c.State, c.ExitCode, c.Inside = "exited", 0, nil }), want: ForeignListener,
			reason: []string{"tcp 127.0.0.1:27017 (docker publishes it for container mongo) is held by squat.service while container mongo (docker) exited 0"}},
		{name: "the engine's proxy bound before the restart makes it run", check: mongo,
			host: NewNamespace([]Listener{lst("tcp", "127.0.0.1", 27017, false)}, nil),
			ct:   running(func(c *Container) { c.State, c.ExitCode, c.Inside = "restarting", 3, nil }), want: ServiceDown,
			strangers: map[uint64]Stranger{0: {Process: "docker-proxy", PID: 77, User: "root"}}},
		{name: "the daemon's own reservation (userland-proxy false) while it restarts", check: mongo,
			host: NewNamespace([]Listener{lst("tcp", "127.0.0.1", 27017, false)}, nil),
			ct:   running(func(c *Container) { c.State, c.ExitCode, c.Inside = "restarting", 3, nil }), want: ServiceDown,
			strangers: map[uint64]Stranger{0: {Process: "dockerd", PID: 7, User: "root"}}},
		{name: "a squatter no unit holds is named", check: mongo,
			host: NewNamespace([]Listener{lst("tcp", "127.0.0.1", 27017, false)}, nil),
			ct:   running(func(c *Container) { c.State, c.Inside = "exited", nil }), want: ForeignListener,
			strangers: map[uint64]Stranger{0: {Process: "nc", PID: 99, User: "bob"}},
			reason:    []string{"is held by nc (pid 99) of uid 0 (bob) while container mongo (docker) exited 0"}, notInDiag: []string{"99"}},
		{name: "host network: its ports are the check's own", check: config.Check{Name: "m", Container: "mongo", Ports: []config.Port{{Proto: "tcp", Port: 27017}}},
			host: nothing, ct: running(func(c *Container) { c.HostNetwork, c.Published, c.Inside = true, nil, nil }), want: PortDown,
			reason: []string{"nothing listens on tcp *:27017 while container mongo (docker) is running"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Input{Host: tc.host, Containers: map[string]*Container{}, Strangers: tc.strangers}
			if tc.ct != nil {
				in.Containers[tc.check.Name] = tc.ct
			}
			v := Evaluate([]config.Check{tc.check}, nil, in)[0]
			if v.Status != tc.want {
				t.Fatalf("status %s, want %s: %s", v.Status, tc.want, v.Reason)
			}
			for _, r := range tc.reason {
				if !strings.Contains(v.Reason, r) {
					t.Errorf("reason %q\nlacks %q", v.Reason, r)
				}
			}
			for _, r := range tc.notInDiag {
				if strings.Contains(v.Diagnosis, r) {
					t.Errorf("diagnosis %q has %q", v.Diagnosis, r)
				}
			}
			if tc.diagnosis != "" && v.Diagnosis != tc.diagnosis {
				t.Errorf("diagnosis %q, want %q", v.Diagnosis, tc.diagnosis)
			}
			if v.Container == nil || v.Container.Name != "mongo" {
				t.Fatalf("no container verdict: %+v", v.Container)
			}
			for _, p := range v.Ports {
				if p.ContainerPort != 0 && p.BetweenRuns == tc.portSeries {
					t.Errorf("published port %+v: between runs %v, want %v", p, p.BetweenRuns, !tc.portSeries)
				}
			}
		})
	}
}

// The label of a crash loop does not change with each restart: the count
// and the times are the reason's, not the diagnosis's.
func TestContainerDiagnosisIsStableThroughRestarts(t *testing.T) {
	check := config.Check{Name: "mongo", Container: "mongo"}
	var seen []string
	for i := range 3 {
		ct := &Container{Engine: "docker", Name: "mongo", Found: true, State: "restarting", ExitCode: 3, RestartCount: 5 + i,
			FinishedAt: time.Unix(int64(1e9+i), 0), Health: "unhealthy", HealthStreak: i, HealthOutput: time.Unix(int64(i), 0).String()}
		v := Evaluate([]config.Check{check}, nil, &Input{Host: NewNamespace(nil, nil), Containers: map[string]*Container{"mongo": ct}})[0]
		seen = append(seen, v.Diagnosis)
	}
	if seen[0] != seen[1] || seen[1] != seen[2] {
		t.Errorf("diagnoses differ through restarts: %q", seen)
	}
}

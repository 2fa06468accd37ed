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

//go:build linux

package collector

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/containers"
	"github.com/warden-exporter/warden_exporter/internal/enginetest"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// containerScene is an Exporter over a real engine: the container layer
// fed by its event stream, the host's listeners over netlink (and inside
// the containers' namespaces), no systemd (none runs here).
type containerScene struct {
	t       *testing.T
	eng     *enginetest.Engine
	e       *Exporter
	watcher *containers.Watcher
	mu      sync.Mutex
	cfg     *config.Config
}

func newContainerScene(t *testing.T, eng *enginetest.Engine) *containerScene {
	t.Helper()
	ls, err := listeners.New(listeners.Options{Mode: "netlink"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ls.Close)
	w := containers.NewWatcher(containers.WatcherOptions{Endpoints: []containers.Endpoint{{Engine: eng.Name, Address: eng.Address}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	if err := w.WaitSynced(sctx); err != nil {
		t.Fatalf("the watcher did not sync with %s at %s: %v", eng.Name, eng.Address, err)
	}
	s := &containerScene{t: t, eng: eng, cfg: &config.Config{}, watcher: w}
	s.e, err = New(Options{Config: func() *config.Config { s.mu.Lock(); defer s.mu.Unlock(); return s.cfg }, Listeners: ls, Containers: w,
		Probes: probe.New(probe.Options{Concurrency: 4})})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *containerScene) setChecks(cfg *config.Config) {
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
}

// waitVerdict evaluates until check's status is want and its reason holds
// every one of reason (at most 60 s: a crash loop's backoff, a health
// check's interval), and returns that verdict and its series; it fails
// with the last verdict seen.
func (s *containerScene) waitVerdict(check string, want verdict.Status, reason ...string) (verdict.Verdict, []*dto.MetricFamily) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last verdict.Verdict
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ev, err := s.e.Evaluate(ctx)
		cancel()
		if err != nil {
			s.t.Fatal(err)
		}
		for _, v := range ev.Verdicts {
			if v.Check != check {
				continue
			}
			last = v
			if v.Status == want && containsAll(v.Reason, reason...) {
				mfs, err := ev.Families()
				if err != nil {
					s.t.Fatal(err)
				}
				return v, mfs
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: want %s with %q within 60 s; last: %s: %s (container %+v)", check, want, reason, last.Status, last.Reason, last.Container)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustSeries(t *testing.T, mfs []*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := series(mfs, name, labels)
	if !ok {
		t.Fatalf("no %s%v", name, labels)
	}
	return v
}

// TestContainersOnARealDocker judges containers of a real dockerd, one
// scenario each: the verdict, its reason, and the counters the event
// stream feeds.
func TestContainersOnARealDocker(t *testing.T) {
	eng := enginetest.Docker(t)
	eng.Image(t)
	s := newContainerScene(t, eng)
	health := []string{"/srv", "check", "127.0.0.1:" + strconv.Itoa(enginetest.SrvPort)}
	publish := func() (string, int) {
		port := testenv.FreePort(t)
		return fmt.Sprintf("127.0.0.1:%d:%d", port, enginetest.SrvPort), port
	}
	serve := []string{"serve", ":" + strconv.Itoa(enginetest.SrvPort)}
	check := func(name string) config.Check { return config.Check{Name: name, Container: name, Engine: eng.Name} }

	t.Run("ok, then stopped", func(t *testing.T) {
		pub, port := publish()
		eng.Run(t, "wdn-mongo", enginetest.RunOptions{Cmd: serve, Publish: []string{pub}, HealthCmd: health, HealthInterval: time.Second})
		c := check("wdn-mongo")
		c.Probes = []config.Probe{{Target: "127.0.0.1:" + strconv.Itoa(port), Timeout: config.DefaultProbeTimeout}}
		s.setChecks(&config.Config{Checks: []config.Check{c}})
		// Its start is read (200 ms after the event): its PID, for the
		// namespace inside, and its health.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			ct, _ := s.watcher.Snapshot().Find(eng.Name, "wdn-mongo")
			if ct.Pid > 0 && ct.Health.Status != containers.HealthNone {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("wdn-mongo not read after its start in 30 s: %+v", ct)
			}
		}
		v, mfs := s.waitVerdict("wdn-mongo", verdict.OK)
		if v.Container.Health != containers.HealthHealthy && v.Container.Health != containers.HealthStarting {
			t.Errorf("health %q", v.Container.Health)
		}
		if !slices.Contains(v.Container.ListensInside, fmt.Sprintf("tcp [::]:%d", enginetest.SrvPort)) && !slices.Contains(v.Container.ListensInside, fmt.Sprintf("tcp 0.0.0.0:%d", enginetest.SrvPort)) {
			t.Errorf("listens inside: %q (%s)", v.Container.ListensInside, v.Container.InsideError)
		}
		if len(v.Ports) != 1 || !v.Ports[0].ListeningOnHost || !v.Ports[0].ListeningInside || v.Ports[0].Port != port {
			t.Errorf("published port: %+v", v.Ports)
		}
		if got := mustSeries(t, mfs, "warden_container_state", map[string]string{"check": "wdn-mongo", "state": "running"}); got != 1 {
			t.Errorf("warden_container_state{running} = %v", got)
		}
		if got := mustSeries(t, mfs, "warden_container_exits_total", map[string]string{"check": "wdn-mongo", "class": "success"}); got != 0 {
			t.Errorf("exits{success} before any exit = %v", got)
		}
		eng.Stop(t, "wdn-mongo")
		_, mfs = s.waitVerdict("wdn-mongo", verdict.ServiceDown, "container wdn-mongo (docker) exited 0 at ")
		if got := mustSeries(t, mfs, "warden_container_exits_total", map[string]string{"check": "wdn-mongo", "class": "success"}); got != 1 {
			t.Errorf("exits{success} after docker stop = %v, want 1 (the die event)", got)
		}
	})

	t.Run("crash loop under --restart=always", func(t *testing.T) {
		pub, _ := publish()
		eng.Run(t, "wdn-crash", enginetest.RunOptions{Cmd: serve, Publish: []string{pub}, Restart: "always", Env: []string{"CRASH_AFTER=1"}})
		s.setChecks(&config.Config{Checks: []config.Check{check("wdn-crash")}})
		v, mfs := s.waitVerdict("wdn-crash", verdict.ServiceDown, "after exit 3")
		if v.Diagnosis != "container wdn-crash (docker) is restarting after exit 3" {
			t.Errorf("diagnosis %q", v.Diagnosis)
		}
		if got := mustSeries(t, mfs, "warden_container_exits_total", map[string]string{"check": "wdn-crash", "class": "failure"}); got < 1 {
			t.Errorf("exits{failure} = %v", got)
		}
	})

	t.Run("the watch counts what no scrape saw", func(t *testing.T) {
		// An exporter of its own whose watch never ticks: only the
		// container layer's change signals make it judge.
		ls, err := listeners.New(listeners.Options{Mode: "netlink"})
		if err != nil {
			t.Fatal(err)
		}
		defer ls.Close()
		cfg := &config.Config{Checks: []config.Check{check("wdn-blink")}}
		e, err := New(Options{Config: func() *config.Config { return cfg }, Listeners: ls, Containers: s.watcher, WatchInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { e.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		pub, _ := publish()
		eng.Run(t, "wdn-blink", enginetest.RunOptions{Cmd: serve, Publish: []string{pub}, Restart: "always", Env: []string{"CRASH_AFTER=1"}})
		// Down for docker's restart backoff (100 ms, then 200 ms) each
		// time: no scrape runs meanwhile.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			n, _ := enginetest.Field(eng.Inspect(t, "wdn-blink"), "RestartCount").(float64)
			if n >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("docker restarted wdn-blink %v times in 30 s, want 2", n)
			}
		}
		eng.Stop(t, "wdn-blink")
		// The events of the crashes and the stop reach the watcher's
		// cache before the scrape reads it.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			snap := s.watcher.Snapshot()
			c, _ := snap.Find(eng.Name, "wdn-blink")
			n := snap.Counts[containers.Key{Engine: eng.Name, Name: "wdn-blink"}]
			if c.State == containers.StateExited && n.Exits[containers.ExitFailure] >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the watcher's cache 30 s after docker stop: %+v, counts %+v", c, n)
			}
		}
		ectx, ecancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ecancel()
		ev, err := e.Evaluate(ectx)
		if err != nil {
			t.Fatal(err)
		}
		mfs, err := ev.Families()
		if err != nil {
			t.Fatal(err)
		}
		if got := mustSeries(t, mfs, "warden_check_status_changes_total", map[string]string{"check": "wdn-blink", "status": "service_down"}); got < 2 {
			t.Errorf("the watch counted %v entries into service_down, want at least 2 (two crashes docker undid, then docker stop)", got)
		}
		if got := mustSeries(t, mfs, "warden_container_exits_total", map[string]string{"check": "wdn-blink", "class": "failure"}); got < 2 {
			t.Errorf("exits{failure} = %v, want at least 2", got)
		}
	})

	t.Run("OOM killed", func(t *testing.T) {
		eng.Run(t, "wdn-oom", enginetest.RunOptions{Cmd: serve, Memory: 50 << 20, Env: []string{"EAT_MB=200"}, Publish: []string{func() string { p, _ := publish(); return p }()}})
		s.setChecks(&config.Config{Checks: []config.Check{check("wdn-oom")}})
		_, mfs := s.waitVerdict("wdn-oom", verdict.ServiceDown, "exited 137, OOM killed")
		if got := mustSeries(t, mfs, "warden_container_oom_kills_total", map[string]string{"check": "wdn-oom"}); got != 1 {
			t.Errorf("oom kills = %v, want 1", got)
		}
		if got := mustSeries(t, mfs, "warden_container_exits_total", map[string]string{"check": "wdn-oom", "class": "killed"}); got != 1 {
			t.Errorf("exits{killed} = %v, want 1", got)
		}
	})

	t.Run("unhealthy", func(t *testing.T) {
		pub, _ := publish()
		eng.Run(t, "wdn-sick", enginetest.RunOptions{Cmd: serve, Publish: []string{pub}, HealthCmd: []string{"/srv", "check", "127.0.0.1:1"},
			HealthInterval: time.Second, HealthRetries: 1})
		s.setChecks(&config.Config{Checks: []config.Check{check("wdn-sick")}})
		v, mfs := s.waitVerdict("wdn-sick", verdict.ProbeFailed, "the health check of container wdn-sick (docker) fails", "exit 1)", "127.0.0.1:1")
		if strings.Contains(v.Diagnosis, "127.0.0.1:1") || strings.Contains(v.Diagnosis, "in a row") {
			t.Errorf("the label quotes the output or the streak: %q", v.Diagnosis)
		}
		if got := mustSeries(t, mfs, "warden_container_unhealthy_total", map[string]string{"check": "wdn-sick"}); got != 1 {
			t.Errorf("unhealthy turns = %v, want 1", got)
		}
	})

	t.Run("paused, then unpaused", func(t *testing.T) {
		// A paused container's processes are frozen: its socket still
		// listens inside and dockerd's proxy on the host, but nothing
		// answers. Its state is its service layer: down while paused.
		pub, _ := publish()
		eng.Run(t, "wdn-pause", enginetest.RunOptions{Cmd: serve, Publish: []string{pub}})
		s.setChecks(&config.Config{Checks: []config.Check{check("wdn-pause")}})
		s.waitVerdict("wdn-pause", verdict.OK)
		eng.Pause(t, "wdn-pause")
		_, mfs := s.waitVerdict("wdn-pause", verdict.ServiceDown, "container wdn-pause (docker) is paused")
		if got := mustSeries(t, mfs, "warden_container_state", map[string]string{"check": "wdn-pause", "state": "paused"}); got != 1 {
			t.Errorf("warden_container_state{paused} = %v", got)
		}
		eng.Unpause(t, "wdn-pause")
		s.waitVerdict("wdn-pause", verdict.OK)
	})

	t.Run("published, but nothing listens inside", func(t *testing.T) {
		pub, port := publish()
		eng.Run(t, "wdn-deaf", enginetest.RunOptions{Cmd: serve, Publish: []string{pub}, Env: []string{"NO_LISTEN=1"}})
		s.setChecks(&config.Config{Checks: []config.Check{check("wdn-deaf")}})
		s.waitVerdict("wdn-deaf", verdict.PortDown, fmt.Sprintf("nothing listens on tcp %d inside container wdn-deaf (docker publishes 127.0.0.1:%d → %d/tcp)", enginetest.SrvPort, port, enginetest.SrvPort))
	})

	t.Run("a squatter on the published port while the container is down", func(t *testing.T) {
		pub, port := publish()
		eng.Run(t, "wdn-squat", enginetest.RunOptions{Cmd: serve, Publish: []string{pub}})
		s.setChecks(&config.Config{Checks: []config.Check{check("wdn-squat")}})
		s.waitVerdict("wdn-squat", verdict.OK)
		eng.Stop(t, "wdn-squat")
		s.waitVerdict("wdn-squat", verdict.ServiceDown)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		// Named by its process (root reads its fds), though no unit
		// holds it (no systemd here).
		s.waitVerdict("wdn-squat", verdict.ForeignListener, fmt.Sprintf("tcp 127.0.0.1:%d (docker publishes it for container wdn-squat) is held by collector.test (pid %d)", port, os.Getpid()))
	})

	t.Run("--network host: its ports are the host's", func(t *testing.T) {
		port := testenv.FreePort(t)
		eng.Run(t, "wdn-hostnet", enginetest.RunOptions{Network: "host", Cmd: []string{"serve", "127.0.0.1:" + strconv.Itoa(port)}})
		c := check("wdn-hostnet")
		c.Ports = []config.Port{{Proto: "tcp", Port: port}}
		s.setChecks(&config.Config{Checks: []config.Check{c}})
		v, _ := s.waitVerdict("wdn-hostnet", verdict.OK)
		if !v.Container.HostNetwork {
			t.Errorf("not seen as host network: %+v", v.Container)
		}
		eng.Stop(t, "wdn-hostnet")
		s.waitVerdict("wdn-hostnet", verdict.ServiceAndPortDown, "exited 0")
	})

	t.Run("zero-config learns the containers that publish ports", func(t *testing.T) {
		pub, _ := publish()
		eng.Run(t, "wdn-learned", enginetest.RunOptions{Cmd: serve, Publish: []string{pub}})
		s.setChecks(&config.Config{Discovery: config.Discovery{Enabled: true}})
		v, _ := s.waitVerdict("docker/wdn-learned", verdict.OK)
		if !v.Implicit {
			t.Error("docker/wdn-learned is not implicit")
		}
	})
}

// TestContainersOnARealPodman reads Podman through its Docker-compatible
// API: the same shapes, its own words (exit codes, restarts, health runs
// only when asked here: no systemd to time them).
func TestContainersOnARealPodman(t *testing.T) {
	eng := enginetest.Podman(t)
	eng.Image(t)
	s := newContainerScene(t, eng)
	port := testenv.FreePort(t)
	eng.Run(t, "wdn-pod", enginetest.RunOptions{Cmd: []string{"serve", ":" + strconv.Itoa(enginetest.SrvPort)}, Publish: []string{fmt.Sprintf("127.0.0.1:%d:%d", port, enginetest.SrvPort)}})
	s.setChecks(&config.Config{Checks: []config.Check{{Name: "pod", Container: "wdn-pod", Engine: "podman"}}})
	v, _ := s.waitVerdict("pod", verdict.OK)
	if v.Container.Engine != "podman" || len(v.Ports) != 1 || !v.Ports[0].ListeningOnHost || !v.Ports[0].ListeningInside {
		t.Errorf("container %+v ports %+v", v.Container, v.Ports)
	}
	eng.Stop(t, "wdn-pod")
	s.waitVerdict("pod", verdict.ServiceDown, "container wdn-pod (podman) exited")
}

// TestContainersOnADockerWithoutUserlandProxy judges containers of a
// dockerd run with --userland-proxy=false, which publishes by NAT rules
// (none here: the harness's --iptables=false) and holds each published
// port itself, listening, to reserve it: no docker-proxy. Its listener is
// the engine's own, also while a crash loop restarts the container (before
// dockerd was named the engine's: foreign_listener "held by dockerd").
func TestContainersOnADockerWithoutUserlandProxy(t *testing.T) {
	eng := enginetest.DockerWith(t, enginetest.DockerOptions{Args: []string{"--userland-proxy=false"}})
	eng.Image(t)
	s := newContainerScene(t, eng)
	serve := []string{"serve", ":" + strconv.Itoa(enginetest.SrvPort)}
	heldByDockerd := func(p verdict.PortVerdict) bool {
		return p.ListeningOnHost && slices.ContainsFunc(p.Seen, func(l verdict.SeenListener) bool { return l.Process == "dockerd" })
	}

	t.Run("running: dockerd holds the port on the host, the container listens inside", func(t *testing.T) {
		port := testenv.FreePort(t)
		eng.Run(t, "wdn-nat", enginetest.RunOptions{Cmd: serve, Publish: []string{fmt.Sprintf("127.0.0.1:%d:%d", port, enginetest.SrvPort)}})
		s.setChecks(&config.Config{Checks: []config.Check{{Name: "wdn-nat", Container: "wdn-nat", Engine: eng.Name}}})
		v, _ := s.waitVerdict("wdn-nat", verdict.OK)
		if len(v.Ports) != 1 || v.Ports[0].Port != port || !v.Ports[0].ListeningInside || !v.Ports[0].Listening {
			t.Fatalf("published port: %+v", v.Ports)
		}
		if !heldByDockerd(v.Ports[0]) {
			out, _ := exec.Command("ss", "-ltnp", "sport = :"+strconv.Itoa(port)).CombinedOutput()
			t.Fatalf("127.0.0.1:%d on the host is not dockerd's: %+v\n%s", port, v.Ports[0], out)
		}
	})

	t.Run("a crash loop: dockerd's reservation between runs is not a squatter", func(t *testing.T) {
		port := testenv.FreePort(t)
		eng.Run(t, "wdn-nat-loop", enginetest.RunOptions{Cmd: serve, Restart: "always", Env: []string{"CRASH_AFTER=1"},
			Publish: []string{fmt.Sprintf("127.0.0.1:%d:%d", port, enginetest.SrvPort)}})
		s.setChecks(&config.Config{Checks: []config.Check{{Name: "wdn-nat-loop", Container: "wdn-nat-loop", Engine: eng.Name}}})
		// Judged until the premise was met 3 times: the container not
		// running while dockerd holds its port (150 of 1,890
		// evaluations in 40 s here). Bounded: docker's restart delay
		// doubles from 100 ms, 9 restarts in the first minute.
		seen, n := 0, 0
		for deadline := time.Now().Add(90 * time.Second); seen < 3; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("in 90 s (%d evaluations) wdn-nat-loop was seen down with dockerd holding 127.0.0.1:%d %d times, want 3", n, port, seen)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			ev, err := s.e.Evaluate(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range ev.Verdicts {
				if v.Check != "wdn-nat-loop" {
					continue
				}
				n++
				if v.Status == verdict.ForeignListener {
					t.Fatalf("evaluation %d: %s: %s", n, v.Status, v.Reason)
				}
				if v.Container != nil && !v.Container.Up && len(v.Ports) == 1 && heldByDockerd(v.Ports[0]) {
					seen++
				}
			}
		}
		t.Logf("%d evaluations, %d with the container down and dockerd holding its port", n, seen)
	})
}

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

package enginetest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// Bounds of the self-test's waits: each is many times what it takes here.
const (
	greetWait   = 30 * time.Second // a started container's server accepts (~0.3 s)
	healthWait  = 30 * time.Second // first check after 1 s
	oomWait     = 60 * time.Second // srv touches 200 MiB against a 50 MiB limit
	restartWait = 60 * time.Second // docker's backoff doubles from 100 ms
)

func serveOpts(port int) RunOptions {
	return RunOptions{
		Cmd:       []string{"serve", ":" + strconv.Itoa(SrvPort)},
		Publish:   []string{"127.0.0.1:" + strconv.Itoa(port) + ":" + strconv.Itoa(SrvPort)},
		HealthCmd: []string{"/srv", "check", "127.0.0.1:" + strconv.Itoa(SrvPort)},
	}
}

// checkPremises runs what the container layer's tests build on: a
// published port that greets, a crash loop that restarts, an OOM kill.
func checkPremises(t *testing.T, e *Engine) {
	t.Run("published", func(t *testing.T) {
		port := testenv.NonEphemeralPort(t)
		start := time.Now()
		e.Run(t, "srv-published", serveOpts(port))
		e.WaitState(t, "srv-published", "running", greetWait)
		t.Logf("%s: container running in %v", e.Name, time.Since(start).Round(time.Millisecond))
		WaitGreeting(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), greetWait)
		t.Logf("%s: container greeted in %v", e.Name, time.Since(start).Round(time.Millisecond))
		if e.Name == "podman" {
			if got := e.RunHealthCheck(t, "srv-published"); got != "healthy" {
				t.Errorf("podman health check: %q, want healthy", got)
			}
		}
		e.WaitFor(t, "srv-published", "State.Health.Status", "healthy", healthWait)
		ports := Field(e.Inspect(t, "srv-published"), "NetworkSettings.Ports."+strconv.Itoa(SrvPort)+"/tcp")
		if got, want := fmt.Sprint(ports), "[map[HostIp:127.0.0.1 HostPort:"+strconv.Itoa(port)+"]]"; got != want {
			t.Errorf("NetworkSettings.Ports: %s, want %s", got, want)
		}
	})
	t.Run("no-listener", func(t *testing.T) {
		port := testenv.NonEphemeralPort(t)
		opts := serveOpts(port)
		opts.Env = []string{"NO_LISTEN=1"}
		e.Run(t, "srv-silent", opts)
		e.WaitState(t, "srv-silent", "running", greetWait)
		if got, err := Greet(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); got != "" {
			t.Errorf("a published port nothing listens behind greeted: %q (%v)", got, err)
		}
		if got := Field(e.Inspect(t, "srv-silent"), "State.Status"); got != "running" {
			t.Errorf("the container that does not listen is %v, want running", got)
		}
		start := time.Now()
		e.Stop(t, "srv-silent")
		m := e.WaitState(t, "srv-silent", "exited", greetWait)
		if got := fmt.Sprint(Field(m, "State.ExitCode")); got != "0" {
			t.Errorf("stopped: ExitCode %s, want 0 (srv exits at SIGTERM)", got)
		}
		t.Logf("%s: stopped in %v", e.Name, time.Since(start).Round(time.Millisecond))
	})
	t.Run("oom", func(t *testing.T) {
		opts := serveOpts(0)
		opts.Publish, opts.HealthCmd = nil, nil
		opts.Memory, opts.Env = 50<<20, []string{"EAT_MB=200"}
		e.Run(t, "srv-oom", opts)
		m := e.WaitState(t, "srv-oom", "exited", oomWait)
		if got := fmt.Sprint(Field(m, "State.ExitCode")); got != "137" {
			t.Errorf("ExitCode %s, want 137 (SIGKILL)", got)
		}
		// Podman with runc on cgroup v1 does not tell (containers-facts.md §5).
		if got := Field(m, "State.OOMKilled"); e.Name == "docker" && got != true {
			t.Errorf("OOMKilled %v, want true", got)
		}
	})
	t.Run("crash-loop", func(t *testing.T) {
		opts := serveOpts(0)
		opts.Publish, opts.HealthCmd = nil, nil
		opts.Restart, opts.Env = "always", []string{"CRASH_AFTER=1"}
		e.Run(t, "srv-crash", opts)
		deadline := time.Now().Add(restartWait)
		for {
			m := e.Inspect(t, "srv-crash")
			n, _ := Field(m, "RestartCount").(float64)
			if n >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("RestartCount %v after %v, want >= 2 (State %v)", n, restartWait, Field(m, "State"))
			}
			time.Sleep(pollInterval)
		}
	})
}

// selfTest starts an engine in a subtest, checks the premises there, and
// after its teardown that nothing it ran is left: no process with its
// directory in its command line (daemon, containerd, shims, conmon), no
// directory. It reports whether the engine ran (not skipped).
func selfTest(t *testing.T, start func(testing.TB) *Engine) bool {
	var dir string
	t.Run("engine", func(t *testing.T) {
		e := start(t)
		dir = filepath.Dir(e.Socket)
		checkPremises(t, e)
	})
	if dir == "" {
		return false
	}
	if left := processesUnder(dir); len(left) > 0 {
		t.Errorf("processes of the engine left after its teardown: %v", left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the engine's directory %s is still there after the teardown (%v)", dir, err)
	}
	return true
}

func TestDocker(t *testing.T) {
	needRoot(t, "dockerd") // before reading iptables
	start := time.Now()
	foreign := otherProcesses("dockerd")
	docker0 := LinkExists("docker0")
	chainsBefore := Chains(t, "DOCKER")
	if !selfTest(t, Docker) {
		return
	}
	if LinkExists(DockerBridge) {
		t.Errorf("the bridge %s is still there after the teardown", DockerBridge)
	}
	if got := LinkExists("docker0"); got != docker0 {
		t.Errorf("docker0 exists: %v, was %v before", got, docker0)
	}
	// Another dockerd (by hand) may make or drop its chains meanwhile.
	if after := Chains(t, "DOCKER"); len(foreign) == 0 && !slices.Equal(after, chainsBefore) {
		t.Errorf("iptables chains DOCKER*: %v, were %v before", after, chainsBefore)
	}
	t.Logf("docker self-test: %v", time.Since(start).Round(time.Millisecond))
}

func TestPodman(t *testing.T) {
	needRoot(t, "rootful podman")
	start := time.Now()
	bridge := LinkExists(PodmanBridge)
	chainsBefore := Chains(t, "CNI-")
	if !selfTest(t, Podman) {
		return
	}
	// Another podman's containers keep the bridge and chains (cleanNetwork).
	if members := bridgeMembers(PodmanBridge); len(members) == 0 {
		if got := LinkExists(PodmanBridge); got != bridge {
			t.Errorf("%s exists: %v, was %v before", PodmanBridge, got, bridge)
		}
		if after := Chains(t, "CNI-"); !slices.Equal(after, chainsBefore) {
			t.Errorf("iptables chains CNI-*: %v, were %v before", after, chainsBefore)
		}
	}
	t.Logf("podman self-test: %v", time.Since(start).Round(time.Millisecond))
}

// TestDeleteChains checks the chain removal podman's teardown relies on,
// on chains of its own: a jump with a quoted comment (as CNI writes them)
// from a built-in chain, and a jump between two removed chains.
func TestDeleteChains(t *testing.T) {
	needRoot(t, "iptables")
	testenv.LookPath(t, "iptables", "apt-get install iptables")
	prefix := "WDNT" + strconv.Itoa(os.Getpid()) + "-"
	a, b := prefix+"A", prefix+"B"
	t.Cleanup(func() { deleteChains([]string{"filter/" + a, "filter/" + b}) })
	for _, args := range [][]string{
		{"-N", a}, {"-N", b},
		{"-A", a, "-j", b},
		{"-A", b, "-j", "RETURN"},
		{"-A", "OUTPUT", "-m", "comment", "--comment", `warden enginetest: "quoted" jump`, "-j", a},
	} {
		if _, err := command("iptables", append([]string{"-w", "5", "-t", "filter"}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	if got := Chains(t, prefix); len(got) != 2 {
		t.Fatalf("chains made: %v", got)
	}
	if err := deleteChains([]string{"filter/" + a, "filter/" + b}); err != nil {
		t.Fatal(err)
	}
	if got := Chains(t, prefix); len(got) != 0 {
		t.Errorf("chains left: %v", got)
	}
	out, err := command("iptables", "-w", "5", "-t", "filter", "-S", "OUTPUT")
	if err != nil || strings.Contains(out, prefix) {
		t.Errorf("a jump left in OUTPUT (%v):\n%s", err, out)
	}
}

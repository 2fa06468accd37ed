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
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// PodmanBridge is the bridge of podman's default CNI network "podman"
// (10.88.0.0/16), shared by every rootful podman on the machine: its IPAM
// state is machine-wide (/var/lib/cni/networks/podman), so ours and
// another's never hand out the same address.
const PodmanBridge = "cni-podman0"

const (
	podmanLock   = "/run/warden-enginetest-podman.lock"
	podmanPrefix = "wdn-podman-" // our temporary directories
)

// podmanGlobal are podman's options for the state in dir, the same for the
// service and for the CLI on its state.
func podmanGlobal(dir string) []string {
	return []string{
		"--root", filepath.Join(dir, "root"),
		"--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"),
		"--storage-driver", "vfs",
		"--runtime", "runc",
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "file",
	}
}

// Podman starts a rootful podman API service for the test (`podman system
// service`) with runc (crun cannot run on a cgroup v1/v2 hybrid),
// cgroupfs, vfs storage, root, runroot and tmpdir of its own in a
// temporary directory, and every container's nofile and nproc limits at
// 4096 (podman raises both hard limits by default, which needs
// CAP_SYS_RESOURCE in the user namespace the test may lack). Its teardown
// removes every container, stops the service by its pid, and deletes the
// CNI bridge and CNI-* chains if this service made them and nothing else
// uses the bridge. It skips (or fails, with WARDEN_REQUIRE_INTEGRATION=1)
// without root, podman or runc.
//
// Podman runs health checks from systemd timers: on a host whose PID 1 is
// not systemd a container's health stays "starting" until RunHealthCheck.
func Podman(t testing.TB) *Engine {
	t.Helper()
	needRoot(t, "rootful podman")
	podman := "/usr/bin/podman"
	needFile(t, podman, "apt-get install podman")
	needFile(t, "/usr/sbin/runc", "apt-get install runc")
	lockMachine(t, podmanLock)
	// A dead test's podman leaves its containers running under conmon: the
	// CLI on the same state removes them.
	sweepStale(t, "podman", podmanPrefix, func(dir string) error {
		_, err := command(podman, append(podmanGlobal(dir), "rm", "--all", "--force", "--time", "0")...)
		return err
	})
	dir := tempDir(t, podmanPrefix)

	bridgeBefore := LinkExists(PodmanBridge)
	chainsBefore, err := chains("CNI-")
	if err != nil {
		t.Fatal(err)
	}
	// INVOCATION_ID makes podman leave conmon in the caller's systemd unit,
	// killed with it (containers-facts.md, §1).
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "INVOCATION_ID=") })
	socket := filepath.Join(dir, "podman.sock")
	start := time.Now()
	d, err := startDaemon(podman, filepath.Join(dir, "podman.log"), env,
		append(podmanGlobal(dir), "system", "service", "--time=0", "unix://"+socket)...)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine("podman", socket)
	e.ulimits = []ulimit{{"nofile", 4096, 4096}, {"nproc", 4096, 4096}}
	t.Cleanup(func() {
		err := e.teardown(d, dir)
		if err2 := cleanNetwork(t, bridgeBefore, chainsBefore); err2 != nil {
			err = errors.Join(err, err2)
		}
		if err != nil {
			t.Errorf("podman teardown: %v\n%s", err, d.tail())
		}
	})
	if err := waitPing(e, d); err != nil {
		t.Fatalf("%v; its log:\n%s", err, d.tail())
	}
	t.Logf("podman service (pid %d) answered in %v", d.cmd.Process.Pid, time.Since(start).Round(time.Millisecond))
	return e
}

// cleanNetwork deletes what CNI made for our containers and keeps after
// them: the bridge and the CNI-* chains (CNI-HOSTPORT-DNAT, CNI-FORWARD …),
// when they were not there before and no other container is on the bridge.
func cleanNetwork(t testing.TB, bridgeBefore bool, chainsBefore []string) error {
	if members := bridgeMembers(PodmanBridge); len(members) > 0 {
		t.Logf("leaving %s and the CNI chains: other containers use them (%s)", PodmanBridge, strings.Join(members, " "))
		return nil
	}
	var errs []error
	if !bridgeBefore && LinkExists(PodmanBridge) {
		if _, err := command("ip", "link", "del", PodmanBridge); err != nil {
			errs = append(errs, err)
		}
	}
	after, err := chains("CNI-")
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	var made []string
	for _, c := range after {
		if !slices.Contains(chainsBefore, c) {
			made = append(made, c)
		}
	}
	if len(made) > 0 {
		if err := deleteChains(made); err != nil {
			errs = append(errs, fmt.Errorf("deleting the chains %v: %w", made, err))
		}
	}
	return errors.Join(errs...)
}

// RunHealthCheck runs a podman container's health check now (what
// podman's systemd timer would do) through the libpod API, and returns the
// status it reports ("healthy", "unhealthy").
func (e *Engine) RunHealthCheck(t testing.TB, name string) string {
	t.Helper()
	if e.Name != "podman" {
		t.Fatalf("RunHealthCheck: %s runs its health checks itself", e.Name)
	}
	var res struct{ Status string }
	// Outside the compat prefix: Call's paths are below /v1.41, and libpod
	// serves its own API under any version prefix too.
	if err := e.Call("GET", "/libpod/containers/"+name+"/healthcheck", nil, nil, &res); err != nil {
		t.Fatalf("running the health check of %s: %v", name, err)
	}
	return res.Status
}

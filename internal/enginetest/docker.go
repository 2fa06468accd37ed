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
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Docker's own network: a bridge the harness makes and deletes, instead of
// docker0. Another dockerd on the machine (someone's, by hand) owns docker0
// and 172.17.0.0/16: a second daemon on the default bridge would hand out
// the same addresses on the same link, and at start flush the DOCKER
// chains the first one's published ports live in. With a bridge of our own
// and --iptables=false our dockerd touches no iptables rule, no sysctl
// (--ip-forward=false) and no docker0; a published port is then served by
// docker-proxy alone, which is what a dial to 127.0.0.1 meets anyway
// (docker's nat OUTPUT rule skips 127.0.0.0/8).
const (
	DockerBridge     = "wdn-docker0"
	dockerBridgeAddr = "10.213.24.1/24" // private, not Docker's 172.17-31 nor podman's 10.88
	dockerLock       = "/run/warden-enginetest-docker.lock"
	dockerPrefix     = "wdn-docker-" // our temporary directories
)

// Docker starts a dockerd for the test (Debian's docker.io, runc) with its
// data, exec root, socket, pidfile and log in a temporary directory, vfs
// storage (overlay2 cannot nest on an overlay root, and the test image is
// 3 MB), and the bridge DockerBridge; it waits until it answers (at most
// 30 s) and registers its teardown: every container removed, the daemon
// stopped by its pid (SIGTERM, SIGKILL after 20 s), the bridge deleted, the
// directory removed. It skips (or fails, with WARDEN_REQUIRE_INTEGRATION=1)
// without root or dockerd.
func Docker(t testing.TB) *Engine {
	t.Helper()
	return DockerWith(t, DockerOptions{})
}

// DockerOptions change the dockerd that DockerWith starts.
type DockerOptions struct {
	// Args are given to dockerd after the harness's own, e.g.
	// "--userland-proxy=false" (which also sets route_localnet on the
	// harness's bridge alone, deleted with it). They are flags, not the
	// configuration file's keys: the harness's file stays empty.
	Args []string
}

// DockerWith is Docker with opts: one dockerd at a time still (the same
// lock), so a test of a differently configured daemon waits for the others.
func DockerWith(t testing.TB, opts DockerOptions) *Engine {
	t.Helper()
	needRoot(t, "dockerd")
	needFile(t, "/usr/sbin/dockerd", "apt-get install docker.io runc")
	needFile(t, "/usr/sbin/runc", "apt-get install runc")
	lockMachine(t, dockerLock)
	// dockerd stops its containers at SIGTERM.
	sweepStale(t, "dockerd", dockerPrefix, nil)
	dir := tempDir(t, dockerPrefix)

	// Under the lock a bridge of that name is a killed test run's.
	if LinkExists(DockerBridge) {
		if _, err := command("ip", "link", "del", DockerBridge); err != nil {
			t.Fatalf("deleting a stale %s: %v", DockerBridge, err)
		}
	}
	if out, err := command("ip", "-4", "-o", "addr", "show", "to", dockerBridgeAddr); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("the docker test bridge's subnet %s is taken on this machine (%v): %s", dockerBridgeAddr, err, out)
	}
	for _, args := range [][]string{
		{"link", "add", DockerBridge, "type", "bridge"},
		{"addr", "add", dockerBridgeAddr, "dev", DockerBridge},
		{"link", "set", DockerBridge, "up"},
	} {
		if _, err := command("ip", args...); err != nil {
			t.Fatalf("making the bridge %s: %v", DockerBridge, err)
		}
		if args[1] == "add" && args[0] == "link" {
			t.Cleanup(func() {
				if _, err := command("ip", "link", "del", DockerBridge); err != nil {
					t.Errorf("deleting the bridge: %v", err)
				}
			})
		}
	}

	// An empty configuration: the machine's /etc/docker/daemon.json is for
	// its own dockerd.
	config := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(config, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "docker.sock")
	start := time.Now()
	args := append([]string{
		"--config-file", config,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"-H", "unix://" + socket,
		"--storage-driver", "vfs",
		"--bridge", DockerBridge,
		"--iptables=false", "--ip-forward=false", "--ip-masq=false",
		// Where the machine runs a system containerd dockerd uses it
		// instead of its own: keep our containers apart there.
		"--containerd-namespace", "warden-enginetest",
		"--containerd-plugins-namespace", "warden-enginetest-plugins",
	}, opts.Args...)
	d, err := startDaemon("/usr/sbin/dockerd", filepath.Join(dir, "dockerd.log"), os.Environ(), args...)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine("docker", socket)
	t.Cleanup(func() {
		if err := e.teardown(d, dir); err != nil {
			t.Errorf("docker teardown: %v\n%s", err, d.tail())
		}
	})
	if err := waitPing(e, d); err != nil {
		t.Fatalf("%v; its log:\n%s", err, d.tail())
	}
	t.Logf("dockerd (pid %d) answered in %v", d.cmd.Process.Pid, time.Since(start).Round(time.Millisecond))
	return e
}

// teardown removes every container, stops the daemon and what it left
// running or mounted below dir.
func (e *Engine) teardown(d *daemon, dir string) error {
	var errs []error
	if err := e.removeAll(); err != nil {
		errs = append(errs, fmt.Errorf("removing the containers: %w", err))
	}
	if err := d.stop(); err != nil {
		errs = append(errs, err)
	}
	// dockerd's own containerd stops with it; one it left behind (dockerd
	// killed) is found by its pidfile and killed.
	if pid, err := readPid(filepath.Join(dir, "exec", "containerd", "containerd.pid")); err == nil && processUnder(pid, dir) {
		unix.Kill(pid, unix.SIGKILL)
		errs = append(errs, fmt.Errorf("dockerd left its containerd (pid %d) running: killed", pid))
	}
	errs = append(errs, unmountUnder(dir))
	return errors.Join(errs...)
}

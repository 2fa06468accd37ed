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

package sysboxtest

import (
	"context"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testcgroup"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

func TestBootedHost(t *testing.T) {
	booted := 0
	for _, tc := range []struct {
		name    string
		unified bool
	}{{"host-layout", false}, {"unified", true}} {
		t.Run(tc.name, func(t *testing.T) {
			if testBootedHost(t, tc.unified) {
				booted++
			}
		})
	}
	if booted == 0 {
		// Not a pass: nothing was checked.
		testenv.Skip(t, "no container booted (the subtests said why)")
	}
}

// testBootedHost boots a container, checks it is the booted host the tests
// need, tears it down and checks nothing of it is left. It reports whether
// the container booted.
func testBootedHost(t *testing.T, unified bool) bool {
	nspawnBefore := runSystemdNspawn()
	bind := t.TempDir()
	if err := os.WriteFile(filepath.Join(bind, "marker"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A listener on the host's loopback, which the container must not see.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hostPort := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)

	selfCgroup, _ := os.ReadFile("/proc/self/cgroup")
	start := time.Now()
	h := Boot(t, Options{Bind: bind, UnifiedCgroup: unified})
	bootTime := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A booted system: systemd is PID 1, the boot is over.
	if got := strings.TrimSpace(h.Run(t, "cat", "/proc/1/comm")); got != "systemd" {
		t.Errorf("PID 1 inside is %q, want systemd", got)
	}
	out, _ := h.Exec(ctx, "systemctl", "is-system-running") // exits 1 when degraded
	if state := strings.TrimSpace(string(out)); state != "running" && state != "degraded" {
		t.Errorf("system state %q, want running or degraded", state)
	}
	if failed := h.Run(t, "systemctl", "--failed", "--no-legend", "--plain", "--no-pager"); failed != "" {
		t.Logf("failed units (the host's own, enabled there):\n%s", failed)
	}

	// The cgroup layout asked for.
	fsType := strings.TrimSpace(h.Run(t, "stat", "-fc", "%T", "/sys/fs/cgroup"))
	hostFSType, err := exec.Command("stat", "-fc", "%T", "/sys/fs/cgroup").Output()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case unified && fsType != "cgroup2fs":
		t.Errorf("/sys/fs/cgroup inside is %s, want cgroup2fs", fsType)
	case !unified && fsType != strings.TrimSpace(string(hostFSType)):
		t.Errorf("/sys/fs/cgroup inside is %s, want the host's layout (%s)", fsType, hostFSType)
	}
	t.Logf("/sys/fs/cgroup inside: %s (host: %s)", fsType, strings.TrimSpace(string(hostFSType)))

	// The system bus.
	if got := strings.TrimSpace(h.Run(t, "systemctl", "is-active", "dbus.service")); got != "active" {
		t.Errorf("dbus.service is %s", got)
	}
	if names := h.Run(t, "busctl", "--system", "--no-pager", "--no-legend", "list"); !strings.Contains(names, "org.freedesktop.systemd1") {
		t.Errorf("busctl --system list does not list org.freedesktop.systemd1:\n%s", names)
	}

	// Debian's nginx.service, started by the boot, owns :80 by its cgroup.
	if got := strings.TrimSpace(h.Run(t, "systemctl", "is-active", "nginx.service")); got != "active" {
		t.Errorf("nginx.service is %s", got)
	}
	listeners := h.Run(t, "ss", "-ltnH", "--cgroup")
	if !hasListener(listeners, "80", "cgroup:/system.slice/nginx.service") {
		t.Errorf("no :80 listener in cgroup /system.slice/nginx.service:\n%s", listeners)
	}
	// The Server header, not the page: with apache2 installed (the test
	// dependencies), /var/www/html/index.html is Apache's default page,
	// which nginx's default site serves first.
	headCtx, cancelHead := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancelHead()
	if head, err := h.ExecNet(headCtx, "curl", "--silent", "--show-error", "--noproxy", "*", "--max-time", "10", "--head", "http://127.0.0.1/"); err != nil ||
		!strings.Contains(strings.ToLower(string(head)), "server: nginx") {
		t.Errorf("HEAD http://127.0.0.1/ inside: not nginx (%v):\n%s", err, head)
	}

	// The bind directory, read-only.
	if got := h.Run(t, "cat", BindTarget+"/marker"); got != "from the host\n" {
		t.Errorf("%s/marker reads %q", BindTarget, got)
	}
	if out, err := h.Exec(ctx, "touch", BindTarget+"/written"); err == nil || !strings.Contains(string(out), "Read-only file system") {
		t.Errorf("writing to %s: %v %s, want a read-only file system", BindTarget, err, out)
	}

	// A loopback of its own: the host's listener is not there.
	if hasListener(listeners, hostPort, "") {
		t.Errorf("the host's listener on 127.0.0.1:%s is visible inside:\n%s", hostPort, listeners)
	}
	if out, err := h.ExecNet(ctx, "curl", "--silent", "--show-error", "--noproxy", "*", "--max-time", "5", "http://127.0.0.1:"+hostPort+"/"); err == nil {
		t.Errorf("the container's loopback reached the host's listener on :%s:\n%s", hostPort, out)
	}

	// Only the launching process moved to the container's cgroups: not the
	// test, not the host's PID 1.
	if now, _ := os.ReadFile("/proc/self/cgroup"); string(now) != string(selfCgroup) {
		t.Errorf("the test process moved cgroups:\n%s\nnow:\n%s", selfCgroup, now)
	}
	if pid1, _ := os.ReadFile("/proc/1/cgroup"); strings.Contains(string(pid1), h.Name()) || strings.Contains(string(pid1), "init.scope") {
		t.Errorf("the host's PID 1 was moved:\n%s", pid1)
	}

	// nspawn's own view of /run/systemd is a tmpfs of its mount namespace:
	// what it makes in /run/systemd/nspawn never reaches the host.
	if !hidesRunSystemd(h.cmd.Process.Pid) {
		t.Errorf("systemd-nspawn sees the host's /run/systemd")
	}
	if _, err := os.Stat("/run/systemd/nspawn/propagate/" + h.Name()); err == nil {
		t.Errorf("/run/systemd/nspawn/propagate/%s on the host", h.Name())
	}

	// Teardown, and nothing left of the container.
	dirs, state, leader, nspawn := h.cgroupDirs, h.state, h.Leader(), h.cmd.Process.Pid
	start = time.Now()
	h.Shutdown(t)
	teardownTime := time.Since(start)
	h.Shutdown(t) // idempotent, as the Cleanup will call it again
	checkGone(t, h.Name(), dirs, state, leader, nspawn)
	if after := runSystemdNspawn(); after != nspawnBefore {
		// Not ours (nspawn never saw the host's /run/systemd, checked
		// above) unless it names our machine: someone else on this machine
		// runs systemd-nspawn.
		if strings.Contains(after, h.Name()) {
			t.Errorf("/run/systemd/nspawn changed: before %q, after %q", nspawnBefore, after)
		} else {
			t.Logf("/run/systemd/nspawn changed meanwhile, not by this test: before %q, after %q", nspawnBefore, after)
		}
	}
	t.Logf("boot %s, teardown %s", bootTime.Round(time.Millisecond), teardownTime.Round(time.Millisecond))
	return true
}

// Two containers at once, in both layouts: unique names, cgroups and state,
// and each its own :80.
func TestConcurrentBoots(t *testing.T) {
	type booted struct {
		name, state   string
		dirs          []string
		leader, pid   int
		unifiedLayout bool
	}
	var (
		mu  sync.Mutex
		all []booted
	)
	t.Run("group", func(t *testing.T) {
		for i, unified := range []bool{false, true} {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				h := Boot(t, Options{UnifiedCgroup: unified})
				mu.Lock()
				all = append(all, booted{h.Name(), h.state, h.cgroupDirs, h.Leader(), h.cmd.Process.Pid, unified})
				mu.Unlock()
				if got := strings.TrimSpace(h.Run(t, "systemctl", "is-active", "nginx.service")); got != "active" {
					t.Errorf("nginx.service is %s", got)
				}
				if got := strings.TrimSpace(h.Run(t, "ss", "-ltnH", "sport", "=", ":80")); got == "" {
					t.Errorf("no :80 listener in its own network namespace")
				}
			})
		}
	})
	if len(all) != 2 {
		testenv.Skip(t, "the containers did not boot (the subtests said why)")
	}
	if all[0].name == all[1].name || all[0].state == all[1].state {
		t.Errorf("two containers share a name or a state directory: %+v", all)
	}
	for _, b := range all { // both torn down by their Cleanup
		checkGone(t, b.name, b.dirs, b.state, b.leader, b.pid)
	}
}

// checkGone checks that nothing of a torn-down container is left: its
// cgroups, its processes, its mounts, its state directory.
func checkGone(t *testing.T, name string, dirs []string, state string, leader, nspawn int) {
	t.Helper()
	if len(dirs) == 0 {
		t.Errorf("%s had no cgroups", name)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left behind", d)
		}
	}
	for _, pid := range []int{leader, nspawn} {
		if testcgroup.Alive(pid) {
			t.Errorf("process %d (%s) survived the teardown", pid, comm(pid))
		}
	}
	if _, err := os.Stat(state); err == nil {
		t.Errorf("state directory %s left behind", state)
	}
	// In any mount namespace, and any process mentioning the machine name
	// (nspawn's -M NAME).
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if info, err := os.ReadFile(p + "/mountinfo"); err == nil && strings.Contains(string(info), state) {
			t.Errorf("%s still has mounts of %s", p, state)
		}
		if cmdline, err := os.ReadFile(p + "/cmdline"); err == nil && strings.Contains(string(cmdline), name) {
			t.Errorf("%s still runs: %s", p, strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
}

// hasListener reports whether ss -ltnH output has a listener on port, on
// any address, whose line contains with.
func hasListener(ss, port, with string) bool {
	for line := range strings.Lines(ss) {
		fields := strings.Fields(line)
		if len(fields) >= 4 && strings.HasSuffix(fields[3], ":"+port) && strings.Contains(line, with) {
			return true
		}
	}
	return false
}

// runSystemdNspawn describes /run/systemd/nspawn on the host, which a
// container must not change.
func runSystemdNspawn() string {
	var entries []string
	err := filepath.WalkDir("/run/systemd/nspawn", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		entries = append(entries, path)
		return nil
	})
	if os.IsNotExist(err) {
		return "absent"
	}
	if err != nil { // not root: Boot skips
		return err.Error()
	}
	return strings.Join(entries, " ")
}

// hidesRunSystemd reports whether pid sees a tmpfs at /run/systemd (or at
// /run, on hosts without /run/systemd) rather than the host's directory.
func hidesRunSystemd(pid int) bool {
	info, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/mountinfo")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(info)) {
		fields := strings.Fields(line)
		sep := slices.Index(fields, "-")
		if sep < 5 || sep+2 >= len(fields) {
			continue
		}
		mp, fsType, source := fields[4], fields[sep+1], fields[sep+2]
		if (mp == "/run/systemd" || mp == "/run") && fsType == "tmpfs" && source == "wsbx" {
			return true
		}
	}
	return false
}

func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

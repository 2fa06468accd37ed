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

// Package systemdtest runs a real systemd user manager for tests and
// benchmarks on machines that did not boot with systemd.
//
// systemd refuses to run unless /run/systemd/system exists. Creating it on the
// host would tell every other program the host runs systemd, so the manager
// runs in a private mount namespace where a tmpfs hides the host's
// /run/systemd. It also gets cgroups of its own, one per hierarchy, below the
// caller's: a manager started at a cgroup root takes the root over and moves
// every process in it (PID 1 included) into its init.scope. Inside its own
// subtree it only touches what it starts, and several managers can run at
// once, one per test.
package systemdtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testcgroup"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// managerBinary is where Debian installs systemd.
const managerBinary = "/lib/systemd/systemd"

// startTimeout bounds how long a manager may take to come up.
const startTimeout = 20 * time.Second

// Manager is one running systemd user manager.
type Manager struct {
	// RuntimeDir is the manager's XDG_RUNTIME_DIR: its private socket is at
	// RuntimeDir/systemd/private, the user bus (dbus-user-session) at
	// RuntimeDir/bus.
	RuntimeDir string

	t          testing.TB
	name       string   // cgroup directory name, unique per manager
	cgroupDirs []string // one per hierarchy, created by us
	mu         sync.Mutex
	cmd        *exec.Cmd
	exited     chan struct{}
	log        *os.File
}

// Start runs a manager for the test and stops it, and everything it started,
// when the test ends. It skips (or fails, when integration tests are
// required) where a manager cannot run: not root, no systemd, no unshare.
func Start(t testing.TB) *Manager {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "a systemd user manager in a private mount namespace needs root (unshare -m, mount, cgroups)")
	}
	if _, err := os.Stat(managerBinary); err != nil {
		testenv.Skip(t, "%s not found (apt-get install systemd)", managerBinary)
	}
	testenv.LookPath(t, "unshare", "apt-get install util-linux")
	testenv.LookPath(t, "systemctl", "apt-get install systemd")

	dir, err := os.MkdirTemp("", "warden-systemd-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	m := &Manager{
		RuntimeDir: dir,
		t:          t,
		name:       "warden-test-" + strconv.Itoa(os.Getpid()) + "-" + filepath.Base(dir),
	}
	t.Cleanup(func() {
		m.stop()
		os.RemoveAll(dir)
	})
	m.cgroupDirs, err = testcgroup.Create(m.name)
	if err != nil {
		t.Fatalf("creating the manager's cgroups: %v", err)
	}
	m.start(t)
	return m
}

// PrivateAddress is the D-Bus address of the manager's private socket, which
// speaks the org.freedesktop.systemd1 API peer to peer.
func (m *Manager) PrivateAddress() string {
	return "unix:path=" + filepath.Join(m.RuntimeDir, "systemd", "private")
}

// BusAddress is the address of the user bus the manager runs.
func (m *Manager) BusAddress() string {
	return "unix:path=" + filepath.Join(m.RuntimeDir, "bus")
}

// CgroupRoot is the manager's cgroup, relative to the hierarchy root: unit
// cgroups (ControlGroup) are below it.
func (m *Manager) CgroupRoot() string { return "/" + m.name }

// PID is the manager's process id.
func (m *Manager) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd.Process.Pid
}

// Env is the environment for systemctl --user and systemd-run --user.
func (m *Manager) Env() []string {
	return append(os.Environ(),
		"XDG_RUNTIME_DIR="+m.RuntimeDir,
		"DBUS_SESSION_BUS_ADDRESS="+m.BusAddress(),
		"XDG_CONFIG_HOME="+filepath.Join(m.RuntimeDir, "config"),
	)
}

// SystemBusReplyLimit is dbus-daemon's max_replies_per_connection on the
// system bus (system.conf's default). The session bus allows 50,000, so a
// client that keeps too many calls in flight passes every test on the user
// bus and fails on a real host with LimitsExceeded: the harness gives the
// user bus the system bus's limit.
const SystemBusReplyLimit = 128

// script runs in the new mount namespace: it joins the cgroups made for this
// manager, hides the host's /run/systemd, gives the session bus the system
// bus's reply limit (a copy of session.conf bound over it, in this namespace
// only) and becomes the manager.
const script = `set -e
for procs in $WARDEN_CGROUP_PROCS; do echo $$ > "$procs"; done
if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; else mount -t tmpfs tmpfs /run; mkdir -p /run/systemd; fi
mkdir -p /run/systemd/system
if [ -f /usr/share/dbus-1/session.conf ]; then
  sed 's|<limit name="max_replies_per_connection">[0-9]*</limit>|<limit name="max_replies_per_connection">'"$WARDEN_REPLY_LIMIT"'</limit>|' \
    /usr/share/dbus-1/session.conf > "$XDG_RUNTIME_DIR/session.conf"
  grep -q "max_replies_per_connection\">$WARDEN_REPLY_LIMIT<" "$XDG_RUNTIME_DIR/session.conf"
  mount --bind "$XDG_RUNTIME_DIR/session.conf" /usr/share/dbus-1/session.conf
fi
exec ` + managerBinary + ` --user --log-target=console --log-level=notice
`

func (m *Manager) start(t testing.TB) {
	t.Helper()
	var procs []string
	for _, d := range m.cgroupDirs {
		procs = append(procs, filepath.Join(d, "cgroup.procs"))
	}
	logFile, err := os.OpenFile(filepath.Join(m.RuntimeDir, "manager.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(m.Env(), "WARDEN_CGROUP_PROCS="+strings.Join(procs, " "), "WARDEN_REPLY_LIMIT="+strconv.Itoa(SystemBusReplyLimit))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting the manager: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	m.mu.Lock()
	m.cmd, m.exited, m.log = cmd, exited, logFile
	m.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		// is-system-running would say "offline" here: systemctl checks the
		// host's /run/systemd/system, which the namespace hides only from the
		// manager. The manager's own SystemState is what counts: "running",
		// or "degraded" when a default unit of the image failed.
		out, _ := m.systemctl("show", "--value", "-p", "SystemState")
		state := strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			break
		}
		select {
		case <-exited:
			t.Fatalf("the systemd manager exited while starting:\n%s", m.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the systemd manager did not come up within %s (last state %q):\n%s", startTimeout, state, m.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *Manager) systemctl(args ...string) (string, error) {
	cmd := exec.Command("systemctl", append([]string{"--user", "--no-pager"}, args...)...)
	cmd.Env = m.Env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Systemctl runs systemctl --user against this manager and fails the test
// if it fails.
func (m *Manager) Systemctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := m.systemctl(args...)
	if err != nil {
		t.Fatalf("systemctl --user %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// SystemctlMayFail runs systemctl --user and returns its output and error.
func (m *Manager) SystemctlMayFail(args ...string) (string, error) { return m.systemctl(args...) }

// Run starts a transient unit: systemd-run --user --unit=NAME ARGS...
func (m *Manager) Run(t testing.TB, unit string, args ...string) {
	t.Helper()
	cmd := exec.Command("systemd-run", append([]string{"--user", "--quiet", "--unit=" + unit}, args...)...)
	cmd.Env = m.Env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-run --user --unit=%s %s: %v\n%s", unit, strings.Join(args, " "), err, out)
	}
}

// Show returns one property of a unit as systemctl shows it.
func (m *Manager) Show(t testing.TB, unit, property string) string {
	t.Helper()
	return strings.TrimSpace(m.Systemctl(t, "show", "--value", "-p", property, unit))
}

// WaitFor polls cond (at most for timeout) and fails the test with what if it
// never holds.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Log returns what the manager has logged.
func (m *Manager) Log() string {
	b, _ := os.ReadFile(filepath.Join(m.RuntimeDir, "manager.log"))
	return string(b)
}

// Kill sends sig to the manager and waits (bounded) until it is gone. After
// SIGKILL the processes of its units are left behind, as after a real crash;
// Restart clears them.
func (m *Manager) Kill(t testing.TB, sig syscall.Signal) {
	t.Helper()
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.mu.Unlock()
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(startTimeout):
		t.Fatalf("the manager did not exit on %v within %s", sig, startTimeout)
	}
}

// Signal sends sig to the manager without waiting (e.g. SIGSTOP, SIGCONT).
func (m *Manager) Signal(sig syscall.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd.Process.Signal(sig)
}

// Freeze stops the manager (SIGSTOP) until the returned thaw is called or
// the test ends: it answers nothing meanwhile.
func (m *Manager) Freeze(t testing.TB) (thaw func()) {
	t.Helper()
	if err := m.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("freezing the manager: %v", err)
	}
	var once sync.Once
	thaw = func() { once.Do(func() { m.Signal(syscall.SIGCONT) }) }
	t.Cleanup(thaw)
	return thaw
}

// Restart kills the manager (SIGKILL, like a crash), kills what its units
// left behind, and starts a new manager on the same sockets and cgroups.
func (m *Manager) Restart(t testing.TB) {
	t.Helper()
	m.Kill(t, syscall.SIGKILL)
	testcgroup.Kill(m.cgroupDirs)
	m.start(t)
}

// stop ends the manager gracefully (it stops its units), then makes sure
// nothing it started survives, then removes its cgroups.
func (m *Manager) stop() {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGCONT) // a test may have frozen it
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	testcgroup.Kill(m.cgroupDirs)
	testcgroup.Remove(m.cgroupDirs)
}

// String describes the manager for test logs.
func (m *Manager) String() string {
	return fmt.Sprintf("systemd user manager (runtime dir %s, cgroup %s)", m.RuntimeDir, m.CgroupRoot())
}

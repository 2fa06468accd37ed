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

// Package sysboxtest boots this machine's own Debian as a throwaway systemd
// system container, for tests that need a booted host: systemd as PID 1 of
// its own namespaces, the real system bus, and the services Debian installs
// (nginx.service, redis-server.service, prometheus.service …) started by the
// boot as on a production host.
//
// The container's root is an overlay of the host's root filesystem on a
// tmpfs, in a private mount namespace: it runs the host's own binaries and
// units, and every write is thrown away. systemd-nspawn runs it without the
// host's systemd or machined (--keep-unit --register=no), in cgroups made
// for it below the caller's own, one per hierarchy (a manager started at a
// cgroup root would take over the whole machine), and with a network
// namespace of its own: loopback only, so its services' ports never meet the
// host's. A tmpfs over /run/systemd, in the private mount namespace only,
// keeps the locks and directories nspawn makes in /run/systemd/nspawn off
// the host.
//
// What differs from a real host: only the root filesystem is in the overlay
// (not what is mounted below it), the container's /tmp is a fresh tmpfs (a
// directory the test needs goes in with Options.Bind), there is no DNS and no
// network but loopback, and the container shares the host's machine-id and
// hostname. It boots whatever the host has enabled: Options.Mask masks more
// units.
//
// scripts/sysbox.sh does the same by hand.
package sysboxtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testcgroup"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// BindTarget is where Options.Bind appears inside the container.
const BindTarget = "/opt/warden"

// Timeouts: every wait is bounded.
const (
	leaderTimeout   = 10 * time.Second // nspawn forks the container's PID 1
	bootTimeout     = 90 * time.Second // the boot reaches running or degraded
	powerOffTimeout = 30 * time.Second // nspawn returns after a clean power-off
	killTimeout     = 10 * time.Second // nspawn returns after SIGKILL
	runTimeout      = 60 * time.Second // Run's default
)

// DefaultMask are the units masked at every boot (Options.Unmask boots some
// of them): enabled on the host by the test dependencies, and unable to start
// in the container or in the way of the tests that do not ask for them.
// postgresql@15-main.service is not masked: installed on the project's
// machines before these, it has booted in every container all along
// (127.0.0.1:5432, ready 3 s into the boot), as nginx.service and
// redis-server.service do.
var DefaultMask = []string{
	// Refuses to start without a private IP address for its cluster port.
	"prometheus-alertmanager.service",
	// The daemons of e2e/host's daemon configuration test (issue 23): every
	// other boot would start them, and learn checks from them, for nothing.
	// apache2 wants :80 as nginx does: whichever of the two starts second
	// fails, and the boot is degraded.
	"apache2.service",
	// mariadb: 127.0.0.1:3306; haproxy: Debian's config listens on
	// nothing; memcached: 127.0.0.1:11211.
	"haproxy.service",
	"mariadb.service",
	"memcached.service",
	// openssh-server: sshd on :22 (ssh.socket is its socket-activated
	// alternative, disabled by Debian, masked in case a host enables it).
	"ssh.service",
	"ssh.socket",
}

// containerEnv is the environment of the commands Exec runs inside: the
// test's own (bus addresses, XDG_RUNTIME_DIR, proxies) means nothing there.
var containerEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
}

// Options choose what the container looks like.
type Options struct {
	// Bind is a host directory the container sees read-only at /opt/warden
	// (BindTarget). Empty for none. Not below /run/systemd, which nspawn's
	// mount namespace hides.
	Bind string
	// UnifiedCgroup gives the container a pure cgroup v2 tree at
	// /sys/fs/cgroup, as on a production Debian 12 host, instead of the
	// host's own layout (the v1/v2 hybrid on the project's machines).
	UnifiedCgroup bool
	// Mask are units to mask at boot, on top of DefaultMask.
	Mask []string
	// Unmask are units of DefaultMask this boot leaves unmasked: the host
	// has them enabled, so the boot starts them. A unit not in DefaultMask
	// fails the test (a misspelt name would silently stay masked).
	Unmask []string
	// Env is added to systemd-nspawn's environment ("NAME=VALUE"), after
	// the package's own: SYSTEMD_SECCOMP=0 boots without nspawn's seccomp
	// filter, which nested container runtimes need (runc joins a session
	// keyring and loads a BPF device program: both "operation not
	// permitted" under the filter).
	Env []string
	// Tmpfs are directories of the container that get a fresh tmpfs from
	// the boot on (nspawn --tmpfs): a container engine's storage cannot be
	// an overlay on the container's own overlay root ("'overlay' is not
	// supported over overlayfs", "invalid cross-device link"), and an
	// engine the boot starts (podman.service) must find it there already.
	Tmpfs []string
}

// Host is one booted container.
type Host struct {
	name       string   // machine name, and our cgroups' name
	state      string   // state directory: console.log, the overlay's mount points
	unified    bool     // Options.UnifiedCgroup
	env        []string // Options.Env
	tmpfs      []string // Options.Tmpfs
	cgroupDirs []string // ours, one per hierarchy
	cmd        *exec.Cmd
	exited     chan struct{} // closed once nspawn has exited and was reaped
	leader     int           // the container's PID 1, as the host numbers it
	once       sync.Once     // teardown
}

// namePrefix starts the names of our containers, cgroups and state
// directories: namePrefix-PID-N, N counting the test process's boots.
const namePrefix = "wsbx"

var seq atomic.Int64

// Boot boots a container for the test and registers its teardown with
// t.Cleanup. It skips (or fails, with WARDEN_REQUIRE_INTEGRATION=1) where a
// container cannot boot: not root, no systemd-nspawn. A boot that fails or
// does not finish within 90 s fails the test with the console log.
func Boot(t testing.TB, opts Options) *Host {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "booting a systemd container needs root (cgroups, mounts, systemd-nspawn)")
	}
	nspawn := testenv.LookPath(t, "systemd-nspawn", "apt-get install --no-install-recommends systemd-container")
	unshare := testenv.LookPath(t, "unshare", "apt-get install util-linux")
	testenv.LookPath(t, "nsenter", "apt-get install util-linux")
	if _, err := os.Stat("/lib/systemd/systemd"); err != nil {
		testenv.Skip(t, "/lib/systemd/systemd not found: the container boots the host's systemd (apt-get install systemd)")
	}
	bind := ""
	if opts.Bind != "" {
		var err error
		if bind, err = filepath.Abs(opts.Bind); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(bind); err != nil || !fi.IsDir() {
			t.Fatalf("sysboxtest: Bind %q is not a directory (%v)", opts.Bind, err)
		}
	}

	mask, err := masks(opts)
	if err != nil {
		t.Fatal(err)
	}

	sweepStale()
	name := namePrefix + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(seq.Add(1), 10)
	state, err := os.MkdirTemp("", name+"-")
	if err != nil {
		t.Fatal(err)
	}
	h := &Host{name: name, state: state, unified: opts.UnifiedCgroup, env: opts.Env, tmpfs: opts.Tmpfs}
	t.Cleanup(func() { h.Shutdown(t) })
	for _, dir := range []string{"ovl", "root"} {
		if err := os.Mkdir(filepath.Join(state, dir), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if h.cgroupDirs, err = testcgroup.Create(h.name); err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) {
			testenv.Skip(t, "cannot create cgroups for the container: %v", err)
		}
		t.Fatalf("creating the container's cgroups: %v", err)
	}

	start := time.Now()
	h.start(t, unshare, nspawn, bind, mask)
	systemState := h.waitBoot(t)
	// This machine's image carries a Docker-style policy-rc.d that forbids
	// every service start from a maintainer script; a booted host has none.
	h.Run(t, "rm", "-f", "/usr/sbin/policy-rc.d")
	t.Logf("sysbox %s booted (%s cgroups) in %s: %s", h.name, h.layout(), time.Since(start).Round(time.Millisecond), systemState)
	return h
}

// masks are the units a boot with opts masks: DefaultMask but opts.Unmask,
// and opts.Mask.
func masks(opts Options) ([]string, error) {
	for _, u := range opts.Unmask {
		if !slices.Contains(DefaultMask, u) {
			return nil, fmt.Errorf("sysboxtest: Unmask %q: not in DefaultMask %v", u, DefaultMask)
		}
	}
	var mask []string
	for _, u := range DefaultMask {
		if !slices.Contains(opts.Unmask, u) {
			mask = append(mask, u)
		}
	}
	return append(mask, opts.Mask...), nil
}

// launch runs in the private mount namespace unshare makes: it joins the
// container's cgroups, hides the host's /run/systemd from nspawn, mounts the
// overlay and becomes nspawn. $1 is the state directory, the rest nspawn's
// arguments.
const launch = `set -e
state=$1; shift
printf '%s\n' "$WSBX_CGROUP_PROCS" | while IFS= read -r procs; do echo $$ > "$procs"; done
if [ -d /run/systemd ]; then mount -t tmpfs -o mode=0755 wsbx /run/systemd; else mount -t tmpfs -o mode=0755 wsbx /run; fi
mount -t tmpfs -o mode=0755 wsbx "$state/ovl"
mkdir "$state/ovl/upper" "$state/ovl/work"
mount -t overlay wsbx -o "lowerdir=/,upperdir=$state/ovl/upper,workdir=$state/ovl/work" "$state/root"
exec "$WSBX_NSPAWN" "$@"
`

func (h *Host) start(t testing.TB, unshare, nspawn, bind string, mask []string) {
	t.Helper()
	args := []string{"-m", "--propagation", "private", "sh", "-c", launch, "sh", h.state,
		"--quiet", "--keep-unit", "--register=no", "--private-network",
		"-D", filepath.Join(h.state, "root"), "-M", h.name,
		"--link-journal=no", "--resolv-conf=off", "--timezone=off", "--console=read-only",
	}
	if bind != "" {
		args = append(args, "--bind-ro="+strings.ReplaceAll(bind, ":", `\:`)+":"+BindTarget)
	}
	for _, dir := range h.tmpfs {
		args = append(args, "--tmpfs="+strings.ReplaceAll(dir, ":", `\:`))
	}
	args = append(args, "-b")
	for _, unit := range mask {
		args = append(args, "systemd.mask="+unit)
	}
	var procs []string
	for _, d := range h.cgroupDirs {
		procs = append(procs, filepath.Join(d, "cgroup.procs"))
	}
	// nspawn's environment is ours to choose: SYSTEMD_NSPAWN_* or
	// NOTIFY_SOCKET inherited from the test would change what it does.
	env := append([]string{"WSBX_NSPAWN=" + nspawn, "WSBX_CGROUP_PROCS=" + strings.Join(procs, "\n")}, containerEnv...)
	if h.unified {
		env = append(env, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1")
	}
	env = append(env, h.env...)
	console, err := os.OpenFile(filepath.Join(h.state, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = console, console
	// A session of its own: ^C at the terminal goes to the test, not to the
	// container. If the test process dies, nspawn gets SIGTERM and powers
	// the container off.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGTERM}

	// Pdeathsig fires when the thread that forked the child ends, not the
	// process: this goroutine holds its thread until nspawn has exited.
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			cmd.Wait()
		}
		console.Close()
		close(exited)
	}()
	if err := <-started; err != nil {
		t.Fatalf("starting systemd-nspawn: %v", err)
	}
	h.cmd, h.exited = cmd, exited

	deadline := time.Now().Add(leaderTimeout)
	for h.leader = findLeader(cmd.Process.Pid); h.leader == 0; h.leader = findLeader(cmd.Process.Pid) {
		select {
		case <-exited:
			t.Fatalf("sysbox %s: systemd-nspawn exited (%v) before the container started:\n%s", h.name, cmd.ProcessState, h.Console())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sysbox %s: no container PID 1 below systemd-nspawn within %s:\n%s", h.name, leaderTimeout, h.Console())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// findLeader returns the container's PID 1: the process below nspawn whose
// last NSpid is 1, or 0 while there is none.
func findLeader(nspawn int) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	parent := map[int]int{}
	var candidates []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(status)) {
			fields := strings.Fields(line)
			switch {
			case len(fields) == 2 && fields[0] == "PPid:":
				parent[pid], _ = strconv.Atoi(fields[1])
			case len(fields) > 2 && fields[0] == "NSpid:" && fields[len(fields)-1] == "1":
				candidates = append(candidates, pid)
			}
		}
	}
	for _, c := range candidates {
		// nspawn forks an outer child that forks PID 1 and exits: PID 1 is
		// nspawn's grandchild for a moment, then its child.
		for p, depth := parent[c], 0; p > 1 && depth < 3; p, depth = parent[p], depth+1 {
			if p == nspawn {
				return c
			}
		}
	}
	return 0
}

// waitBoot polls systemctl is-system-running until the boot is over.
func (h *Host) waitBoot(t testing.TB) string {
	t.Helper()
	deadline := time.Now().Add(bootTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// Before PID 1's bus socket exists this fails (and --wait with it).
		out, _ := h.Exec(ctx, "systemctl", "is-system-running")
		cancel()
		state := strings.TrimSpace(string(out))
		if state == "running" || state == "degraded" {
			return state
		}
		select {
		case <-h.exited:
			t.Fatalf("sysbox %s: the container exited while booting (%v):\n%s", h.name, h.cmd.ProcessState, h.Console())
		default:
		}
		if time.Now().After(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			jobs, _ := h.Exec(ctx, "systemctl", "list-jobs", "--no-pager")
			failed, _ := h.Exec(ctx, "systemctl", "--failed", "--no-pager")
			cancel()
			t.Fatalf("sysbox %s: boot did not finish within %s (last state %q)\njobs:\n%s\nfailed:\n%s\nconsole:\n%s",
				h.name, bootTimeout, state, jobs, failed, h.Console())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Name is the container's machine name (its hostname is the host's: the
// boot sets it from /etc/hostname).
func (h *Host) Name() string { return h.name }

// Leader is the container's PID 1, as the host numbers it: nsenter -t.
func (h *Host) Leader() int { return h.leader }

// Console returns what the container wrote to its console (the boot's
// messages) and what nspawn said.
func (h *Host) Console() string {
	b, _ := os.ReadFile(filepath.Join(h.state, "console.log"))
	return string(b)
}

// Exec runs a command inside the container, in all its namespaces (the
// container's root, PID 1's view of processes, its cgroup namespace and
// network), with a minimal root environment, and returns its combined
// output. The command stays in the test's cgroups: use systemd-run inside
// for something that must be a unit.
func (h *Host) Exec(ctx context.Context, args ...string) ([]byte, error) {
	return h.nsenter(ctx, "-a", containerEnv, args)
}

// ExecNet runs a host program in the container's network namespace only:
// the host's files and the test's environment, the container's loopback.
func (h *Host) ExecNet(ctx context.Context, args ...string) ([]byte, error) {
	return h.nsenter(ctx, "-n", os.Environ(), args)
}

func (h *Host) nsenter(ctx context.Context, namespaces string, env, args []string) ([]byte, error) {
	if h.leader == 0 {
		return nil, errors.New("sysboxtest: the container is not running")
	}
	if len(args) == 0 {
		return nil, errors.New("sysboxtest: no command")
	}
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(h.leader), namespaces, "--"}, args...)...)
	cmd.Env = env
	// nsenter -a forks the command into the container's PID namespace:
	// killing nsenter alone would leave it running. A process group of its
	// own lets the context end both.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	return cmd.CombinedOutput()
}

// Run is Exec with a 60 s timeout that fails the test, with the output, if
// the command fails. It returns the output.
func (h *Host) Run(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	out, err := h.Exec(ctx, args...)
	if err != nil {
		t.Fatalf("sysbox %s: %s: %v\n%s", h.name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// HTTPGet fetches url from inside the container's network namespace (with
// the host's curl: its loopback is the container's) and returns the body.
// It fails the test on a transport error or a status other than 2xx.
func (h *Host) HTTPGet(t testing.TB, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := h.ExecNet(ctx, "curl", "--silent", "--show-error", "--fail-with-body", "--noproxy", "*", "--max-time", "10", url)
	if err != nil {
		t.Fatalf("sysbox %s: GET %s: %v\n%s", h.name, url, err, out)
	}
	return string(out)
}

// WaitFor polls cond every 100 ms, at most for timeout, and fails the test
// with what if it never holds, or at once if the container is gone.
func (h *Host) WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case <-h.exited:
			t.Fatalf("sysbox %s: the container exited while waiting for %s:\n%s", h.name, what, h.Console())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sysbox %s: timed out after %s waiting for %s", h.name, timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Shutdown powers the container off, kills whatever is left in its cgroups,
// removes them and the state directory. Boot registers it with t.Cleanup; a
// test may call it earlier, and calls after the first do nothing. What it
// cannot clean up fails the test.
func (h *Host) Shutdown(t testing.TB) {
	t.Helper()
	h.once.Do(func() {
		start := time.Now()
		problems := h.teardown()
		for _, p := range problems {
			t.Errorf("sysbox %s teardown: %s", h.name, p)
		}
		if h.leader != 0 {
			t.Logf("sysbox %s torn down in %s", h.name, time.Since(start).Round(time.Millisecond))
		}
	})
}

func (h *Host) teardown() []string {
	var problems []string
	if h.cmd != nil {
		// nspawn forwards SIGTERM as SIGRTMIN+3: systemd powers off cleanly.
		h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.exited:
		case <-time.After(powerOffTimeout):
			problems = append(problems, fmt.Sprintf("no clean power-off within %s: killed\n%s", powerOffTimeout, h.Console()))
			// Every process of the container, nspawn included, is in our
			// cgroups, and only ours are killed.
			testcgroup.Kill(h.cgroupDirs)
			select {
			case <-h.exited:
			case <-time.After(killTimeout):
				problems = append(problems, fmt.Sprintf("systemd-nspawn (pid %d) still runs after SIGKILL", h.cmd.Process.Pid))
			}
		}
	}
	testcgroup.Kill(h.cgroupDirs)
	if left := testcgroup.Remove(h.cgroupDirs); len(left) > 0 {
		problems = append(problems, "cgroups left behind: "+strings.Join(left, " "))
	}
	if h.state != "" {
		// The overlay and its tmpfs live in nspawn's private mount
		// namespace, gone with it; never remove through a mount.
		if m := mountsUnder(h.state); len(m) > 0 {
			problems = append(problems, fmt.Sprintf("%s has mounts, left in place: %s", h.state, strings.Join(m, " ")))
		} else if err := os.RemoveAll(h.state); err != nil {
			problems = append(problems, err.Error())
		}
	}
	return problems
}

// sweepStale removes what a test process that died without its cleanup
// (killed by go test -timeout, say: its container powers off, see
// Pdeathsig) left behind: empty cgroups and state directories named
// namePrefix-PID-…, below the caller's cgroups and in the temporary
// directory, whose PID no longer runs. A cgroup with any process in it, and
// a state directory with anything mounted below it, is kept.
func sweepStale() {
	testcgroup.SweepStale(namePrefix)
	states, _ := filepath.Glob(filepath.Join(os.TempDir(), namePrefix+"-*"))
	for _, state := range states {
		if testcgroup.Stale(namePrefix, state) && len(mountsUnder(state)) == 0 {
			os.RemoveAll(state)
		}
	}
}

// mountsUnder lists the mount points at or below dir in the caller's mount
// namespace.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{err.Error()}
	}
	var found []string
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			found = append(found, mp)
		}
	}
	return found
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// /proc/*/mountinfo.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (h *Host) layout() string {
	if h.unified {
		return "unified v2"
	}
	return "host layout"
}

// String describes the container for test logs.
func (h *Host) String() string {
	return fmt.Sprintf("sysbox %s (%s cgroups, PID 1 %d, state %s)", h.name, h.layout(), h.leader, h.state)
}

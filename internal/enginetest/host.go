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
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// Waits on the machine, all bounded.
const (
	lockWait    = 10 * time.Minute // another package's engine: its tests take a few minutes at most
	pingWait    = 30 * time.Second // an engine answers /_ping (dockerd: ~0.2 s here)
	termWait    = 20 * time.Second // a daemon exits after SIGTERM, its containers already removed
	killWait    = 10 * time.Second // a process is gone after SIGKILL
	commandWait = time.Minute      // ip, iptables
)

// lockMachine takes the flock on path, waiting at most lockWait, and
// writes our pid into it for whoever waits next. It is released when the
// test ends (and by the kernel if the process dies).
func lockMachine(t testing.TB, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("opening the lock %s: %v", path, err)
	}
	start := time.Now()
	deadline := start.Add(lockWait)
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			holder, _ := os.ReadFile(path)
			f.Close()
			t.Fatalf("the lock %s is held by pid %s (another test package's engine) after %v: %v",
				path, strings.TrimSpace(string(holder)), lockWait, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Logf("waited %v for %s (another test package's engine)", waited.Round(time.Millisecond), path)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	t.Cleanup(func() { f.Close() }) // closing the last descriptor releases the flock
}

// needRoot skips (fails under WARDEN_REQUIRE_INTEGRATION=1) unless root.
func needRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "%s needs root (network namespaces, bridges, cgroups)", what)
	}
}

// needFile skips (fails under WARDEN_REQUIRE_INTEGRATION=1) unless path
// exists, with the install hint.
func needFile(t testing.TB, path, hint string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		testenv.Skip(t, "%s not found (%s)", path, hint)
	}
}

// command runs a program to its end, bounded, and returns its output.
func command(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
		}
		return out.String(), nil
	case <-time.After(commandWait):
		cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("%s %s: still running after %v", name, strings.Join(args, " "), commandWait)
	}
}

// daemon is a process the harness started and stops.
type daemon struct {
	cmd    *exec.Cmd
	log    string        // its output
	exited chan struct{} // closed once it was reaped
}

func startDaemon(name, log string, env []string, args ...string) (*daemon, error) {
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	// In the test's process group: a ^C, which kills the test binary before
	// any cleanup, stops the daemon too (both engines stop their containers
	// at SIGINT). What is left then, or after a SIGKILL, sweepStale finds.
	cmd.Stdout, cmd.Stderr, cmd.Env = f, f, env
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	d := &daemon{cmd: cmd, log: log, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(d.exited) }()
	return d, nil
}

// stop sends SIGTERM to the daemon's pid, then SIGKILL after termWait.
func (d *daemon) stop() error {
	pid := d.cmd.Process.Pid
	d.cmd.Process.Signal(unix.SIGTERM)
	select {
	case <-d.exited:
		return nil
	case <-time.After(termWait):
	}
	d.cmd.Process.Kill()
	select {
	case <-d.exited:
		return fmt.Errorf("pid %d (%s) ignored SIGTERM for %v: killed", pid, d.cmd.Path, termWait)
	case <-time.After(killWait):
		return fmt.Errorf("pid %d (%s) still there %v after SIGKILL", pid, d.cmd.Path, killWait)
	}
}

// tail is the end of the daemon's log, for a failure message.
func (d *daemon) tail() string {
	b, _ := os.ReadFile(d.log)
	const keep = 4096
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return strings.ToValidUTF8(string(b), "?")
}

// waitPing polls e's /_ping for at most pingWait.
func waitPing(e *Engine, d *daemon) error {
	deadline := time.Now().Add(pingWait)
	for {
		err := e.ping()
		if err == nil {
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("%s exited before it answered (%v)", d.cmd.Path, d.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer /_ping within %v: %w", d.cmd.Path, pingWait, err)
		}
		time.Sleep(pollInterval)
	}
}

// removeAll removes every container of the engine (what a test left, a
// failed Run's half-made container).
func (e *Engine) removeAll() error {
	var list []struct {
		ID string `json:"Id"`
	}
	if err := e.Call("GET", "/containers/json", map[string][]string{"all": {"1"}}, nil, &list); err != nil {
		return err
	}
	var errs []error
	for _, c := range list {
		errs = append(errs, e.remove(c.ID))
	}
	return errors.Join(errs...)
}

// Chains lists the iptables chains (user-defined, in the filter and nat
// tables, as "table/CHAIN") whose names start with prefix.
func Chains(t testing.TB, prefix string) []string {
	t.Helper()
	chains, err := chains(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return chains
}

func chains(prefix string) ([]string, error) {
	var all []string
	for _, table := range []string{"filter", "nat"} {
		out, err := command("iptables", "-w", "5", "-t", table, "-S")
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(out, "\n") {
			if name, ok := strings.CutPrefix(line, "-N "); ok && strings.HasPrefix(name, prefix) {
				all = append(all, table+"/"+name)
			}
		}
	}
	slices.Sort(all)
	return all, nil
}

// deleteChains deletes the chains given as "table/CHAIN": first every rule
// jumping to them from other chains (by number, highest first: a rule's
// text holds quoted comments that do not survive a split), then the chains.
func deleteChains(del []string) error {
	byTable := map[string][]string{}
	for _, c := range del {
		table, name, _ := strings.Cut(c, "/")
		byTable[table] = append(byTable[table], name)
	}
	var errs []error
	for table, names := range byTable {
		out, err := command("iptables", "-w", "5", "-t", table, "-S")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var from []string // chains holding a jump to one of names
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 1 && (f[0] == "-A") && !slices.Contains(names, f[1]) && !slices.Contains(from, f[1]) &&
				slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(line, " -j "+n) || strings.Contains(line, " -j "+n+" ") }) {
				from = append(from, f[1])
			}
		}
		for _, chain := range from {
			errs = append(errs, deleteJumps(table, chain, names))
		}
		for _, n := range names {
			if _, err := command("iptables", "-w", "5", "-t", table, "-F", n); err != nil {
				errs = append(errs, err)
			}
		}
		for _, n := range names {
			if _, err := command("iptables", "-w", "5", "-t", table, "-X", n); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// deleteJumps deletes chain's rules whose target is one of names.
func deleteJumps(table, chain string, names []string) error {
	out, err := command("iptables", "-w", "5", "-t", table, "-n", "-L", chain, "--line-numbers")
	if err != nil {
		return err
	}
	var nums []int
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line) // num target prot opt source destination ...
		if n, err := strconv.Atoi(firstOr(f, "")); err == nil && len(f) > 1 && slices.Contains(names, f[1]) {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	var errs []error
	for _, n := range slices.Backward(nums) {
		_, err := command("iptables", "-w", "5", "-t", table, "-D", chain, strconv.Itoa(n))
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func firstOr(f []string, def string) string {
	if len(f) == 0 {
		return def
	}
	return f[0]
}

// LinkExists reports whether the network interface name exists in our
// network namespace (asked over netlink: /sys/class/net shows the
// namespace sysfs was mounted in).
func LinkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// bridgeMembers lists the interfaces enslaved to bridge (none when there
// is no such bridge).
func bridgeMembers(bridge string) []string {
	if !LinkExists(bridge) {
		return nil
	}
	out, err := command("ip", "-o", "link", "show", "master", bridge)
	if err != nil {
		return []string{err.Error()} // unknown: keep the bridge
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		// "25: veth6348643d@if2: <...> ...": the name ends at '@' or ':'.
		if f := strings.Fields(line); len(f) > 1 {
			names = append(names, strings.TrimSuffix(strings.Split(f[1], "@")[0], ":"))
		}
	}
	return names
}

// otherProcesses lists the pids of processes named comm other than ours
// (not in skip), with their command lines, for a message.
func otherProcesses(comm string, skip ...int) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || slices.Contains(skip, pid) {
			continue
		}
		c, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(c)) != comm {
			continue
		}
		args, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		found = append(found, fmt.Sprintf("pid %d: %s", pid, strings.ToValidUTF8(strings.TrimSpace(strings.ReplaceAll(string(args[:min(len(args), 200)]), "\x00", " ")), "?")))
	}
	return found
}

// sweepStale stops the engines of a test process that died without its
// cleanups (SIGKILL, go test's timeout): under the lock no live test runs
// one, so every process with one of our prefix's directories in its command
// line is stale (the daemon first, SIGTERM then SIGKILL, then what it left:
// containerd, shims). Then it calls stopContainers for each such directory
// and removes it.
func sweepStale(t testing.TB, daemonComm, prefix string, stopContainers func(dir string) error) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	for _, dir := range dirs {
		var errs []error
		for _, pid := range processesUnder(dir) {
			if c, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm")); strings.TrimSpace(string(c)) == daemonComm {
				errs = append(errs, terminate(pid))
			}
		}
		if stopContainers != nil {
			errs = append(errs, stopContainers(dir))
		}
		for _, pid := range processesUnder(dir) {
			errs = append(errs, terminate(pid))
		}
		errs = append(errs, unmountUnder(dir), os.RemoveAll(dir))
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("sweeping a killed test's engine in %s: %v", dir, err)
		}
		t.Logf("swept a killed test's engine in %s", dir)
	}
}

// terminate stops a process we did not start (a dead test's): SIGTERM,
// SIGKILL after termWait. Its exit is seen in /proc, where a zombie (state
// Z) counts as gone.
func terminate(pid int) error {
	gone := func(within time.Duration) bool {
		deadline := time.Now().Add(within)
		for {
			stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
			// pid (comm) S ...: the state follows the last ')'.
			if i := bytes.LastIndexByte(stat, ')'); err != nil || (i > 0 && i+2 < len(stat) && stat[i+2] == 'Z') {
				return true
			}
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(pollInterval)
		}
	}
	if unix.Kill(pid, unix.SIGTERM) != nil || gone(termWait) {
		return nil
	}
	unix.Kill(pid, unix.SIGKILL)
	if gone(killWait) {
		return nil
	}
	return fmt.Errorf("pid %d still there %v after SIGKILL", pid, killWait)
}

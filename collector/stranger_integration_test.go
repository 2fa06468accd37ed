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
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/servicestest"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/testcgroup"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// strangerEnv carries, to the test binary started as nobody by
// TestStrangerIsNamedWithoutPrivileges, the listener source and the port
// to judge: "mode port".
const strangerEnv = "WARDEN_HELPER_STRANGER"

// strangerUnit is the check's unit: stopped, so a listener on its port
// outside every known unit is foreign.
const strangerUnit = "stranger-web.service"

// TestHelperStrangerVerdict is not a test: started by
// TestStrangerIsNamedWithoutPrivileges as nobody, it judges one check with
// the exporter's real listener and owner layers and prints the verdict.
// The units are given (a stopped unit): no systemd manager's socket lets
// nobody in here, and systemd's own layer has its tests against real
// managers; what is judged is what the listener and owner layers can tell
// without privileges.
func TestHelperStrangerVerdict(t *testing.T) {
	spec := os.Getenv(strangerEnv)
	if spec == "" {
		return // run as part of the suite: nothing to do
	}
	mode, portText, _ := strings.Cut(spec, " ")
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := listeners.New(listeners.Options{Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	units := systemd.SnapshotOf(systemd.Unit{Name: strangerUnit, LoadState: "loaded", ActiveState: "inactive", SubState: "dead"})
	cfg := &config.Config{Checks: []config.Check{{Name: "web", Unit: strangerUnit, Ports: []config.Port{{Port: port, Proto: "tcp"}}}}}
	e, err := New(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return cfg }, Systemd: givenUnits{units}, Listeners: ls})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	vs, err := e.Verdicts(ctx)
	if err != nil || len(vs) != 1 {
		t.Fatalf("%d verdicts: %v", len(vs), err)
	}
	out, err := json.Marshal(vs[0])
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("VERDICT %s\n", out)
}

type givenUnits struct{ s *systemd.Snapshot }

func (g givenUnits) Snapshot(context.Context, []string) (*systemd.Snapshot, error) { return g.s, nil }

// strangerVerdict is the part of /checks' verdict this test reads, decoded
// by name so the test builds on the exporter before and after the fix.
type strangerVerdict struct {
	Status    string `json:"status"`
	Reason    string `json:"reason"`
	Diagnosis string `json:"diagnosis"`
	Ports     []struct {
		Seen []struct {
			Owner   string  `json:"owner"`
			Process string  `json:"process"`
			PID     int     `json:"pid"`
			UID     *uint32 `json:"uid"`
			User    string  `json:"user"`
			Cgroup  string  `json:"cgroup"`
		} `json:"seen"`
	} `json:"ports"`
}

// Issue 21: the packaged exporter runs as its own user, without the
// capabilities to read root's /proc/PID/fd, and named a port held by root
// "(a process outside every known unit)". sock_diag tells any user the
// socket's uid and cgroup: here root's listener, in a cgroup this test
// made, on the port of a stopped unit, judged by the exporter's listener
// and owner layers running as nobody. The diagnosis names uid 0 (root)
// and the cgroup, and no PID; over /proc/net (no cgroup ids, so no
// ownership either) the uid is still named. As root, the process too.
func TestStrangerIsNamedWithoutPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "a listener of root's in a cgroup of the test's own, judged as nobody, needs root (cgroups, setuid)")
	}
	mount, err := owner.CgroupMount("/proc/self/mountinfo")
	if err != nil {
		testenv.Skip(t, "no cgroup v2 hierarchy mounted (the socket's cgroup id is a v2 directory): %v", err)
	}
	testcgroup.SweepStale("warden-stranger")
	dirs, err := testcgroup.Create(fmt.Sprintf("warden-stranger-%d", os.Getpid()))
	if err != nil {
		testenv.Skip(t, "cannot create a cgroup: %v", err)
	}
	t.Cleanup(func() {
		testcgroup.Kill(dirs)
		if left := testcgroup.Remove(dirs); len(left) > 0 {
			t.Errorf("cgroups left behind: %v", left)
		}
	})
	var v2 string
	for _, d := range dirs {
		if strings.HasPrefix(d, mount+"/") {
			v2 = d
		}
	}
	if v2 == "" {
		testenv.Skip(t, "no cgroup of ours under the v2 mount %s (made %v)", mount, dirs)
	}
	cgroup := strings.TrimPrefix(v2, mount)

	port := testenv.FreePort(t)
	pid := startListenerInCgroup(t, v2, "tcp", "127.0.0.1:"+strconv.Itoa(port))
	servicestest.WaitDial(t, "127.0.0.1:"+strconv.Itoa(port))
	// The premise: root's process, born in our cgroup, holds the socket.
	if own, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid)); err != nil || !strings.Contains(string(own), "0::"+cgroup+"\n") {
		t.Fatalf("the listener (pid %d) is in %q (%v), want the v2 cgroup %s", pid, own, err, cgroup)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		t.Fatal(err)
	}
	bin := readableCopy(t, os.Args[0])

	for _, tc := range []struct {
		name    string
		mode    string
		nobody  bool
		status  string
		cgroup  string // in the seen listener
		label   string // in the diagnosis; "" when not foreign
		process bool   // the process is named, with its PID
	}{
		{"sock_diag, as nobody: uid and cgroup", "netlink", true, "foreign_listener", cgroup,
			"tcp *:" + strconv.Itoa(port) + " is held by a process of uid 0 (root) in cgroup " + cgroup + " while " + strangerUnit + " is inactive/dead", false},
		{"/proc/net, as nobody: the uid (no cgroup id, no owner)", "procfs", true, "service_down", "", "", false},
		{"sock_diag, as root: the process too", "netlink", false, "foreign_listener", cgroup,
			"tcp *:" + strconv.Itoa(port) + " is held by process " + strings.TrimSpace(string(comm)) + " while", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := judgeStranger(t, bin, tc.mode, port, tc.nobody)
			t.Logf("%s: reason %q, label %q", v.Status, v.Reason, v.Diagnosis)
			if v.Status != tc.status || len(v.Ports) != 1 || len(v.Ports[0].Seen) != 1 {
				t.Fatalf("%s with %+v, want %s and one listener seen", v.Status, v.Ports, tc.status)
			}
			seen := v.Ports[0].Seen[0]
			if seen.UID == nil || *seen.UID != 0 || seen.User != "root" || seen.Cgroup != tc.cgroup {
				t.Errorf("seen %+v, want uid 0 (root), cgroup %q", seen, tc.cgroup)
			}
			if tc.label != "" && (!strings.Contains(v.Diagnosis, tc.label) || strings.Contains(v.Diagnosis, "pid")) {
				t.Errorf("label %q: want %q in it, and no PID", v.Diagnosis, tc.label)
			}
			named := seen.PID == pid && strings.Contains(v.Reason, fmt.Sprintf("(pid %d) of uid 0 (root) in cgroup %s", pid, cgroup))
			if tc.process != named || !tc.process && (seen.PID != 0 || seen.Process != "") {
				t.Errorf("process named %v (%+v, reason %q), want %v", named, seen, v.Reason, tc.process)
			}
		})
	}
}

// startListenerInCgroup starts TestHelperListener as root, born in the v2
// cgroup dir (clone3's CLONE_INTO_CGROUP: its socket is that cgroup's from
// the start), listening on addr; it is killed by its pid when the test ends.
func startListenerInCgroup(t *testing.T, dir, network, addr string) int {
	t.Helper()
	fd, err := syscall.Open(dir, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperListener$")
	cmd.Env = append(os.Environ(), "WARDEN_HELPER_LISTEN="+network+":"+addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		testenv.Skip(t, "cannot start a process in cgroup %s (clone3 CLONE_INTO_CGROUP, Linux ≥ 5.7): %v", dir, err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return pid
}

// readableCopy copies the test binary where nobody may run it: go test's
// build directory is root's alone (0700).
func readableCopy(t *testing.T, bin string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "warden-stranger-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(dir, "stranger.test")
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// judgeStranger runs TestHelperStrangerVerdict from bin (as nobody, or
// as root) and returns its verdict, within 30 s.
func judgeStranger(t *testing.T, bin, mode string, port int, nobody bool) strangerVerdict {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestHelperStrangerVerdict$", "-test.count=1")
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "TMPDIR=" + os.TempDir(), strangerEnv + "=" + mode + " " + strconv.Itoa(port)}
	if nobody {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the judge (nobody %v) failed: %v\n%s%s", nobody, err, out, stderr.Bytes())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VERDICT "); ok {
			var v strangerVerdict
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Fatalf("%v: %s", err, rest)
			}
			return v
		}
	}
	t.Fatalf("the judge printed no verdict:\n%s%s", out, stderr.Bytes())
	return strangerVerdict{}
}

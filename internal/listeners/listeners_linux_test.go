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

package listeners

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/warden-exporter/warden_exporter/internal/testcgroup"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// testSockets opens real sockets on loopback: v4, v6, a dual-stack and a
// v6-only wildcard, UDP v4 and v6. It returns them by name with their ports.
type testSockets struct {
	closers []func()
	ports   map[string]uint16
}

func (s *testSockets) Close() {
	for _, c := range s.closers {
		c()
	}
}

func openTestSockets(t *testing.T) *testSockets {
	t.Helper()
	s := &testSockets{ports: map[string]uint16{}}
	t.Cleanup(s.Close)
	listen := func(name, network, addr string) {
		l, err := net.Listen(network, addr)
		if err != nil {
			testenv.Skip(t, "cannot listen on %s %s: %v", network, addr, err)
		}
		s.closers = append(s.closers, func() { l.Close() })
		s.ports[name] = uint16(l.Addr().(*net.TCPAddr).Port)
	}
	udp := func(name, network, addr string) {
		c, err := net.ListenPacket(network, addr)
		if err != nil {
			testenv.Skip(t, "cannot bind %s %s: %v", network, addr, err)
		}
		s.closers = append(s.closers, func() { c.Close() })
		s.ports[name] = uint16(c.LocalAddr().(*net.UDPAddr).Port)
	}
	listen("v4", "tcp4", "127.0.0.1:0")
	listen("v6", "tcp6", "[::1]:0")
	listen("dual", "tcp", "[::]:0")    // Go sets IPV6_V6ONLY=0 for "tcp"
	listen("v6only", "tcp6", "[::]:0") // and IPV6_V6ONLY=1 for "tcp6"
	listen("any4", "tcp4", "0.0.0.0:0")
	udp("udp4", "udp4", "127.0.0.1:0")
	udp("udp6", "udp6", "[::1]:0")
	return s
}

func findListener(ls []Listener, proto string, port uint16) (Listener, bool) {
	for _, l := range ls {
		if l.Proto == proto && l.Port == port {
			return l, true
		}
	}
	return Listener{}, false
}

func TestNetlinkDumpSeesRealSockets(t *testing.T) {
	s := openTestSockets(t)
	d, err := newNetlinkDumper()
	if err != nil {
		testenv.Skip(t, "netlink sock_diag: %v", err)
	}
	defer d.Close()
	ls, err := d.Listeners(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, proto string
		addr        string
		ipv6        bool
		v6only      bool
	}{
		{"v4", "tcp", "127.0.0.1", false, false},
		{"v6", "tcp", "::1", true, true},
		{"dual", "tcp", "::", true, false},
		{"v6only", "tcp", "::", true, true},
		{"any4", "tcp", "0.0.0.0", false, false},
		{"udp4", "udp", "127.0.0.1", false, false},
		{"udp6", "udp", "::1", true, true},
	} {
		l, ok := findListener(ls, tc.proto, s.ports[tc.name])
		if !ok {
			t.Errorf("%s (%s port %d) not in the dump", tc.name, tc.proto, s.ports[tc.name])
			continue
		}
		if l.Addr != netip.MustParseAddr(tc.addr) || l.IPv6 != tc.ipv6 {
			t.Errorf("%s: got %v (ipv6 %v)", tc.name, l.Addr, l.IPv6)
		}
		if tc.ipv6 && tc.addr == "::" && (!l.V6OnlyKnown || l.V6Only != tc.v6only) {
			t.Errorf("%s: V6Only %v (known %v), want %v", tc.name, l.V6Only, l.V6OnlyKnown, tc.v6only)
		}
		if l.Inode == 0 {
			t.Errorf("%s: no inode", tc.name)
		}
		if l.CgroupID == 0 {
			t.Errorf("%s: no cgroup id (Linux >= 5.8 sends INET_DIAG_CGROUP_ID)", tc.name)
		}
	}
	// Our own cgroup's id is the inode of its v2 directory.
	if l, ok := findListener(ls, "tcp", s.ports["v4"]); ok {
		if want := ownCgroupID(t); want != 0 && l.CgroupID != want {
			t.Errorf("cgroup id %d, want the inode of our cgroup %d", l.CgroupID, want)
		}
	}
	// An established connection is not a listener.
	c, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(s.ports["v4"]))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ls, _ = d.Listeners(context.Background())
	local := uint16(c.LocalAddr().(*net.TCPAddr).Port)
	if _, ok := findListener(ls, "tcp", local); ok {
		t.Error("the client side of a connection was reported as a listener")
	}
}

// The TCP listeners of both families are read with one request
// (TCPDIAG_GETSOCK) and, should a kernel refuse it, with one request per
// family: the same sockets either way, every field the same.
func TestOneTCPRequestForBothFamilies(t *testing.T) {
	s := openTestSockets(t)
	read := func(setup func(d *netlinkDumper)) []Listener {
		t.Helper()
		d, err := newNetlinkDumper()
		if err != nil {
			testenv.Skip(t, "netlink sock_diag: %v", err)
		}
		defer d.Close()
		setup(d)
		ls, err := d.Listeners(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var tcp []Listener
		for _, l := range ls {
			if l.Proto == "tcp" {
				tcp = append(tcp, l)
			}
		}
		slices.SortFunc(tcp, func(a, b Listener) int { return cmp.Compare(a.Inode, b.Inode) })
		return tcp
	}
	one := read(func(*netlinkDumper) {})
	perFamily := read(func(d *netlinkDumper) { d.noTCPBoth = true })
	// A kernel that refuses the request (here: a type it does not know)
	// gets the two requests, from that read on.
	var refused *netlinkDumper
	fallback := read(func(d *netlinkDumper) { d.tcpBoth = 999; refused = d })
	if !refused.noTCPBoth {
		t.Error("a refused request was not given up")
	}
	if !slices.Equal(one, perFamily) || !slices.Equal(one, fallback) {
		t.Errorf("one request %v\nper family %v\nafter a refusal %v", one, perFamily, fallback)
	}
	for _, name := range []string{"v4", "v6", "dual", "v6only", "any4"} {
		if _, ok := findListener(one, "tcp", s.ports[name]); !ok {
			t.Errorf("%s not read by the one request", name)
		}
	}
}

// ownCgroupID is the inode of the test process's cgroup v2 directory.
func ownCgroupID(t *testing.T) uint64 {
	t.Helper()
	dirs, err := testcgroup.Own()
	if err != nil {
		return 0
	}
	for _, dir := range dirs {
		var fs unix.Statfs_t
		var st unix.Stat_t
		if unix.Statfs(dir, &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC && unix.Stat(dir, &st) == nil {
			return st.Ino
		}
	}
	return 0
}

func TestSocketsOpenedAndClosedBetweenScrapes(t *testing.T) {
	src, err := New(Options{Mode: "netlink"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	r, err := src.Read(context.Background())
	if err != nil {
		testenv.Skip(t, "netlink: %v", err)
	}
	if _, ok := findListener(r.Listeners, "tcp", port); !ok {
		t.Fatal("open listener not seen")
	}
	l.Close()
	r, err = src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := findListener(r.Listeners, "tcp", port); ok {
		t.Error("closed listener still seen")
	}
}

// Both backends must report the same listeners for the same sockets.
func TestNetlinkAndProcfsAgree(t *testing.T) {
	s := openTestSockets(t)
	nl, err := newNetlinkDumper()
	if err != nil {
		testenv.Skip(t, "netlink sock_diag: %v", err)
	}
	defer nl.Close()
	pd, err := newProcDumper("/proc")
	if err != nil {
		t.Fatal(err)
	}
	a, err := nl.Listeners(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := pd.Listeners(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	key := func(l Listener) string {
		return l.Proto + " " + netip.AddrPortFrom(l.Addr, l.Port).String() + " " + strconv.FormatUint(l.Inode, 10)
	}
	var ka, kb []string
	for _, l := range a {
		ka = append(ka, key(l))
	}
	for _, l := range b {
		kb = append(kb, key(l))
	}
	slices.Sort(ka)
	slices.Sort(kb)
	if !slices.Equal(ka, kb) {
		t.Errorf("netlink and procfs disagree:\nnetlink: %v\nprocfs:  %v", ka, kb)
	}
	for name, port := range s.ports {
		proto := "tcp"
		if strings.HasPrefix(name, "udp") {
			proto = "udp"
		}
		if _, ok := findListener(b, proto, port); !ok {
			t.Errorf("procfs misses %s", name)
		}
	}
}

func TestForcedProcfsAndAutoFallback(t *testing.T) {
	src, err := New(Options{Mode: "procfs"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Backend != "procfs" {
		t.Errorf("backend %q", r.Backend)
	}
	if _, err := New(Options{Mode: "bogus"}); err == nil {
		t.Error("an unknown mode must be an error")
	}
}

// TestNetlinkRefusedFallsBackToProcfs runs the source in a child process
// whose seccomp filter makes socket(AF_NETLINK) fail with EPERM, as a
// hardened sandbox would.
func TestNetlinkRefusedFallsBackToProcfs(t *testing.T) {
	if os.Getenv("WARDEN_TEST_NETLINK_REFUSED") == "1" {
		if err := refuseNetlinkSockets(); err != nil {
			t.Fatalf("installing the seccomp filter: %v", err)
		}
		src, err := New(Options{Mode: "auto"})
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		r, err := src.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.Backend != "procfs" || !strings.Contains(r.Fallback, "operation not permitted") {
			t.Fatalf("backend %q fallback %q", r.Backend, r.Fallback)
		}
		if _, ok := findListener(r.Listeners, "tcp", uint16(l.Addr().(*net.TCPAddr).Port)); !ok {
			t.Fatal("the procfs fallback missed a listener")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNetlinkRefusedFallsBackToProcfs$", "-test.v")
	cmd.Env = append(os.Environ(), "WARDEN_TEST_NETLINK_REFUSED=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// refuseNetlinkSockets installs a seccomp filter: socket(AF_NETLINK, ...)
// fails with EPERM, every other call is allowed.
func refuseNetlinkSockets() error {
	const (
		seccompRetAllow = 0x7fff0000
		seccompRetErrno = 0x00050000
		auditArchX86_64 = 0xc000003e
	)
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); errno != 0 {
		return errno
	}
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 0, K: auditArchX86_64},
		{Code: unix.BPF_RET | unix.BPF_K, K: seccompRetAllow},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // syscall number
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: unix.SYS_SOCKET},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 16}, // args[0], low half
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.AF_NETLINK},
		{Code: unix.BPF_RET | unix.BPF_K, K: seccompRetErrno | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: seccompRetAllow},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// Every thread, so the Go runtime's other threads are covered too.
	if _, _, errno := syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return errno
	}
	return nil
}

func TestParseDiagMessagesRejectsGarbage(t *testing.T) {
	var out []Listener
	// A length that runs past the buffer.
	b := make([]byte, 32)
	binary.NativeEndian.PutUint32(b, 1000)
	if _, err := parseDiagMessages(b, 1, unix.SOCK_DIAG_BY_FAMILY, unix.IPPROTO_TCP, &out); err == nil {
		t.Error("an oversized length must be an error")
	}
	// An error message carries -errno.
	b = make([]byte, nlmsgHdrLen+4)
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], unix.NLMSG_ERROR)
	binary.NativeEndian.PutUint32(b[8:], 7)
	binary.NativeEndian.PutUint32(b[16:], uint32(0xffffffff-uint32(unix.EPERM)+1))
	if done, err := parseDiagMessages(b, 7, unix.SOCK_DIAG_BY_FAMILY, unix.IPPROTO_TCP, &out); !done || err == nil || !strings.Contains(err.Error(), "operation not permitted") {
		t.Errorf("NLMSG_ERROR: done %v err %v", done, err)
	}
	// A message of another sequence is skipped.
	binary.NativeEndian.PutUint32(b[8:], 8)
	if done, err := parseDiagMessages(b, 7, unix.SOCK_DIAG_BY_FAMILY, unix.IPPROTO_TCP, &out); done || err != nil {
		t.Errorf("foreign sequence: done %v err %v", done, err)
	}
}

func TestListenersDeadline(t *testing.T) {
	d, err := newNetlinkDumper()
	if err != nil {
		testenv.Skip(t, "netlink sock_diag: %v", err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := d.Listeners(ctx); err != nil {
		t.Fatalf("a dump with a deadline: %v", err)
	}
}

// otherUserPIDEnv passes the test's own PID to its copy run as nobody.
const otherUserPIDEnv = "WARDEN_LISTENERS_TEST_OTHER_PID"

// Another user's process: its namespace link needs ptrace access, which
// the packaged exporter lacks (a container's PID is root's), its
// /proc/<pid>/net does not. Root runs this test again as nobody, which
// reads the root test process's namespace (its own) and must see the
// listener root opened there.
func TestInNetnsOfAnotherUsersProcess(t *testing.T) {
	if pid := os.Getenv(otherUserPIDEnv); pid != "" {
		target, _ := strconv.Atoi(pid)
		port, _ := strconv.Atoi(os.Getenv(otherUserPIDEnv + "_PORT"))
		if _, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", target)); err == nil {
			t.Fatalf("premise: uid %d reads root's namespace link; the fallback is not exercised", os.Getuid())
		}
		r, err := New(Options{Mode: "auto", ProcRoot: "/proc"})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ls, _, err := r.InNetnsOf(context.Background(), target)
		if err != nil {
			t.Fatalf("reading root's namespace as uid %d: %v", os.Getuid(), err)
		}
		if !slices.ContainsFunc(ls, func(l Listener) bool { return l.Proto == "tcp" && int(l.Port) == port }) {
			t.Fatalf("uid %d: no listener on port %d in pid %d's namespace (%d read)", os.Getuid(), port, target, len(ls))
		}
		return
	}
	if os.Geteuid() != 0 {
		testenv.Skip(t, "running the test again as another user needs root")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// go test's build directory is 0700: nobody runs a copy.
	bin := filepath.Join(t.TempDir(), "listeners.test")
	self, err := os.ReadFile(os.Args[0])
	if err == nil {
		err = os.WriteFile(bin, self, 0o755)
	}
	for _, dir := range []string{filepath.Dir(bin), filepath.Dir(filepath.Dir(bin))} {
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
	}
	if err != nil {
		t.Fatalf("copying the test binary: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestInNetnsOfAnotherUsersProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", otherUserPIDEnv, os.Getpid()),
		fmt.Sprintf("%s_PORT=%d", otherUserPIDEnv, l.Addr().(*net.TCPAddr).Port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("the test as nobody: %v\n%s", err, out)
	}
}

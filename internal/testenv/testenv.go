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

// Package testenv holds the rules the project's integration tests share.
package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns every integration skip
// into a failure. .ci/run sets it, so CI never counts a skipped test as a pass.
const RequireEnv = "WARDEN_REQUIRE_INTEGRATION"

// Required reports whether integration tests must run.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Skip skips the test with a printed reason, or fails it when integration
// tests are required.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("integration test cannot run ("+RequireEnv+"=1): "+format, args...)
	}
	t.Skipf("skipping integration test: "+format, args...)
}

// LookPath returns the path of a program the test needs, or skips (or
// fails, when required) with the reason.
func LookPath(t testing.TB, program, installHint string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err != nil {
		Skip(t, "%s not found (%s)", program, installHint)
	}
	return path
}

// FreeLoopbackAddr returns 127.0.0.1 with a TCP port that was free a moment
// ago, for a server that cannot report where it listens.
func FreeLoopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreePort is FreeLoopbackAddr's port.
func FreePort(t testing.TB) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(FreeLoopbackAddr(t))
	n, _ := strconv.Atoi(p)
	return n
}

// DialNonReader connects to addr (loopback) with a 4 KiB receive buffer:
// a client that asks and never reads makes the server's write block as
// soon as the response outgrows the socket buffers. The connection is
// closed when the test ends.
func DialNonReader(t testing.TB, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Serve accepts connections on a new listener on network/addr (loopback)
// and runs handle for each, with a 30 s bound on every connection; the
// listener closes when the test ends. It returns the listener's address.
func Serve(t testing.TB, network, addr string, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		Skip(t, "cannot listen on %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				handle(c)
			}()
		}
	}()
	return l.Addr().String()
}

// CountFDs returns how many file descriptors the test process has open.
func CountFDs(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// nonEphemeralFloor is the lowest port NonEphemeralPort picks: above the
// well-known and registered services a test host may run.
const nonEphemeralFloor = 10000

// EphemeralRange returns the kernel's ephemeral port range
// (net.ipv4.ip_local_port_range, 32768-60999 by default); a range that
// leaves no room above nonEphemeralFloor skips the test.
func EphemeralRange(t testing.TB) (lo, hi int) {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		_, err = fmt.Sscan(string(b), &lo, &hi)
	}
	if err != nil || lo < nonEphemeralFloor+1000 {
		Skip(t, "the ephemeral port range (%q: %v) leaves no room for ports above %d", b, err, nonEphemeralFloor)
	}
	return lo, hi
}

// NonEphemeralPort returns a loopback TCP port below the kernel's
// ephemeral range that was free a moment ago: the kernel never hands it to
// a client's connection or to a bind to port 0 meanwhile (FreePort's can
// be: a socket unit restarted on one failed under two busy loops), and
// discovery learns only such ports.
func NonEphemeralPort(t testing.TB) int {
	t.Helper()
	lo, _ := EphemeralRange(t)
	for range 100 {
		port := nonEphemeralFloor + rand.IntN(lo-nonEphemeralFloor)
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatalf("no free port in [%d, %d) after 100 tries", nonEphemeralFloor, lo)
	return 0
}

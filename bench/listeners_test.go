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

//go:build bench

package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"github.com/warden-exporter/warden_exporter/internal/listeners"
)

// rawDumpFloor is the cost of the LISTEN-only dumps themselves: the same
// requests and receives as the listener source, without parsing anything.
type rawDumpFloor struct {
	fd  int
	buf []byte
}

func newRawDumpFloor(t *testing.T) *rawDumpFloor {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	return &rawDumpFloor{fd: fd, buf: make([]byte, 64<<10)}
}

func diagRequest(family, proto uint8, states uint32, seq uint32) []byte {
	req := make([]byte, 16+56)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], seq)
	req[16], req[17] = family, proto
	ne.PutUint32(req[20:], states)
	return req
}

var dumps = []struct {
	family, proto uint8
	states        uint32
}{
	{unix.AF_INET, unix.IPPROTO_TCP, 1 << 10},
	{unix.AF_INET6, unix.IPPROTO_TCP, 1 << 10},
	{unix.AF_INET, unix.IPPROTO_UDP, 1 << 7},
	{unix.AF_INET6, unix.IPPROTO_UDP, 1 << 7},
}

func (f *rawDumpFloor) dumpAll() {
	for i, d := range dumps {
		unix.Sendto(f.fd, diagRequest(d.family, d.proto, d.states, uint32(i+1)), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		for done := false; !done; {
			n, _, err := unix.Recvfrom(f.fd, f.buf, 0)
			if err != nil {
				return
			}
			// Only find the end: NLMSG_DONE as the last message.
			for off := 0; off+16 <= n; {
				l := int(binary.NativeEndian.Uint32(f.buf[off:]))
				if binary.NativeEndian.Uint16(f.buf[off+4:]) == unix.NLMSG_DONE || l < 16 {
					done = true
					break
				}
				off += (l + 3) &^ 3
			}
		}
	}
}

// mdlayherDump does the same dumps through mdlayher/netlink, the library
// we measured before choosing x/sys/unix.
func mdlayherDump(c *netlink.Conn) (int, error) {
	n := 0
	for _, d := range dumps {
		req := diagRequest(d.family, d.proto, d.states, 0)[16:]
		msgs, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.SOCK_DIAG_BY_FAMILY, Flags: netlink.Request | netlink.Dump},
			Data:   req,
		})
		if err != nil {
			return 0, err
		}
		n += len(msgs)
	}
	return n, nil
}

// connsPerHelper keeps each helper under a 20,000-fd limit that cannot be
// raised without CAP_SYS_RESOURCE (two fds per connection).
const connsPerHelper = 8000

// TestHelperConnections is not a test: started by establish with
// WARDEN_BENCH_CONNS=n, it opens n established loopback connections, says
// "ready", and holds them until its stdin closes (at most 30 minutes).
func TestHelperConnections(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WARDEN_BENCH_CONNS"))
	if n == 0 {
		return
	}
	var conns []net.Conn
	const servers = 2 // so the clients' ephemeral ports suffice
	for s := range servers {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		per := n / servers
		if s == servers-1 {
			per = n - per*(servers-1)
		}
		for range per {
			c, err := net.Dial("tcp4", l.Addr().String())
			if err != nil {
				t.Fatalf("connection %d: %v", len(conns)/2, err)
			}
			a, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c, a)
		}
	}
	fmt.Println("ready")
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Minute):
	}
	for _, c := range conns {
		c.Close()
	}
}

// establish opens n established loopback connections in helper processes
// (killed by pid when released).
func establish(t *testing.T, n int) func() {
	t.Helper()
	var helpers []*exec.Cmd
	release := func() {
		for _, h := range helpers {
			h.Process.Kill()
			h.Wait()
		}
	}
	for n > 0 {
		k := min(n, connsPerHelper)
		n -= k
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperConnections$")
		cmd.Env = append(os.Environ(), "WARDEN_BENCH_CONNS="+strconv.Itoa(k))
		stdin, _ := cmd.StdinPipe()
		_ = stdin
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		helpers = append(helpers, cmd)
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "ready" {
					ready <- true
					break
				}
			}
			ready <- false
			io.Copy(io.Discard, out)
		}()
		select {
		case ok := <-ready:
			if !ok {
				release()
				t.Fatal("a connection helper failed")
			}
		case <-time.After(5 * time.Minute):
			release()
			t.Fatal("a connection helper was not ready within 5 minutes")
		}
	}
	return release
}

// TestListenersVsProcfs measures, side by side at 0, 10k and 50k
// established loopback connections: the listener source (v4+v6 TCP and
// UDP, with cgroup ids), the raw dump floor, the same dumps through
// mdlayher/netlink, and procfs NetTCP+NetTCP6.
func TestListenersVsProcfs(t *testing.T) {
	src, err := listeners.New(listeners.Options{Mode: "netlink"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	floor := newRawDumpFloor(t)
	defer unix.Close(floor.fd)
	md, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	fs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Fatal(err)
	}
	// ~50 listeners, as on a busy server.
	for range 48 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	ctx := context.Background()
	var out strings.Builder
	fmt.Fprintf(&out, "\n%-12s %14s %14s %14s %14s %12s %14s %14s\n", "connections", "ours", "floor", "mdlayher", "procfs", "ours allocs", "ours/floor", "procfs/ours")
	for _, n := range []int{0, 10000, 50000} {
		release := establish(t, n)
		ours := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := src.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		fl := testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				floor.dumpAll()
			}
		})
		mdr := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := mdlayherDump(md); err != nil {
					b.Fatal(err)
				}
			}
		})
		pr := testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				if _, err := fs.NetTCP(); err != nil {
					b.Fatal(err)
				}
				if _, err := fs.NetTCP6(); err != nil {
					b.Fatal(err)
				}
			}
		})
		release()
		if n == 50000 {
			defer func(o, f, p time.Duration, allocs int64) {
				fmt.Printf("SUMMARY|listener source at 50k connections vs the raw dump floor|%v|%v|%.2fx|<= 4x\n", o, f, float64(o)/float64(f))
				fmt.Printf("SUMMARY|listener source at 50k connections vs procfs NetTCP+NetTCP6|%v|%v|%.0fx faster|>= 1000x\n", o, p.Round(time.Millisecond), float64(p)/float64(o))
				fmt.Printf("SUMMARY|listener source allocations per call|%d|mdlayher/netlink: see table|-|<= 50\n", allocs)
			}(time.Duration(ours.NsPerOp()), time.Duration(fl.NsPerOp()), time.Duration(pr.NsPerOp()), ours.AllocsPerOp())
		}
		o, f, m, p := time.Duration(ours.NsPerOp()), time.Duration(fl.NsPerOp()), time.Duration(mdr.NsPerOp()), time.Duration(pr.NsPerOp())
		fmt.Fprintf(&out, "%-12d %14v %14v %14v %14v %12d %14.2f %14.0f\n", n, o, f, m, p, ours.AllocsPerOp(), float64(o)/float64(f), float64(p)/float64(o))
		if n == 0 {
			fmt.Fprintf(&out, "%-12s %14s %14s %14d %14s\n", "  allocs/op", "", "", mdr.AllocsPerOp(), "")
		}
	}
	fmt.Fprintf(&out, "targets: ours <= 4x the floor and flat in connections; procfs/ours >= 1000 at 50k; <= 50 allocs per call\n")
	fmt.Print(out.String())
}

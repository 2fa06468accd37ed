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
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The fixtures in testdata/ were captured on the test VM next to the real
// sockets the integration tests open: a raw sock_diag dump (TCP LISTEN, v4
// then v6, sequence 42, with two sockets of the capture at 127.0.0.1:36209
// and a dual-stack [::]:39655) and /proc/net files holding the sockets of a
// small scene (listeners, an established pair, bound and connected UDP).

// splitDumps cuts a captured stream of netlink messages after each
// NLMSG_DONE.
func splitDumps(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for off := 0; off+nlmsgHdrLen <= len(b); {
		n := int(binary.NativeEndian.Uint32(b[off:]))
		if n < nlmsgHdrLen {
			break
		}
		typ := binary.NativeEndian.Uint16(b[off+4:])
		off += nlmAlign(n)
		if typ == unix.NLMSG_DONE {
			out = append(out, b[start:min(off, len(b))])
			start = off
		}
	}
	return out
}

func TestParseCapturedSockDiagDump(t *testing.T) {
	data, err := os.ReadFile("testdata/sockdiag-tcp-listen.bin")
	if err != nil {
		t.Fatal(err)
	}
	dumps := splitDumps(data)
	if len(dumps) != 2 {
		t.Fatalf("want the v4 and the v6 dump, got %d", len(dumps))
	}
	var ls []Listener
	for _, d := range dumps {
		done, err := parseDiagMessages(d, 42, unix.SOCK_DIAG_BY_FAMILY, unix.IPPROTO_TCP, &ls)
		if !done || err != nil {
			t.Fatalf("done %v err %v", done, err)
		}
	}
	v4, ok := findListener(ls, "tcp", 36209)
	if !ok || v4.Addr != netip.MustParseAddr("127.0.0.1") || v4.IPv6 || v4.CgroupID == 0 || v4.Inode == 0 {
		t.Errorf("v4 listener: %+v (found %v)", v4, ok)
	}
	v6, ok := findListener(ls, "tcp", 39655)
	if !ok || v6.Addr != netip.MustParseAddr("::") || !v6.IPv6 || !v6.V6OnlyKnown || v6.V6Only {
		t.Errorf("dual-stack v6 listener: %+v (found %v)", v6, ok)
	}
}

func TestParseCapturedProcNet(t *testing.T) {
	d, err := newProcDumper("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	ls, err := d.Listeners(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.Proto+" "+netip.AddrPortFrom(l.Addr, l.Port).String())
	}
	want := []string{"tcp 127.0.0.1:60375", "tcp 0.0.0.0:49041", "tcp [::]:46021", "tcp [::1]:51015", "udp 127.0.0.1:59296", "udp [::]:60390"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("listeners:\n got %v\nwant %v (established and connected sockets must be left out)", got, want)
	}
	for _, l := range ls {
		if l.IPv6 && (l.V6OnlyKnown || l.V6Only) {
			t.Errorf("procfs cannot know IPV6_V6ONLY; bindv6only=0 in the fixture: %+v", l)
		}
	}
}

// FuzzParseDiagMessages: no input may crash the parser or yield a
// listener that is not a TCP/UDP socket with a valid address.
func FuzzParseDiagMessages(f *testing.F) {
	if data, err := os.ReadFile("testdata/sockdiag-tcp-listen.bin"); err == nil {
		for _, d := range splitDumps(data) {
			f.Add(d, uint32(42), true)
		}
	}
	f.Add([]byte{}, uint32(0), false)
	f.Fuzz(func(t *testing.T, data []byte, seq uint32, udp bool) {
		proto := uint8(unix.IPPROTO_TCP)
		if udp {
			proto = unix.IPPROTO_UDP
		}
		var out []Listener
		parseDiagMessages(data, seq, unix.SOCK_DIAG_BY_FAMILY, proto, &out)
		for _, l := range out {
			if !l.Addr.IsValid() || (l.Proto != "tcp" && l.Proto != "udp") {
				t.Fatalf("bad listener %+v", l)
			}
		}
	})
}

// FuzzProcNet runs the /proc/net reading (prometheus/procfs's parser and
// our conversion) over arbitrary file contents.
func FuzzProcNet(f *testing.F) {
	for _, name := range []string{"tcp", "tcp6", "udp", "udp6"} {
		if data, err := os.ReadFile(filepath.Join("testdata/proc/net", name)); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("  sl  local_address rem_address   st\n   0: zz:zz 00:00 0A\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"tcp", "tcp6", "udp", "udp6"} {
			if err := os.WriteFile(filepath.Join(root, "net", name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		d, err := newProcDumper(root)
		if err != nil {
			t.Fatal(err)
		}
		// Nothing may hang either: the read gets a generous bound.
		done := make(chan []Listener, 1)
		go func() {
			ls, _ := d.Listeners(context.Background())
			done <- ls
		}()
		var ls []Listener
		select {
		case ls = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("reading /proc/net did not return within 5s for %q", data)
		}
		for _, l := range ls {
			if !l.Addr.IsValid() {
				t.Fatalf("bad listener %+v", l)
			}
		}
	})
}

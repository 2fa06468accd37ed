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
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The listener source asks the kernel for listening sockets over
// NETLINK_SOCK_DIAG. Asked for TCP_LISTEN alone, the kernel walks only its
// listener hash, so the cost does not grow with established connections
// (measured: ~40 µs for v4+v6 at 0 or 50,000 connections, where
// /proc/net/tcp{,6} takes 2 ms and 310 ms); asked once for both families
// (tcpDiagGetSock), it walks that hash once. The messages are parsed in place
// from one reused buffer: a dump allocates nothing per socket.
//
// We use golang.org/x/sys/unix directly rather than mdlayher/netlink: the
// dump is one request and a stream of fixed-layout replies, and
// netlink.Conn.Receive allocates a Message per socket (see
// BenchmarkListenersNetlink for the measured difference).

// Layout of the messages (linux/netlink.h, linux/inet_diag.h).
const (
	nlmsgHdrLen      = 16
	inetDiagReqV2Len = 56
	inetDiagReqV1Len = 60
	inetDiagMsgLen   = 72
	nlaHdrLen        = 4

	// tcpDiagGetSock is TCPDIAG_GETSOCK, the request before
	// SOCK_DIAG_BY_FAMILY: it names no family, so the kernel walks its TCP
	// listener hash once for v4 and v6 where a request per family walks it
	// twice (16 µs against 19 + 16 µs on the 2-core VM, whose 24 GB size
	// the hash). Linux answers it still; replies carry its type.
	tcpDiagGetSock = 18

	inetDiagSKV6Only = 11 // INET_DIAG_SKV6ONLY: u8
	inetDiagCgroupID = 21 // INET_DIAG_CGROUP_ID: u64, Linux >= 5.8

	dumpIntrRetries = 5
)

// netlinkDumper reads listeners from one NETLINK_SOCK_DIAG socket, reused
// across scrapes.
type netlinkDumper struct {
	mu  sync.Mutex
	fd  int
	buf []byte
	req [nlmsgHdrLen + inetDiagReqV1Len]byte // the larger request
	// tcpBoth is the request that walks the TCP listeners once for both
	// families (tcpDiagGetSock); noTCPBoth is set once the kernel refused
	// it.
	tcpBoth   uint16
	noTCPBoth bool
	seq       uint32
	scratch   []Listener
}

func newNetlinkDumper() (*netlinkDumper, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("%w: socket: %w", ErrNetlinkUnavailable, err)
	}
	return newNetlinkDumperFD(fd)
}

func newNetlinkDumperFD(fd int) (*netlinkDumper, error) {
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: bind: %w", ErrNetlinkUnavailable, err)
	}
	return &netlinkDumper{fd: fd, buf: make([]byte, 64<<10), tcpBoth: tcpDiagGetSock}, nil
}

// newNetlinkDumperInNetns opens the socket inside the network namespace of
// pid: a netlink socket answers for the namespace it was created in. The
// namespace switch needs CAP_SYS_ADMIN and happens on a locked thread that
// is restored (or, if that fails, never reused).
func newNetlinkDumperInNetns(pid int) (*netlinkDumper, error) {
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, err
	}
	defer target.Close()
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, err}
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, fmt.Errorf("entering the network namespace of pid %d: %w", pid, err)}
			return
		}
		fd, sockErr := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread is stuck in the other namespace: leave it locked,
			// so it exits with this goroutine instead of serving others.
			if sockErr == nil {
				unix.Close(fd)
			}
			done <- result{-1, fmt.Errorf("returning from the network namespace of pid %d: %w", pid, err)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{fd, sockErr}
	}()
	r := <-done
	if r.err != nil {
		return nil, r.err
	}
	return newNetlinkDumperFD(r.fd)
}

func (d *netlinkDumper) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// Listeners returns every listening TCP socket and bound UDP socket, v4 and
// v6. The slice is the caller's.
func (d *netlinkDumper) Listeners(ctx context.Context) ([]Listener, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fd < 0 {
		return nil, errors.New("netlink socket closed")
	}
	if deadline, ok := ctx.Deadline(); ok {
		timeout := max(time.Until(deadline), time.Millisecond)
		tv := unix.NsecToTimeval(timeout.Nanoseconds())
		if err := unix.SetsockoptTimeval(d.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, err
		}
	}
	d.scratch = d.scratch[:0]
	queries := [...]struct {
		kind   uint16 // the request's message type
		family uint8
		proto  uint8
		states uint32
	}{
		{d.tcpBoth, unix.AF_UNSPEC, unix.IPPROTO_TCP, 1 << tcpListen},
		{unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, unix.IPPROTO_TCP, 1 << tcpListen},
		{unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET6, unix.IPPROTO_TCP, 1 << tcpListen},
		{unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, unix.IPPROTO_UDP, 1 << tcpClose},
		{unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET6, unix.IPPROTO_UDP, 1 << tcpClose},
	}
	if !d.noTCPBoth {
		err := d.dumpRetrying(queries[0].kind, queries[0].family, queries[0].proto, queries[0].states)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			// A kernel without the v1 request: the two walks, from now on.
			d.noTCPBoth = true
			d.scratch = d.scratch[:0]
		} else if err != nil {
			return nil, err
		}
	}
	rest := queries[3:]
	if d.noTCPBoth {
		rest = queries[1:]
	}
	for _, q := range rest {
		if err := d.dumpRetrying(q.kind, q.family, q.proto, q.states); err != nil {
			return nil, err
		}
	}
	out := make([]Listener, len(d.scratch))
	copy(out, d.scratch)
	return out, nil
}

var errDumpInterrupted = errors.New("sock_diag dump interrupted (NLM_F_DUMP_INTR)")

// dumpRetrying repeats a dump that the kernel marked inconsistent (the
// socket table changed while it was walked).
func (d *netlinkDumper) dumpRetrying(kind uint16, family, proto uint8, states uint32) error {
	mark := len(d.scratch)
	var err error
	for range dumpIntrRetries {
		d.scratch = d.scratch[:mark]
		if err = d.dump(kind, family, proto, states); !errors.Is(err, errDumpInterrupted) {
			return err
		}
	}
	return err
}

func (d *netlinkDumper) dump(kind uint16, family, proto uint8, states uint32) error {
	d.seq++
	seq := d.seq
	req := d.req[:]
	clear(req)
	ne := binary.NativeEndian
	ne.PutUint16(req[4:], kind)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], seq)
	if kind != unix.SOCK_DIAG_BY_FAMILY {
		// struct inet_diag_req: family, the address lengths and the
		// extensions (4 bytes), the socket id (48), then the states.
		req = req[:nlmsgHdrLen+inetDiagReqV1Len]
		req[16] = family
		ne.PutUint32(req[16+4+48:], states)
	} else {
		req = req[:nlmsgHdrLen+inetDiagReqV2Len]
		req[16] = family
		req[17] = proto
		ne.PutUint32(req[20:], states)
	}
	ne.PutUint32(req[0:], uint32(len(req)))
	if err := unix.Sendto(d.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return fmt.Errorf("sock_diag: no answer before the deadline: %w", context.DeadlineExceeded)
			}
			return fmt.Errorf("sock_diag receive: %w", err)
		}
		done, err := parseDiagMessages(d.buf[:n], seq, kind, proto, &d.scratch)
		if err != nil || done {
			return err
		}
	}
}

// parseDiagMessages parses one datagram of a sock_diag dump, appending a
// Listener per socket to out. It reports whether the dump is complete.
// Messages of another sequence (a late answer to an abandoned dump) are
// skipped.
func parseDiagMessages(b []byte, seq uint32, kind uint16, proto uint8, out *[]Listener) (bool, error) {
	ne := binary.NativeEndian
	interrupted := false
	for len(b) >= nlmsgHdrLen {
		msgLen := int(ne.Uint32(b[0:]))
		if msgLen < nlmsgHdrLen || msgLen > len(b) {
			return false, fmt.Errorf("sock_diag: message length %d out of bounds (%d left)", msgLen, len(b))
		}
		typ := ne.Uint16(b[4:])
		flags := ne.Uint16(b[6:])
		msgSeq := ne.Uint32(b[8:])
		payload := b[nlmsgHdrLen:msgLen]
		b = b[min(nlmAlign(msgLen), len(b)):]
		if msgSeq != seq {
			continue
		}
		if flags&unix.NLM_F_DUMP_INTR != 0 {
			interrupted = true
		}
		switch typ {
		case unix.NLMSG_DONE:
			if interrupted {
				return true, errDumpInterrupted
			}
			return true, nil
		case unix.NLMSG_ERROR:
			if len(payload) < 4 {
				return true, errors.New("sock_diag: short error message")
			}
			errno := int32(ne.Uint32(payload))
			if errno == 0 {
				continue // an acknowledgement
			}
			return true, fmt.Errorf("sock_diag: %w", unix.Errno(-errno))
		case kind:
			l, ok := parseDiagMsg(payload, proto)
			if !ok {
				return false, fmt.Errorf("sock_diag: short inet_diag_msg (%d bytes)", len(payload))
			}
			*out = append(*out, l)
		}
	}
	if interrupted {
		return false, nil // the interruption is reported with DONE
	}
	return false, nil
}

// parseDiagMsg decodes one inet_diag_msg and its attributes.
func parseDiagMsg(p []byte, proto uint8) (Listener, bool) {
	if len(p) < inetDiagMsgLen {
		return Listener{}, false
	}
	ne := binary.NativeEndian
	l := Listener{Proto: "tcp", Port: binary.BigEndian.Uint16(p[4:])}
	if proto == unix.IPPROTO_UDP {
		l.Proto = "udp"
	}
	switch p[0] {
	case unix.AF_INET:
		l.Addr = netip.AddrFrom4([4]byte(p[8:12]))
	case unix.AF_INET6:
		// A v6 socket bound to a v4-mapped address serves that v4 address.
		l.Addr = netip.AddrFrom16([16]byte(p[8:24])).Unmap()
		l.IPv6 = true
	default:
		return Listener{}, false
	}
	l.UID = ne.Uint32(p[64:])
	l.Inode = uint64(ne.Uint32(p[68:]))
	for a := p[inetDiagMsgLen:]; len(a) >= nlaHdrLen; {
		alen := int(ne.Uint16(a[0:]))
		atype := ne.Uint16(a[2:]) & 0x3fff // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
		if alen < nlaHdrLen || alen > len(a) {
			break
		}
		val := a[nlaHdrLen:alen]
		switch {
		case atype == inetDiagSKV6Only && len(val) >= 1:
			l.V6Only, l.V6OnlyKnown = val[0] != 0, true
		case atype == inetDiagCgroupID && len(val) >= 8:
			l.CgroupID = ne.Uint64(val)
		}
		a = a[min(nlmAlign(alen), len(a)):]
	}
	return l, true
}

func nlmAlign(n int) int { return (n + 3) &^ 3 }

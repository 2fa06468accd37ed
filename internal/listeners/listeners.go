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

// Package listeners reads the host's listening TCP and bound UDP sockets
// from the kernel: netlink sock_diag (Linux), or /proc/net where netlink is
// refused, in the host's network namespace or a unit's.
package listeners

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"github.com/warden-exporter/warden_exporter/internal/hosttext"
)

// ErrNetlinkUnavailable wraps why sock_diag cannot be used here.
var ErrNetlinkUnavailable = errors.New("netlink sock_diag unavailable")

// Socket states of the kernel's tables (include/net/tcp_states.h), shared by
// the netlink and /proc/net readers.
const (
	tcpListen = 10 // TCP_LISTEN
	tcpClose  = 7  // TCP_CLOSE: what an unconnected, bound UDP socket is in
)

// Listener is one listening TCP socket or bound UDP socket.
type Listener struct {
	Proto string // "tcp" or "udp"
	// Addr is the local address, v4-mapped v6 addresses unmapped.
	Addr netip.Addr
	Port uint16
	// IPv6 is true for an AF_INET6 socket (also when Addr is unmapped v4).
	IPv6 bool
	// V6Only is IPV6_V6ONLY of a v6 socket: when false, a [::] socket also
	// accepts IPv4. V6OnlyKnown is false where the source cannot see it
	// (procfs), and V6Only is then the system default (net.ipv6.bindv6only).
	V6Only      bool
	V6OnlyKnown bool
	UID         uint32
	Inode       uint64
	// CgroupID is the cgroup v2 id of the socket (the inode number of its
	// cgroup directory); 0 where unknown (procfs, Linux < 5.8).
	CgroupID uint64
}

// listenerDumper reads the listeners of one network namespace.
type listenerDumper interface {
	Listeners(ctx context.Context) ([]Listener, error)
	Close() error
}

// Options configures the listener source.
type Options struct {
	// Mode is "auto" (netlink, falling back to procfs once), "netlink" or
	// "procfs".
	Mode string
	// ProcRoot is the proc mount, /proc outside tests.
	ProcRoot string
	Logger   log.Logger
}

// Reader reads the host's listening sockets.
type Reader struct {
	opts Options

	mu       sync.Mutex
	dumper   listenerDumper
	backend  string                  // "netlink" or "procfs"
	fallback string                  // why auto mode fell back to procfs
	netns    map[uint64]*netnsHandle // by namespace id, for netns: unit checks
}

// netnsHandle is a namespace's kept socket and when it was last read.
type netnsHandle struct {
	dumper listenerDumper
	used   time.Time
}

// A namespace's socket is kept while its checks read it and closed once
// none has for netnsIdle: its unit stopped, or moved to another namespace.
// Checks read theirs at every evaluation (the watch's default 1 s, scrapes
// every 15-60 s), so ten minutes closes only what nobody reads. maxNetns
// bounds the sockets kept (one per netns: unit check's unit running):
// past it the least recently read is closed.
const (
	netnsIdle = 10 * time.Minute
	maxNetns  = 256
)

// New returns the source; it opens its netlink socket on the
// first Update.
func New(opts Options) (*Reader, error) {
	switch opts.Mode {
	case "", "auto":
		opts.Mode = "auto"
	case "netlink", "procfs":
	default:
		return nil, fmt.Errorf("unknown listener source %q (auto, netlink or procfs)", opts.Mode)
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	return &Reader{opts: opts}, nil
}

// Close releases the netlink sockets.
func (s *Reader) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dumper != nil {
		s.dumper.Close()
		s.dumper = nil
	}
	for id, h := range s.netns {
		h.dumper.Close()
		delete(s.netns, id)
	}
}

// InNetnsOf reads the listeners of the network namespace pid is in. A
// netlink socket opened inside it (CAP_SYS_ADMIN, for setns) costs what the
// host's does; without the capability, /proc/<pid>/net is read instead,
// whose cost grows with the namespace's connections. The socket is kept
// for the next evaluations while the namespace is read (see netnsIdle).
func (s *Reader) InNetnsOf(ctx context.Context, pid int) ([]Listener, uint64, error) {
	id, err := netnsID(s.opts.ProcRoot, pid)
	if errors.Is(err, fs.ErrPermission) {
		// Another user's process (a container's, root's): its namespace
		// link needs ptrace access (CAP_SYS_PTRACE), its /proc/<pid>/net
		// does not (measured: nobody reads root's). Read there, uncached:
		// without the namespace's id there is nothing to key it by.
		pd, perr := newProcDumperForPID(s.opts.ProcRoot, pid)
		if perr != nil {
			return nil, 0, fmt.Errorf("%w; and its /proc/%d/net: %w", err, pid, perr)
		}
		ls, lerr := pd.Listeners(ctx)
		return ls, 0, lerr
	}
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	now := time.Now()
	s.closeIdleNetnsLocked(now)
	var d listenerDumper
	if h, ok := s.netns[id]; ok {
		h.used, d = now, h.dumper
	} else {
		if s.opts.Mode != "procfs" {
			if nd, err := newNetlinkDumperInNetns(pid); err == nil {
				d = nd
			}
		}
		if d == nil {
			pd, err := newProcDumperForPID(s.opts.ProcRoot, pid)
			if err != nil {
				s.mu.Unlock()
				return nil, 0, err
			}
			d = pd
		}
		if s.netns == nil {
			s.netns = map[uint64]*netnsHandle{}
		}
		s.netns[id] = &netnsHandle{dumper: d, used: now}
	}
	s.mu.Unlock()
	ls, err := d.Listeners(ctx)
	return ls, id, err
}

// closeIdleNetnsLocked closes the sockets of namespaces not read for
// netnsIdle, and the least recently read ones past maxNetns-1, so one more
// fits. s.mu is held.
func (s *Reader) closeIdleNetnsLocked(now time.Time) {
	for id, h := range s.netns {
		if now.Sub(h.used) > netnsIdle {
			h.dumper.Close()
			delete(s.netns, id)
		}
	}
	for len(s.netns) >= maxNetns {
		var oldestID uint64
		var oldest *netnsHandle
		for id, h := range s.netns {
			if oldest == nil || h.used.Before(oldest.used) {
				oldestID, oldest = id, h
			}
		}
		oldest.dumper.Close()
		delete(s.netns, oldestID)
	}
}

// Reading is the host's listeners at one instant, and how they were read.
type Reading struct {
	Listeners []Listener
	// Backend is the kernel interface read: "netlink" or "procfs".
	Backend string
	// Fallback is why auto mode reads procfs; empty otherwise.
	Fallback string
}

// Read reads the listeners of the host's (the exporter's) namespace.
func (s *Reader) Read(ctx context.Context) (*Reading, error) {
	d, backend, fallback, err := s.ensureDumper()
	if err != nil {
		return nil, err
	}
	ls, err := d.Listeners(ctx)
	if err != nil && backend == "netlink" && s.opts.Mode == "auto" && isNetlinkRefusal(err) {
		// Refused after it opened (a seccomp filter on sendto, say):
		// fall back now, once.
		s.fallBack(err)
		return s.Read(ctx)
	}
	if err != nil {
		return nil, err
	}
	return &Reading{Listeners: ls, Backend: backend, Fallback: fallback}, nil
}

func (s *Reader) ensureDumper() (listenerDumper, string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dumper != nil {
		return s.dumper, s.backend, s.fallback, nil
	}
	if s.opts.Mode != "procfs" {
		d, err := newNetlinkDumper()
		if err == nil {
			s.dumper, s.backend = d, "netlink"
			return d, s.backend, "", nil
		}
		if s.opts.Mode == "netlink" {
			return nil, "", "", err
		}
		s.setFallbackLocked(err)
		return s.dumper, s.backend, s.fallback, nil
	}
	d, err := newProcDumper(s.opts.ProcRoot)
	if err != nil {
		return nil, "", "", err
	}
	s.dumper, s.backend = d, "procfs"
	return d, s.backend, "", nil
}

func (s *Reader) fallBack(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dumper != nil {
		s.dumper.Close()
	}
	s.setFallbackLocked(err)
}

// maxFallbackReason bounds warden_listeners_source_info's fallback_reason:
// netlink's refusals are one errno's text, tens of bytes.
const maxFallbackReason = 256

func (s *Reader) setFallbackLocked(err error) {
	d, perr := newProcDumper(s.opts.ProcRoot)
	if perr != nil {
		d = nil
	}
	// The reason is a label value (warden_listeners_source_info): kept
	// valid UTF-8 and short whatever the error says.
	s.dumper, s.backend, s.fallback = d, "procfs", hosttext.Clean(err.Error(), maxFallbackReason)
	level.Warn(s.opts.Logger).Log("msg", "netlink sock_diag unavailable, reading listeners from /proc/net instead (slower with many connections)", "reason", err)
}

// isNetlinkRefusal tells a refusal by the system (permissions, seccomp, no
// inet_diag) from a transient failure.
func isNetlinkRefusal(err error) bool {
	for _, e := range []error{ErrNetlinkUnavailable, os.ErrPermission, syscall.EPERM, syscall.EACCES, syscall.ENOENT, syscall.EPROTONOSUPPORT, syscall.EOPNOTSUPP} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// procDumper reads /proc/net/{tcp,tcp6,udp,udp6} through prometheus/procfs.
// It serves where netlink is refused; its cost grows with every socket of
// the namespace, established ones included.
type procDumper struct {
	fs            procfs.FS
	defaultV6Only bool
}

func newProcDumper(root string) (*procDumper, error) {
	fs, err := procfs.NewFS(root)
	if err != nil {
		return nil, err
	}
	return &procDumper{fs: fs, defaultV6Only: readBindV6Only(root)}, nil
}

// newProcDumperForPID reads the network namespace of pid, through
// /proc/<pid>/net.
func newProcDumperForPID(root string, pid int) (*procDumper, error) {
	return newProcDumper(filepath.Join(root, fmt.Sprint(pid)))
}

// readBindV6Only is net.ipv6.bindv6only: what IPV6_V6ONLY a v6 socket gets
// unless it sets its own, all procfs can tell us.
func readBindV6Only(root string) bool {
	b, err := os.ReadFile(filepath.Join(root, "sys/net/ipv6/bindv6only"))
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

func (d *procDumper) Close() error { return nil }

// Listeners implements listenerDumper.
func (d *procDumper) Listeners(ctx context.Context) ([]Listener, error) {
	var out []Listener
	for _, f := range []struct {
		read  func() (procfs.NetIPSocket, error)
		proto string
		state uint64
	}{
		{func() (procfs.NetIPSocket, error) { n, err := d.fs.NetTCP(); return procfs.NetIPSocket(n), err }, "tcp", tcpListen},
		{func() (procfs.NetIPSocket, error) { n, err := d.fs.NetTCP6(); return procfs.NetIPSocket(n), err }, "tcp", tcpListen},
		{func() (procfs.NetIPSocket, error) { n, err := d.fs.NetUDP(); return procfs.NetIPSocket(n), err }, "udp", tcpClose},
		{func() (procfs.NetIPSocket, error) { n, err := d.fs.NetUDP6(); return procfs.NetIPSocket(n), err }, "udp", tcpClose},
	} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lines, err := readProcNet(f.read)
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return nil, fmt.Errorf("reading /proc/net: %w", err)
		}
		out = appendProcListeners(out, lines, f.proto, f.state, d.defaultV6Only)
	}
	return out, nil
}

// readProcNet calls read, turning a panic of the parser into an error: our
// fuzzing found prometheus/procfs v0.23.0 indexing past the fields of a
// short UDP line, and a malformed file must cost one scrape, not the
// process.
func readProcNet(read func() (procfs.NetIPSocket, error)) (lines procfs.NetIPSocket, err error) {
	defer func() {
		if p := recover(); p != nil {
			lines, err = nil, fmt.Errorf("parsing /proc/net failed: %v", p)
		}
	}()
	return read()
}

// appendProcListeners keeps the sockets in state and converts them.
func appendProcListeners(out []Listener, lines procfs.NetIPSocket, proto string, state uint64, defaultV6Only bool) []Listener {
	for _, line := range lines {
		if line == nil || line.St != state {
			continue
		}
		addr, ok := netip.AddrFromSlice(line.LocalAddr)
		if !ok {
			continue
		}
		l := Listener{
			Proto: proto,
			Addr:  addr.Unmap(),
			Port:  uint16(line.LocalPort),
			IPv6:  len(line.LocalAddr) == 16,
			UID:   uint32(line.UID),
			Inode: line.Inode,
		}
		if l.IPv6 {
			l.V6Only = defaultV6Only
		}
		out = append(out, l)
	}
	return out
}

// netnsID identifies the network namespace of pid (its nsfs inode).
func netnsID(procRoot string, pid int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(procRoot, strconv.Itoa(pid), "ns/net"), &st); err != nil {
		return 0, fmt.Errorf("network namespace of pid %d: %w", pid, err)
	}
	return st.Ino, nil
}

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

// Package owner finds who holds a listener: a systemd unit (by cgroup id, a
// socket unit's Listen=, or a unit's processes' descriptors), or a process
// outside every known unit.
package owner

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/warden-exporter/warden_exporter/internal/hosttext"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// Ownership: which unit holds a listener.
//
//  1. By cgroup id. sock_diag gives each socket's cgroup v2 id, the inode
//     number of its cgroup directory; a unit's ControlGroup names its
//     directory. An index of unit directories (and their sub-cgroups) by
//     inode answers without root and without reading /proc. It is rebuilt
//     only when a listener's id is not in it, at most once per change of the
//     unit set.
//  2. By a socket unit's Listen= addresses, for listeners systemd opened for
//     socket activation outside any indexed cgroup.
//  3. Without cgroup ids (procfs, Linux < 5.8): by socket inode, reading only
//     the fds of the processes in the units' own cgroups (cgroup.procs), for
//     the units the checks name; cached by inode. Never a scan of /proc/*/fd.
//
// What none of these settles stays unknown: no guessing.

// Owner is what is known of who holds a listener.
type Owner struct {
	// Unit holding it; "" when unknown.
	Unit string
	// Foreign: the socket's cgroup is known and, after indexing every unit
	// we know, lies in none of them (a process outside those units). It is
	// then certainly not the socket of any indexed unit.
	Foreign bool
}

// Resolver finds the units that hold listeners.
type Resolver struct {
	procRoot string
	cgroup2  string // "" without a v2 hierarchy

	mu        sync.Mutex
	byID      map[uint64]string // cgroup id -> unit
	indexed   map[string]bool   // units whose cgroup directory is in byID
	indexedAt *systemd.Snapshot // the unit set the index was last rebuilt for
	byInode   map[uint64]string // socket inode -> unit (fallback 3)
	// The socket units' Listen= addresses (fallback 2), for the unit set
	// they were read from: they change with the cache only, and reading
	// them walks every unit (0.26 ms of a 1.9 ms scrape of 2,000 units).
	sockets   socketListens
	socketsAt *systemd.Snapshot

	procMu     sync.Mutex
	procByNode map[uint64]Process // socket inode -> its holder, or the zero Process when ProcessOf found none

	cgroups cgroupPaths // cgroup v2 id -> path, for StrangersOf
	users   userNames   // uid -> name, for StrangersOf
}

// maxProcCache bounds ProcessesOf's cache: foreign listeners on checks'
// ports are few (64 was too few for a host whose 100 checks' ports were all
// held outside units: every evaluation scanned /proc again, 136 ms each),
// and a listener's inode is stable while it exists.
const maxProcCache = 4096

// New finds the cgroup v2 mount under procRoot's view.
func New(procRoot string) *Resolver {
	root, _ := CgroupMount(filepath.Join(procRoot, "self/mountinfo"))
	return &Resolver{
		procRoot: procRoot, cgroup2: root, byID: map[uint64]string{}, byInode: map[uint64]string{},
		cgroups: cgroupPaths{root: root}, users: userNames{file: "/etc/passwd"},
	}
}

// Owners returns who holds each listener. units is this scrape's systemd
// reading; checkUnits are the units whose listeners must be found even
// without cgroup ids.
func (o *Resolver) Owners(ctx context.Context, units *systemd.Snapshot, listeners []listeners.Listener, checkUnits []string) []Owner {
	owners := make([]Owner, len(listeners))
	if units == nil {
		return owners
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var unresolved, foreign []int
	for i, l := range listeners {
		if l.CgroupID == 0 {
			unresolved = append(unresolved, i)
			continue
		}
		unit, ok := o.byID[l.CgroupID]
		if !ok && !units.SameCache(o.indexedAt) {
			o.rebuild(units)
			unit, ok = o.byID[l.CgroupID]
		}
		if ok {
			owners[i].Unit = unit
			continue
		}
		owners[i].Foreign = units.SameCache(o.indexedAt) && o.cgroup2 != ""
		if owners[i].Foreign {
			foreign = append(foreign, i)
		}
		unresolved = append(unresolved, i)
	}
	if len(foreign) > 0 {
		o.confirmForeign(ctx, units, listeners, owners, foreign)
	}
	if len(unresolved) == 0 {
		return owners
	}
	// 2: socket units' Listen= addresses.
	if !units.SameCache(o.socketsAt) {
		o.sockets, o.socketsAt = socketUnits(units), units
	}
	sockets := o.sockets
	var noCgroup []int
	for _, i := range unresolved {
		if unit := sockets.owner(listeners[i]); unit != "" {
			owners[i] = Owner{Unit: unit}
		} else if listeners[i].CgroupID == 0 {
			noCgroup = append(noCgroup, i)
		}
	}
	// 3: without cgroup ids, by inode through the checks' units' fds.
	if len(noCgroup) > 0 {
		o.resolveByInode(ctx, units, listeners, noCgroup, checkUnits, owners)
	}
	return owners
}

// confirmForeign keeps Foreign only for the listeners at idx whose cgroup
// is no directory systemd made for a unit the view is behind on: a unit
// started after the view (the watch judges the view a change left, with
// listeners read later), or one whose ControlGroup is still being read.
// Such a listener is that unit's, not a stranger's; its owner stays
// unknown until a view holds the unit. A path not found keeps Foreign.
func (o *Resolver) confirmForeign(ctx context.Context, units *systemd.Snapshot, ls []listeners.Listener, owners []Owner, idx []int) {
	ids := make([]uint64, len(idx))
	for k, i := range idx {
		ids[k] = ls[i].CgroupID
	}
	paths := o.cgroups.paths(ctx, ids)
	for _, i := range idx {
		if unit := unitOfCgroup(paths[ls[i].CgroupID]); unit != "" && !units.Current(unit) {
			owners[i].Foreign = false
		}
	}
}

// unitOfCgroup is the unit whose directory systemd made for cgroup path
// (as "/system.slice/nginx.service/sub"): its first component that is not
// a slice, when that is a service or a socket, the units whose
// ControlGroup the cache reads; "" otherwise (a scope, a container's or a
// delegated directory).
func unitOfCgroup(path string) string {
	for part := range strings.SplitSeq(strings.TrimPrefix(path, "/"), "/") {
		if strings.HasSuffix(part, ".slice") {
			continue
		}
		if strings.HasSuffix(part, ".service") || strings.HasSuffix(part, ".socket") {
			return part
		}
		return ""
	}
	return ""
}

// rebuild indexes the cgroup directories of every unit we know by inode.
func (o *Resolver) rebuild(units *systemd.Snapshot) {
	o.indexedAt = units
	if o.cgroup2 == "" {
		return
	}
	index := make(map[uint64]string, len(units.Names()))
	indexed := make(map[string]bool, len(units.Names()))
	add := func(u systemd.Unit) {
		if u.ControlGroup == "" {
			return
		}
		dir := filepath.Join(o.cgroup2, u.ControlGroup)
		if _, err := os.Stat(dir); err == nil {
			indexed[u.Name] = true
		}
		// The unit's own directory and its sub-cgroups (Delegate=yes
		// services make their own), a few levels deep at most.
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if strings.Count(path[len(dir):], "/") > 4 {
				return filepath.SkipDir
			}
			var st unix.Stat_t
			if unix.Stat(path, &st) == nil {
				index[st.Ino] = u.Name
			}
			return nil
		})
	}
	for _, name := range units.Names() {
		u, _ := units.Unit(name)
		add(u)
	}
	for _, name := range units.NamedUnits() {
		if u, ok := units.Unit(name); ok {
			add(u)
		}
	}
	o.byID, o.indexed = index, indexed
}

// Knows reports whether a foreign owner rules unit out: its cgroup is
// indexed, or it is stopped (inactive or failed: no cgroup, so no sockets
// of its own). An activating or deactivating unit has processes: without
// a ControlGroup in the view, the view is older than its start (systemd
// never signals ControlGroup; the cache reads it after the state change).
// Taken as known, a timer's job was foreign_listener on its own port for
// the watch at each tick of one run in the alert e2e, ok for the scrapes.
func (o *Resolver) Knows(units *systemd.Snapshot, unit string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.indexed[unit] {
		return true
	}
	u, ok := units.Unit(unit)
	return ok && u.ControlGroup == "" && (u.Inactive() || u.Failed())
}

// resolveByInode maps socket inodes to the checks' units by reading the fds
// of the processes in each unit's cgroup. Results are cached by inode; a
// socket's inode is unique while it exists.
func (o *Resolver) resolveByInode(ctx context.Context, units *systemd.Snapshot, listeners []listeners.Listener, idx []int, checkUnits []string, owners []Owner) {
	want := map[uint64]int{}
	for _, i := range idx {
		if unit, ok := o.byInode[listeners[i].Inode]; ok {
			owners[i].Unit = unit
			continue
		}
		want[listeners[i].Inode] = i
	}
	if len(want) == 0 {
		return
	}
	for _, name := range checkUnits {
		if ctx.Err() != nil || len(want) == 0 {
			return
		}
		u, ok := units.Unit(name)
		if !ok || u.ControlGroup == "" {
			continue
		}
		for _, pid := range o.cgroupPIDs(u.ControlGroup) {
			for _, inode := range o.socketInodes(pid) {
				if i, ok := want[inode]; ok {
					owners[i].Unit = name
					o.byInode[inode] = name
					delete(want, inode)
				}
			}
		}
	}
	// Forget inodes of sockets that are gone.
	live := make(map[uint64]bool, len(listeners))
	for _, l := range listeners {
		live[l.Inode] = true
	}
	for inode := range o.byInode {
		if !live[inode] {
			delete(o.byInode, inode)
		}
	}
}

// cgroupPIDs lists the processes of a unit's cgroup and its sub-cgroups.
func (o *Resolver) cgroupPIDs(controlGroup string) []int {
	if o.cgroup2 == "" {
		return nil
	}
	var pids []int
	dir := filepath.Join(o.cgroup2, controlGroup)
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for field := range strings.FieldsSeq(string(data)) {
			if pid, err := strconv.Atoi(field); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// socketInodes returns the inodes of the sockets pid has open. Reading
// another user's fds needs root (or CAP_DAC_READ_SEARCH and
// CAP_SYS_PTRACE); without it the owner stays unknown.
func (o *Resolver) socketInodes(pid int) []uint64 {
	dir := filepath.Join(o.procRoot, strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var inodes []uint64
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if rest, ok := strings.CutPrefix(target, "socket:["); ok {
			if inode, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64); err == nil {
				inodes = append(inodes, inode)
			}
		}
	}
	return inodes
}

// socketListens maps the Listen= addresses of socket units to the units.
type socketListens []struct {
	unit  string
	proto string
	addr  netip.Addr // invalid for a port-only entry (all addresses)
	port  uint16
}

func socketUnits(units *systemd.Snapshot) socketListens {
	var out socketListens
	for _, name := range units.SocketUnits() {
		u, _ := units.Unit(name)
		for _, l := range u.Listen {
			proto := ""
			switch l.Type {
			case "Stream":
				proto = "tcp"
			case "Datagram":
				proto = "udp"
			default:
				continue // unix sockets, FIFOs, netlink...
			}
			addr, port, ok := l.AddrPort()
			if !ok {
				continue
			}
			out = append(out, struct {
				unit  string
				proto string
				addr  netip.Addr
				port  uint16
			}{name, proto, addr, port})
		}
	}
	return out
}

// owner returns the socket unit whose Listen= covers l, or "".
func (s socketListens) owner(l listeners.Listener) string {
	for _, e := range s {
		if e.proto != l.Proto || e.port != l.Port {
			continue
		}
		if !e.addr.IsValid() && l.Addr.IsUnspecified() || e.addr == l.Addr {
			return e.unit
		}
	}
	return ""
}

// maxProcFDReads bounds the descriptors ProcessOf reads in one call: a
// host with thousands of processes costs a scrape at most this many
// readlinks (about 20 ms), whatever else happens.
const maxProcFDReads = 50000

// Process is a process that holds a socket.
type Process struct {
	Comm string // its name (/proc/PID/comm), "?" when unreadable
	PID  int
}

// String is "comm (pid N)".
func (p Process) String() string { return fmt.Sprintf("%s (pid %d)", p.Comm, p.PID) }

// ProcessesOf finds the processes holding the socket inodes by reading
// /proc/*/fd: the owners of listeners on checks' ports that are in no known
// unit (a shell's nc, a leftover child). One scan serves every inode not
// cached, within maxProcFDReads descriptors and ctx; an inode not found
// maps to the zero Process. A process whose fds we may not read is
// skipped.
func (o *Resolver) ProcessesOf(ctx context.Context, inodes []uint64) map[uint64]Process {
	out := make(map[uint64]Process, len(inodes))
	want := map[string]uint64{}
	o.procMu.Lock()
	for _, inode := range inodes {
		if name, ok := o.procByNode[inode]; ok {
			out[inode] = name
		} else {
			want["socket:["+strconv.FormatUint(inode, 10)+"]"] = inode
		}
	}
	o.procMu.Unlock()
	if len(want) == 0 {
		return out
	}
	found := o.scanProcFDs(ctx, want)
	// Not found is kept too (a holder in another PID namespace, or past
	// the read bound): else a foreign listener nobody can name would cost
	// a /proc scan on every evaluation. Unless ctx ended: the scan was
	// cut, not done.
	o.procMu.Lock()
	defer o.procMu.Unlock()
	if o.procByNode == nil || len(o.procByNode)+len(want) > maxProcCache {
		o.procByNode = map[uint64]Process{}
	}
	for _, inode := range want {
		out[inode] = found[inode]
		if ctx.Err() == nil {
			o.procByNode[inode] = found[inode]
		}
	}
	return out
}

// ProcessOf is ProcessesOf for one inode.
func (o *Resolver) ProcessOf(ctx context.Context, inode uint64) Process {
	return o.ProcessesOf(ctx, []uint64{inode})[inode]
}

func (o *Resolver) scanProcFDs(ctx context.Context, want map[string]uint64) map[uint64]Process {
	found := map[uint64]Process{}
	entries, err := os.ReadDir(o.procRoot)
	if err != nil {
		return found
	}
	reads := 0
	for _, e := range entries {
		if ctx.Err() != nil || reads >= maxProcFDReads || len(found) == len(want) {
			break
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(o.procRoot, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		comm := ""
		for _, fd := range fds {
			if reads++; reads > maxProcFDReads {
				break
			}
			target, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			if inode, ok := want[target]; ok {
				if comm == "" {
					comm = cmp.Or(readComm(filepath.Join(o.procRoot, e.Name(), "comm")), "?")
				}
				found[inode] = Process{Comm: comm, PID: pid}
			}
		}
	}
	return found
}

// maxCommRead bounds what is read of /proc/<pid>/comm: the kernel keeps
// at most 15 bytes of a name (TASK_COMM_LEN 16), but procRoot may be
// another mount, and a file is read only as far as we need it.
const maxCommRead = 64

// maxProcessName bounds a process's name as it is exported: 15 bytes that
// are each not UTF-8 and alternate with ASCII clean to 8 replacements of 3
// bytes and 7 letters, 31 bytes.
const maxProcessName = 64

// readComm returns a process's name from its comm file, as valid UTF-8:
// any local user can rename a process to bytes that are not
// (prctl(PR_SET_NAME, "\xff\xfeevil")), and the name is in label values.
// "" when it cannot be read.
func readComm(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, maxCommRead)
	n, _ := io.ReadFull(f, b)
	return hosttext.Clean(strings.TrimSpace(string(b[:n])), maxProcessName)
}

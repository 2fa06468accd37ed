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

package owner

import (
	"bufio"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/hosttext"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
)

// Naming a stranger. The packaged exporter runs as its own user without
// CAP_SYS_PTRACE or CAP_DAC_READ_SEARCH: it cannot read root's
// /proc/PID/fd, so ProcessesOf finds no process for a port held by root or
// by a login session, and the page said "a process outside every known
// unit". sock_diag tells every user two things of each socket: its owner's
// uid (idiag_uid; /proc/net's uid column too) and, since Linux 5.8, its
// cgroup v2 id (INET_DIAG_CGROUP_ID), the inode number of the cgroup's
// directory under the v2 mount. A walk of that tree maps the id to a path
// (world-readable, as `ss --cgroup` does it); /etc/passwd maps the uid to
// a name. Both are cached: a stranger costs one walk and one read of
// passwd while it holds its socket.

// Stranger is what is known of who holds a listener no unit is known to
// hold.
type Stranger struct {
	UID uint32
	// User is the uid's name in /etc/passwd; "" when it has none there.
	User string
	// Cgroup is the socket's cgroup, as a path below the cgroup v2 mount
	// ("/user.slice/user-0.slice/session-3.scope", "/" for the root); ""
	// where the source gives no cgroup id (procfs, Linux < 5.8), or the
	// cgroup is gone or past the walk's bound.
	Cgroup string
	// Process holds the socket, where its fds could be read; zero
	// otherwise.
	Process Process
}

// StrangersOf says who holds each of ls (listeners on checks' ports that
// no unit is known to hold), by socket inode: the user and cgroup of the
// socket, and the process where /proc/PID/fd can be read.
func (o *Resolver) StrangersOf(ctx context.Context, ls []listeners.Listener) map[uint64]Stranger {
	inodes := make([]uint64, 0, len(ls))
	uids := make([]uint32, 0, len(ls))
	ids := make([]uint64, 0, len(ls))
	for _, l := range ls {
		inodes = append(inodes, l.Inode)
		uids = append(uids, l.UID)
		if l.CgroupID != 0 {
			ids = append(ids, l.CgroupID)
		}
	}
	procs := o.ProcessesOf(ctx, inodes)
	users := o.users.names(uids)
	paths := o.cgroups.paths(ctx, ids)
	out := make(map[uint64]Stranger, len(ls))
	for _, l := range ls {
		out[l.Inode] = Stranger{UID: l.UID, User: users[l.UID], Cgroup: paths[l.CgroupID], Process: procs[l.Inode]}
	}
	return out
}

// maxCgroupWalk bounds the directories one walk of the cgroup tree visits:
// a booted Debian 12 host has about 150, a container host one per
// container and a few per pod; 20,000 lstat calls take ~30 ms.
const maxCgroupWalk = 20000

// maxCgroupCache bounds the ids cgroupPaths remembers: the strangers on
// checks' ports are few, and an id is never reused (kernfs ids are 64-bit
// and only grow), so a path once found stays true.
const maxCgroupCache = 1024

// maxCgroupPath bounds a cgroup's path as it is kept: systemd's deepest
// (a user manager's service) is ~90 bytes, a container runtime's scope
// with a 64-digit id ~120; a delegated user may name directories at will.
const maxCgroupPath = 256

// cgroupPaths maps cgroup v2 ids to their paths by walking the v2 tree.
type cgroupPaths struct {
	root string // the v2 mount; "" without one (a pure v1 host)

	mu   sync.Mutex
	byID map[uint64]string // "" for an id the last walk did not find
}

// paths returns the paths of ids; one walk serves every id not cached. An
// id not found maps to "" and is remembered (else a socket whose cgroup is
// gone would cost a walk per evaluation), unless ctx ended the walk.
func (c *cgroupPaths) paths(ctx context.Context, ids []uint64) map[uint64]string {
	out := make(map[uint64]string, len(ids))
	if c.root == "" || len(ids) == 0 {
		return out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	want := map[uint64]bool{}
	for _, id := range ids {
		if p, ok := c.byID[id]; ok {
			out[id] = p
		} else {
			want[id] = true
		}
	}
	if len(want) == 0 {
		return out
	}
	found := walkCgroups(ctx, c.root, want)
	if c.byID == nil || len(c.byID)+len(want) > maxCgroupCache {
		c.byID = map[uint64]string{}
	}
	for id := range want {
		out[id] = found[id]
		if ctx.Err() == nil {
			c.byID[id] = found[id]
		}
	}
	return out
}

// walkCgroups finds the directories below root whose inode numbers are
// in want, within maxCgroupWalk directories and ctx. The paths are
// relative to root, with a leading "/" (as systemd's ControlGroup and
// `ss --cgroup` write them), and valid UTF-8.
func walkCgroups(ctx context.Context, root string, want map[uint64]bool) map[uint64]string {
	found := map[uint64]string{}
	visited := 0
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil // a cgroup removed while we walk, or a file
		}
		if visited++; visited > maxCgroupWalk || ctx.Err() != nil || len(found) == len(want) {
			return filepath.SkipAll
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || !want[st.Ino] {
			return nil
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(path, root), "/")
		found[st.Ino] = hosttext.Clean(rel, maxCgroupPath)
		return nil
	})
	return found
}

// maxPasswdRead bounds what is read of /etc/passwd per lookup: 10,000
// local users take ~600 KB (directory users are not there, and stay
// numbers).
const maxPasswdRead = 4 << 20

// maxUserCache bounds the uids userNames remembers: one per stranger's
// user, a handful.
const maxUserCache = 1024

// maxUserName bounds a user's name as it is exported: useradd allows 32
// bytes; passwd is the host's, and any bytes may be in it.
const maxUserName = 64

// userNames maps uids to names through a bounded read of a passwd file
// (not os/user: without cgo it reads the whole file, unbounded, and with
// cgo NSS may ask a directory server in the middle of a scrape).
type userNames struct {
	file string

	mu      sync.Mutex
	byUID   map[uint32]string // "" for a uid passwd lacks
	modTime time.Time         // of the file the cache was read from
	size    int64
}

// names returns the names of uids ("" for one passwd lacks): one read of
// the file serves every uid not cached; the cache is dropped when the
// file changes.
func (u *userNames) names(uids []uint32) map[uint32]string {
	out := make(map[uint32]string, len(uids))
	if len(uids) == 0 {
		return out
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if fi, err := os.Stat(u.file); err == nil && (!fi.ModTime().Equal(u.modTime) || fi.Size() != u.size) {
		u.byUID, u.modTime, u.size = nil, fi.ModTime(), fi.Size()
	}
	want := map[uint32]bool{}
	for _, uid := range uids {
		if name, ok := u.byUID[uid]; ok {
			out[uid] = name
		} else {
			want[uid] = true
		}
	}
	if len(want) == 0 {
		return out
	}
	found := readPasswd(u.file, want)
	if u.byUID == nil || len(u.byUID)+len(want) > maxUserCache {
		u.byUID = map[uint32]string{}
	}
	for uid := range want {
		out[uid], u.byUID[uid] = found[uid], found[uid]
	}
	return out
}

// readPasswd returns the names of the uids in want from a passwd file
// ("name:password:uid:..."), the first line of each uid, within
// maxPasswdRead bytes.
func readPasswd(file string, want map[uint32]bool) map[uint32]string {
	found := map[uint32]string{}
	f, err := os.Open(file)
	if err != nil {
		return found
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxPasswdRead))
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() && len(found) < len(want) {
		fields := strings.SplitN(sc.Text(), ":", 4)
		if len(fields) < 4 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		uid, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil || !want[uint32(uid)] {
			continue
		}
		if _, dup := found[uint32(uid)]; !dup {
			found[uint32(uid)] = hosttext.Clean(fields[0], maxUserName)
		}
	}
	return found
}

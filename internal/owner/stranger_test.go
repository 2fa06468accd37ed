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
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// A uid's name comes from a bounded read of passwd: the first line of the
// uid, made valid UTF-8, "" for a uid it lacks; the cache follows the
// file when it changes.
func TestUserNamesFromPasswd(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	write := func(s string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(file, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Unix(1_700_000_000, 0)
	write("root:x:0:0:root:/root:/bin/bash\n# a comment:x:1:1\nbroken line\nweird:x:notanumber:0::/:\n"+
		"\xff\xfeevil:x:1001:1001::/home/e:/bin/sh\nfirst:x:1002:1::/:\nsecond:x:1002:1::/:\n", t0)
	u := userNames{file: file}
	got := u.names([]uint32{0, 1, 1001, 1002, 4242})
	for uid, want := range map[uint32]string{0: "root", 1: "", 1001: "\uFFFDevil", 1002: "first", 4242: ""} {
		t.Run(strconv.Itoa(int(uid)), func(t *testing.T) {
			if got[uid] != want || !utf8.ValidString(got[uid]) {
				t.Errorf("uid %d: %q, want %q", uid, got[uid], want)
			}
		})
	}
	write("admin:x:0:0::/:\n", t0.Add(time.Second))
	if got := u.names([]uint32{0}); got[0] != "admin" {
		t.Errorf("after passwd changed, uid 0 is %q, want admin", got[0])
	}
	// Past maxPasswdRead the file is not read further.
	big := strings.Repeat("x:x:7:7::/:\n", maxPasswdRead/12+1) + "late:x:4243:1::/:\n"
	write(big, t0.Add(2*time.Second))
	if got := u.names([]uint32{4243}); got[4243] != "" {
		t.Errorf("a line past %d bytes was read: %q", maxPasswdRead, got[4243])
	}
}

// The cgroup walk finds a real cgroup v2 directory by its id (its inode),
// as any user may: the test process's own, and the one sock_diag gives a
// socket of the test's. An id no directory has maps to "" and is
// remembered.
func TestCgroupPathsByID(t *testing.T) {
	mount, err := CgroupMount("/proc/self/mountinfo")
	if err != nil {
		testenv.Skip(t, "no cgroup v2 hierarchy mounted: %v", err)
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var path string
	for line := range strings.SplitSeq(string(own), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			path = rest
		}
	}
	var st syscall.Stat_t
	if path == "" || syscall.Stat(filepath.Join(mount, path), &st) != nil {
		testenv.Skip(t, "the test process's v2 cgroup %q is not under %s (another cgroup namespace?)", path, mount)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := listeners.New(listeners.Options{Mode: "netlink"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	reading, err := r.Read(context.Background())
	if err != nil {
		testenv.Skip(t, "sock_diag unavailable: %v", err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	var socketID uint64
	for _, ls := range reading.Listeners {
		if ls.Port == port && ls.Proto == "tcp" {
			socketID = ls.CgroupID
		}
	}
	if socketID == 0 {
		testenv.Skip(t, "sock_diag gives no cgroup id here (Linux < 5.8)")
	}
	const gone = 1 << 62
	c := cgroupPaths{root: mount}
	got := c.paths(context.Background(), []uint64{st.Ino, socketID, gone})
	if got[st.Ino] != path || got[socketID] != path || got[gone] != "" {
		t.Errorf("paths = %v, want %d and %d: %q, %d: \"\"", got, st.Ino, socketID, path, uint64(gone))
	}
	if p, ok := c.byID[gone]; !ok || p != "" {
		t.Errorf("an id not found is not remembered: %q %v", p, ok)
	}
	// A walk cut short by its context is not remembered as not found.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c = cgroupPaths{root: mount}
	c.paths(ctx, []uint64{gone})
	if _, ok := c.byID[gone]; ok {
		t.Error("a walk cut by its context remembered its id as not found")
	}
}

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
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// ProcessOf names the process behind a socket by its inode, through the
// real /proc: here, this test process's own listener.
func TestProcessOfNamesTheHolder(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	inode, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", link, err)
	}
	comm, _ := os.ReadFile("/proc/self/comm")
	o := New("/proc")
	want := strings.TrimSpace(string(comm)) + " (pid " + strconv.Itoa(os.Getpid()) + ")"
	if got := o.ProcessOf(context.Background(), inode); got.String() != want {
		t.Errorf("ProcessOf(%d) = %q, want %q", inode, got, want)
	}
	if got := o.ProcessOf(context.Background(), 1<<62); got != (Process{}) {
		t.Errorf("an inode no process holds: %q", got)
	}
}

// A process any local user renamed to bytes that are not UTF-8 is named in
// valid UTF-8: the name goes into label values, where "\xff\xfeevil" made
// building the series panic and every series after it was lost.
func TestProcessOfNamesARenamedProcessInUTF8(t *testing.T) {
	p := testenv.StartRenamedListener(t, "\xff\xfeevil", "tcp", "127.0.0.1:0")
	fdDir := "/proc/" + strconv.Itoa(p.PID) + "/fd"
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatal(err)
	}
	var inode uint64
	for _, fd := range fds {
		link, _ := os.Readlink(fdDir + "/" + fd.Name())
		if rest, ok := strings.CutPrefix(link, "socket:["); ok {
			inode, _ = strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
		}
	}
	if inode == 0 {
		t.Fatalf("pid %d holds no socket", p.PID)
	}
	got := New("/proc").ProcessOf(context.Background(), inode)
	want := Process{Comm: "\uFFFDevil", PID: p.PID}
	if got != want || !utf8.ValidString(got.Comm) {
		t.Errorf("ProcessOf(%d) = %q, want %q", inode, got, want)
	}
}

// A unit without a ControlGroup in the view rules a foreign owner out only
// when it is stopped: an activating or deactivating unit has processes the
// view has not caught up with (a timer's job, just started, was
// foreign_listener on its own port).
func TestKnowsOnlyStoppedUnitsWithoutACgroup(t *testing.T) {
	for _, tc := range []struct {
		active string
		want   bool
	}{{"inactive", true}, {"failed", true}, {"activating", false}, {"deactivating", false}, {"active", false}, {"reloading", false}} {
		t.Run(tc.active, func(t *testing.T) {
			units := systemd.SnapshotOf(systemd.Unit{Name: "job.service", LoadState: "loaded", ActiveState: tc.active})
			if got := New("/proc").Knows(units, "job.service"); got != tc.want {
				t.Errorf("Knows(%s, no ControlGroup) = %v, want %v", tc.active, got, tc.want)
			}
		})
	}
}

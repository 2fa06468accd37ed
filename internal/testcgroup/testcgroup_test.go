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

package testcgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

func TestParseMounts(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo string
		want            map[string]string
	}{{
		name: "hybrid",
		mountinfo: `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:5 - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`,
		want: map[string]string{
			"cpu,cpuacct":  "/sys/fs/cgroup/cpu,cpuacct",
			"cpuset":       "/sys/fs/cgroup/cpuset",
			"memory":       "/sys/fs/cgroup/memory",
			"name=systemd": "/sys/fs/cgroup/systemd",
			"":             "/sys/fs/cgroup/unified",
		},
	}, {
		name:      "pure v2",
		mountinfo: "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
		want:      map[string]string{"": "/sys/fs/cgroup"},
	}, {
		// A bind mount of a cgroup below the root (as in a container) is
		// not the hierarchy's mount point.
		name: "not a hierarchy root",
		mountinfo: `50 40 0:29 /machine.slice/x /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
51 40 0:26 /machine.slice/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw
`,
		want: map[string]string{},
	}, {
		name:      "no separator",
		mountinfo: "garbage line\n32 31 0:29 / /sys/fs/cgroup/cpu rw cgroup cgroup rw,cpu\n",
		want:      map[string]string{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMounts(strings.NewReader(tc.mountinfo))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOwnDirs(t *testing.T) {
	mounts := map[string]string{
		"memory":       "/sys/fs/cgroup/memory",
		"cpu,cpuacct":  "/sys/fs/cgroup/cpu,cpuacct",
		"name=systemd": "/sys/fs/cgroup/systemd",
		"":             "/sys/fs/cgroup/unified",
	}
	for _, tc := range []struct {
		name, cgroup string
		want         []string
		wantErr      bool
	}{{
		name: "hybrid, nested memory cgroup, unmounted hierarchy left out",
		cgroup: `12:name=systemd:/user.slice/session-1.scope
5:memory:/process_api/6dab
4:cpu,cpuacct:/
3:pids:/
0::/user.slice/session-1.scope
`,
		want: []string{
			"/sys/fs/cgroup/systemd/user.slice/session-1.scope",
			"/sys/fs/cgroup/memory/process_api/6dab",
			"/sys/fs/cgroup/cpu,cpuacct",
			"/sys/fs/cgroup/unified/user.slice/session-1.scope",
		},
	}, {
		name:   "a path with a colon",
		cgroup: "0::/a:b\n",
		want:   []string{"/sys/fs/cgroup/unified/a:b"},
	}, {
		name:    "nothing mounted",
		cgroup:  "3:pids:/\nnot a line\n",
		wantErr: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ownDirs(strings.NewReader(tc.cgroup), mounts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOwnerPID(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{"wsbx-1234-5", 1234, true},
		{"wsbx-1234", 1234, true},
		{"wsbx-1234-5-abcdef", 1234, true},
		{"wsbx-1-5", 0, false}, // never init
		{"wsbx-0-5", 0, false},
		{"wsbx--5", 0, false},
		{"wsbx-x-5", 0, false},
		{"wsbx", 0, false},
		{"wsbxx-1234-5", 0, false},
		{"other-1234-5", 0, false},
	} {
		pid, ok := ownerPID("wsbx", tc.name)
		if pid != tc.pid || ok != tc.ok {
			t.Errorf("ownerPID(wsbx, %q) = %d, %v, want %d, %v", tc.name, pid, ok, tc.pid, tc.ok)
		}
	}
}

// TestCreateKillRemove runs a process and its child in cgroups of their
// own, then takes the cgroups down.
func TestCreateKillRemove(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "creating cgroups needs root")
	}
	name := "warden-test-" + strconv.Itoa(os.Getpid()) + "-testcgroup"
	dirs, err := Create(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Kill(dirs); Remove(dirs) })
	own, err := Own()
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != len(own) {
		t.Errorf("%d cgroups made, want one in each of the caller's %d hierarchies", len(dirs), len(own))
	}
	for i, dir := range dirs {
		if want := filepath.Join(own[i], name); dir != want {
			t.Errorf("cgroup %s, want %s", dir, want)
		}
	}
	if _, err := Create(name); err == nil {
		t.Errorf("Create made %s twice", name)
	}

	var procs []string
	for _, d := range dirs {
		procs = append(procs, filepath.Join(d, "cgroup.procs"))
	}
	// The shell joins the cgroups, then forks: the child is in them too.
	cmd := exec.Command("sh", "-c", `for p in $PROCS; do echo $$ > "$p"; done; sleep 60 & exec sleep 60`)
	cmd.Env = append(os.Environ(), "PROCS="+strings.Join(procs, " "))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(Processes(dirs)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("processes in %v: %v, want the shell and its child", dirs, Processes(dirs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pids := Processes(dirs); len(pids) != 2 || !slices.Contains(pids, cmd.Process.Pid) {
		t.Fatalf("processes %v, want %d and its child, each once", pids, cmd.Process.Pid)
	}
	// One hierarchy only: Remove retries a busy cgroup for a second.
	if busy := dirs[:1]; !slices.Equal(Remove(busy), busy) {
		t.Errorf("Remove with processes inside did not report %v", busy)
	}

	Kill(dirs)
	if pids := Processes(dirs); len(pids) != 0 {
		t.Errorf("processes %v left after Kill", pids)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Errorf("pid %d survived Kill", cmd.Process.Pid)
	}
	if left := Remove(dirs); len(left) != 0 {
		t.Errorf("Remove left %v", left)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s still exists", d)
		}
	}
}

// TestSweepStale removes an empty cgroup of a dead owner and keeps those of
// a live one.
func TestSweepStale(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "creating cgroups needs root")
	}
	const prefix = "warden-test-sweep"
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	staleDirs, err := Create(prefix + "-" + strconv.Itoa(dead.Process.Pid) + "-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Remove(staleDirs) })
	liveDirs, err := Create(prefix + "-" + strconv.Itoa(os.Getpid()) + "-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Remove(liveDirs) })

	SweepStale(prefix)
	for _, d := range staleDirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("stale %s kept", d)
		}
	}
	for _, d := range liveDirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("live %s swept: %v", d, err)
		}
	}
}

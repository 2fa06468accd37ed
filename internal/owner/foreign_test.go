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
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// A listener in the cgroup systemd made for a unit the view is behind on
// (started after the view, or its ControlGroup still being read) is not
// "outside every known unit": its owner stays unknown until a view holds
// the unit. On a booted host the watch judged the view redis's stop left
// with listeners read later, and named the stranger.service that had
// started since "a process ... in cgroup /system.slice/stranger.service,
// outside every known unit". A scope, or a unit the cache does not watch,
// is foreign as before. The tree is a directory of the test's own: the
// resolver reads a cgroup's id as its directory's inode.
func TestForeignOnlyOutsideUnitsTheViewIsCurrentOn(t *testing.T) {
	root := t.TempDir()
	id := func(path string) uint64 {
		dir := filepath.Join(root, path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	webID, strangerID, scopeID := id("system.slice/web.service"), id("system.slice/stranger.service"), id("system.slice/w-stranger.scope")
	web := systemd.Unit{Name: "web.service", LoadState: "loaded", ActiveState: "active", ControlGroup: "/system.slice/web.service"}
	stranger := systemd.Unit{Name: "stranger.service", LoadState: "loaded", ActiveState: "active", ControlGroup: "/system.slice/stranger.service"}
	services := func(name string) bool { return strings.HasSuffix(name, ".service") }
	ls := []listeners.Listener{
		{Proto: "tcp", Addr: netip.MustParseAddr("127.0.0.1"), Port: 80, CgroupID: webID},
		{Proto: "tcp", Addr: netip.MustParseAddr("127.0.0.1"), Port: 6379, CgroupID: strangerID},
		{Proto: "tcp", Addr: netip.MustParseAddr("127.0.0.1"), Port: 6380, CgroupID: scopeID},
	}
	for _, tc := range []struct {
		name  string
		units *systemd.Snapshot
		want  Owner // of the listener in stranger.service's cgroup
	}{
		{"the view is older than the unit", systemd.SnapshotWatching(services, nil, web), Owner{}},
		{"the unit's properties are still being read", systemd.SnapshotWatching(services, []string{"stranger.service"}, web, systemd.Unit{Name: "stranger.service", LoadState: "loaded", ActiveState: "active"}), Owner{}},
		{"the view holds the unit", systemd.SnapshotWatching(services, nil, web, stranger), Owner{Unit: "stranger.service"}},
		{"the cache does not watch the unit", systemd.SnapshotWatching(func(n string) bool { return n == "web.service" }, nil, web), Owner{Foreign: true}},
		{"another unit is behind", systemd.SnapshotWatching(services, []string{"web.service"}, web, systemd.Unit{Name: "stranger.service", LoadState: "loaded", ActiveState: "inactive"}), Owner{Foreign: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &Resolver{procRoot: "/proc", cgroup2: root, byID: map[uint64]string{}, byInode: map[uint64]string{}, cgroups: cgroupPaths{root: root}}
			got := o.Owners(context.Background(), tc.units, ls, nil)
			if got[0] != (Owner{Unit: "web.service"}) {
				t.Errorf("web's listener: %+v, want web.service's", got[0])
			}
			if got[1] != tc.want {
				t.Errorf("the listener in /system.slice/stranger.service: %+v, want %+v", got[1], tc.want)
			}
			if got[2] != (Owner{Foreign: true}) {
				t.Errorf("the listener in a scope: %+v, want foreign", got[2])
			}
		})
	}
}

func TestUnitOfCgroup(t *testing.T) {
	for path, want := range map[string]string{
		"/system.slice/nginx.service":                                       "nginx.service",
		"/system.slice/nginx.service/sub":                                   "nginx.service",
		"/system.slice/system-getty.slice/getty@tty1.service":               "getty@tty1.service",
		"/system.slice/dbus.socket":                                         "dbus.socket",
		"/user.slice/user-1000.slice/user@1000.service/app.slice/x.service": "user@1000.service",
		"/user.slice/user-1000.slice/session-2.scope":                       "",
		"/system.slice/docker-0123.scope":                                   "",
		"/docker/0123":                                                      "",
		"/":                                                                 "",
		"":                                                                  "",
	} {
		if got := unitOfCgroup(path); got != want {
			t.Errorf("unitOfCgroup(%q) = %q, want %q", path, got, want)
		}
	}
}

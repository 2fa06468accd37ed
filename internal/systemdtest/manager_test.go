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

package systemdtest

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/warden-exporter/warden_exporter/internal/testcgroup"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

func TestManagerRunsUnitsInItsOwnCgroupAndCleansUp(t *testing.T) {
	var dirs []string
	var pid int
	t.Run("run", func(t *testing.T) {
		m := Start(t)
		m.Run(t, "harness-sleep", "sleep", "infinity")
		if got := m.Show(t, "harness-sleep.service", "ActiveState"); got != "active" {
			t.Fatalf("ActiveState %q", got)
		}
		cg := m.Show(t, "harness-sleep.service", "ControlGroup")
		if !strings.HasPrefix(cg, m.CgroupRoot()+"/") {
			t.Errorf("unit cgroup %q is not below the manager's %q", cg, m.CgroupRoot())
		}
		pid, _ = strconv.Atoi(m.Show(t, "harness-sleep.service", "MainPID"))
		// PID 1 must not have been moved by the manager.
		self, _ := os.ReadFile("/proc/1/cgroup")
		if strings.Contains(string(self), "init.scope") || strings.Contains(string(self), "warden-test") {
			t.Errorf("PID 1 was moved:\n%s", self)
		}

		m.Restart(t)
		if testcgroup.Alive(pid) {
			t.Errorf("the crashed manager's unit process %d survived Restart", pid)
		}
		m.Run(t, "harness-sleep2", "sleep", "infinity")
		pid, _ = strconv.Atoi(m.Show(t, "harness-sleep2.service", "MainPID"))
		dirs = m.cgroupDirs
	})
	if len(dirs) == 0 {
		// The manager could not start (the subtest said why): there is no
		// cleanup to check, and this test must not count as a pass.
		testenv.Skip(t, "the manager did not start")
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left behind", d)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if !testcgroup.Alive(pid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unit process %d survived the manager's cleanup", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The user bus the harness runs refuses calls beyond the system bus's reply
// limit, as dbus-daemon does on a real host: without it, a client that keeps
// too many calls in flight would pass here and fail in production.
func TestUserBusHasTheSystemBusReplyLimit(t *testing.T) {
	m := Start(t)
	bus := m.DialBus(t)
	conn := bus.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	// A frozen manager answers nothing, so every call waits for its reply:
	// the bus refuses those beyond its limit at once, whatever the speed of
	// the machine.
	// systemd joins its user bus a moment after the bus starts; until then a
	// call waits for its activation, which the limit does not count.
	if err := conn.Call("org.freedesktop.DBus.Properties.Get", 0, "org.freedesktop.systemd1.Manager", "Version").Err; err != nil {
		t.Fatalf("systemd on its user bus: %v", err)
	}
	thaw := m.Freeze(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	calls := make([]*dbus.Call, 2*SystemBusReplyLimit)
	for i := range calls {
		calls[i] = conn.GoWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, nil, "org.freedesktop.systemd1.Manager", "Version")
	}
	// Refusals come back at once; accepted calls wait for the thaw. (Done
	// is buffered: its length tells without taking the answer.)
	answered := func() int {
		n := 0
		for _, c := range calls {
			n += len(c.Done)
		}
		return n
	}
	WaitFor(t, 10*time.Second, "the bus refusing calls beyond its limit while the manager is frozen", func() bool { return answered() > 0 })
	thaw()
	refused := 0
	for _, c := range calls {
		<-c.Done
		var de dbus.Error
		if errors.As(c.Err, &de) && de.Name == "org.freedesktop.DBus.Error.LimitsExceeded" {
			refused++
		} else if c.Err != nil {
			t.Fatalf("unexpected error: %v", c.Err)
		}
	}
	if refused == 0 || refused > len(calls)-SystemBusReplyLimit/2 {
		t.Errorf("%d of %d calls refused, want about those beyond %d", refused, len(calls), SystemBusReplyLimit)
	}
	t.Logf("%d of %d calls refused while the manager was frozen", refused, len(calls))
}

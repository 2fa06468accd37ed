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

package systemd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// A crash that Restart= undoes within a second is counted from the
// manager's signals, by systemd's Result, and so is every state the unit
// passes through, whatever instant a reading is taken at.
func TestCrashLoopIsCountedFromSignals(t *testing.T) {
	m := systemdtest.Start(t)
	c := New(Options{Endpoint: Endpoint{Path: filepath.Join(m.RuntimeDir, "systemd", "private"), Direct: true}, Include: defaultInclude, Logger: log.NewNopLogger()})
	t.Cleanup(c.Close)
	read := func() Unit {
		u, _ := c.mustSnapshot(t, 5*time.Second, "crash.service").Unit("crash.service")
		return u
	}
	read() // connected and synced before the unit starts
	m.Run(t, "crash.service", "--property=Restart=always", "--property=RestartSec=500ms", "--property=StartLimitIntervalSec=0",
		"/bin/sh", "-c", "sleep 0.3; kill -KILL $$$$") // systemd reads $$ as $
	var u Unit
	deadline := time.Now().Add(30 * time.Second)
	for {
		u = read()
		if u.Failures["signal"] >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not counted: %+v\nNRestarts %s Result %s", u, m.Show(t, "crash.service", "NRestarts"), m.Show(t, "crash.service", "Result"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if u.StateChanges["activating"] < 3 || u.StateChanges["active"] < 3 {
		t.Errorf("state changes %v: every crash passes through activating and back to active", u.StateChanges)
	}
	for result := range u.Failures {
		if result != "signal" {
			t.Errorf("failures %v: the unit only ever died by SIGKILL", u.Failures)
		}
	}
}

// mustSnapshot reads names (and the cache) within timeout, failing the
// test if it cannot.
func (s *Client) mustSnapshot(t testing.TB, timeout time.Duration, names ...string) *Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	snap, err := s.Snapshot(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// calls returns how many calls the client's live connection has made.
func (s *Client) calls(t *testing.T) uint64 {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		t.Fatal("not connected")
	}
	return s.cache.budget.calls.Load()
}

// A daemon-reload announces every unit removed and new again; their state
// lives through it. The cache keeps them: the reload costs a listing and
// the socket units' reads (Listen= and Triggers= come from the unit file),
// not a read of every unit (8-10 calls each, ~2,000 calls here for each
// client). What the reload changed is seen: a socket's new address, a
// unit whose file is gone, and the counts of a unit's state changes
// carry on.
func TestDaemonReloadKeepsTheCache(t *testing.T) {
	m := systemdtest.Start(t)
	const bulk = 200
	m.StartOneshots(t, "reload", bulk)
	dir := filepath.Join(m.RuntimeDir, "systemd", "user")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Below the ephemeral range: the socket is restarted on port1, and a
	// client's connection must not take it meanwhile.
	port1, port2 := testenv.NonEphemeralPort(t), testenv.NonEphemeralPort(t)
	socket := func(port int) string { return fmt.Sprintf("[Socket]\nListenStream=127.0.0.1:%d\n", port) }
	write("rl-sock.socket", socket(port1))
	write("rl-sock.service", "[Service]\nExecStart=/bin/sleep infinity\n")
	write("rl-gone.service", "[Service]\nExecStart=/bin/sleep infinity\n")
	write("rl-kept.service", "[Service]\nExecStart=/bin/sleep infinity\n")
	m.Systemctl(t, "daemon-reload")
	m.Systemctl(t, "start", "rl-sock.socket", "rl-gone.service", "rl-kept.service")
	for _, tc := range bothEndpoints(t, m) {
		t.Run(tc.name, func(t *testing.T) {
			write("rl-sock.socket", socket(port1))
			write("rl-gone.service", "[Service]\nExecStart=/bin/sleep infinity\n")
			m.Systemctl(t, "daemon-reload")
			m.Systemctl(t, "restart", "rl-sock.socket")
			m.Systemctl(t, "start", "rl-gone.service")
			c := New(Options{Endpoint: tc.ep, Include: defaultInclude, Logger: log.NewNopLogger()})
			t.Cleanup(c.Close)
			read := func() *Snapshot { return c.mustSnapshot(t, 20*time.Second) }
			read()
			m.Systemctl(t, "restart", "rl-kept.service")
			before := read()
			if got := before.snap.units["rl-kept.service"].StateChanges["active"]; got == 0 {
				t.Fatalf("the restart before the reload was not counted: %v", before.snap.units["rl-kept.service"].StateChanges)
			}
			if got := before.snap.units["rl-sock.socket"].Listen; len(got) != 1 || got[0].Address != fmt.Sprintf("127.0.0.1:%d", port1) {
				t.Fatalf("rl-sock.socket listens on %v before the reload", got)
			}
			calls := c.calls(t)

			m.Systemctl(t, "stop", "rl-gone.service")
			if err := os.Remove(filepath.Join(dir, "rl-gone.service")); err != nil {
				t.Fatal(err)
			}
			write("rl-sock.socket", socket(port2))
			m.Systemctl(t, "daemon-reload")
			after := read()
			if spent := c.calls(t) - calls; spent >= bulk {
				t.Errorf("the reload cost %d calls with %d units: every unit was read again", spent, len(after.Names()))
			} else {
				t.Logf("the reload cost %d calls with %d units", spent, len(after.Names()))
			}
			if got := after.snap.units["rl-sock.socket"].Listen; len(got) != 1 || got[0].Address != fmt.Sprintf("127.0.0.1:%d", port2) {
				t.Errorf("rl-sock.socket listens on %v after the reload, want 127.0.0.1:%d", got, port2)
			}
			if u, ok := after.snap.units["rl-gone.service"]; ok {
				t.Errorf("rl-gone.service, stopped and its file removed, is still cached after the reload: %+v", u)
			}
			if b, a := before.snap.units["rl-kept.service"].StateChanges, after.snap.units["rl-kept.service"].StateChanges; a["active"] != b["active"] {
				t.Errorf("rl-kept.service's state changes %v before the reload, %v after", b, a)
			}
			if u := after.snap.units["reload-7.service"]; u.ActiveState != "active" || u.ActiveEnterTimestamp == 0 || u.LoadState != "loaded" {
				t.Errorf("reload-7.service after the reload: %+v", u)
			}
		})
	}
}

// systemd collects a stopped unit nothing refers to (UnitRemoved), and
// reading its properties loads it again: UnitNew, then collected again.
// The cache must not follow its own echo. Before, a read still in flight
// when the collection was announced made every UnitNew it caused a reason
// to read the unit again: a loop of ~10 calls a round that only a lucky
// ordering ended (CI counted 218 calls in a test of daemon-reload, and
// 50 rounds were seen on an idle machine).
func TestACollectedUnitIsNotReadAgainByItsOwnEcho(t *testing.T) {
	m := systemdtest.Start(t)
	dir := filepath.Join(m.RuntimeDir, "systemd", "user")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var units []string
	for i := range n {
		name := fmt.Sprintf("collected-%d.service", i)
		units = append(units, name)
		if err := os.WriteFile(filepath.Join(dir, name), []byte("[Service]\nExecStart=/bin/sleep infinity\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m.Systemctl(t, "daemon-reload")
	for _, tc := range bothEndpoints(t, m) {
		t.Run(tc.name, func(t *testing.T) {
			m.Systemctl(t, append([]string{"start"}, units...)...)
			c := New(Options{Endpoint: tc.ep, Include: defaultInclude, Logger: log.NewNopLogger()})
			t.Cleanup(c.Close)
			if got := c.mustSnapshot(t, 20*time.Second).Names(); !containsAll(got, units) {
				t.Fatalf("the started units are not all cached: %v", got)
			}
			m.Systemctl(t, append([]string{"stop"}, units...)...)
			// systemd collects them once stopped: wait (bounded) until the
			// cache holds none of them.
			deadline := time.Now().Add(20 * time.Second)
			for {
				left := 0
				for _, name := range c.mustSnapshot(t, 20*time.Second).Names() {
					if strings.HasPrefix(name, "collected-") {
						left++
					}
				}
				if left == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d stopped units are still cached 20 s after the stop", left)
				}
				time.Sleep(100 * time.Millisecond)
			}
			// Nothing happens on the manager from here on: a read now is
			// the cache following its own echo.
			calls := c.calls(t)
			time.Sleep(2 * time.Second)
			c.mustSnapshot(t, 20*time.Second)
			if spent := c.calls(t) - calls; spent > 1 {
				t.Errorf("the cache made %d calls in 2 s on an idle manager after %d units were collected (want at most the snapshot's own)", spent, n)
			}
		})
	}
}

func containsAll(have, want []string) bool {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

// bothEndpoints are the ways to m's manager: its private socket and the
// user bus.
func bothEndpoints(t *testing.T, m *systemdtest.Manager) []struct {
	name string
	ep   Endpoint
} {
	t.Helper()
	bus, err := ResolveEndpoint("user", m.BusAddress(), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		ep   Endpoint
	}{
		{"private socket", Endpoint{Path: filepath.Join(m.RuntimeDir, "systemd", "private"), Direct: true}},
		{"bus", bus},
	}
}

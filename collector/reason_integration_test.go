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

package collector

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// reusePortSquatters starts a sleep process per name, named so (a symlink
// to sleep: the kernel names a process after the path it was started
// by), that holds a listening socket of its own on addr (SO_REUSEPORT):
// many holders of one port, none in a unit. They are killed, by pid, when
// the test ends.
func reusePortSquatters(t *testing.T, addr string, names []string) {
	t.Helper()
	sleep := testenv.LookPath(t, "sleep", "apt-get install coreutils")
	dir := t.TempDir()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	for _, name := range names {
		path := filepath.Join(dir, name)
		if err := os.Symlink(sleep, path); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		l, err := lc.Listen(context.Background(), "tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		f, err := l.(*net.TCPListener).File()
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(path, "600")
		cmd.ExtraFiles = []*os.File{f}
		err = cmd.Start()
		f.Close() // the child holds the socket now, the test process not
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
}

// evaluateN runs n evaluations of e and records their reason labels and
// /checks's verdicts.
func evaluateN(t *testing.T, e *Exporter, n int) *labelRecord {
	t.Helper()
	rec := newLabelRecord()
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ev, err := e.Evaluate(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		rec.add(t, ev)
	}
	return rec
}

// The ninth failing peer of TestReasonLabelIsOneSeriesPerDiagnosis: a port
// held by 30 processes at once (SO_REUSEPORT) outside every unit. The
// label names who holds it by process name, without PIDs, and a bounded
// number of them (issue 20: 1,555 bytes with every holder and its PID);
// /checks's reason names more of them, with their PIDs.
func TestReasonLabelNamesForeignOwnersBounded(t *testing.T) {
	m := systemdtest.Start(t)
	pWeb, pSquat := strconv.Itoa(testenv.FreePort(t)), strconv.Itoa(testenv.FreePort(t))
	runListenerUnit(t, m, "rsn-web", "tcp", "127.0.0.1:"+pWeb)
	port, _ := strconv.Atoi(pSquat)
	cfg := &config.Config{Checks: []config.Check{{Name: "squatted", Unit: "rsn-web.service", Ports: []config.Port{{Port: port, Proto: "tcp"}}}}}

	for _, tc := range []struct {
		name      string
		squatters []string
		want      string // in the label
	}{
		{"30 processes of one name", slices.Repeat([]string{"squat"}, 30), "is held by process squat while rsn-web.service is active/running"},
		{"30 processes of 30 names", func() (names []string) {
			for i := range 30 {
				names = append(names, fmt.Sprintf("squat-%02d", 29-i))
			}
			return names
		}(), "is held by process squat-00, process squat-01, process squat-02 and 27 others while rsn-web.service is active/running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reusePortSquatters(t, "127.0.0.1:"+pSquat, tc.squatters)
			e := newPortExporter(t, m, "netlink", cfg)
			systemdtest.WaitFor(t, 20*time.Second, "rsn-web.service to run", func() bool {
				return verdicts(t, e)["squatted"].Unit.ActiveState == "active"
			})
			rec := evaluateN(t, e, 30)
			// The premise: every squatter holds a listener of its own.
			v := verdicts(t, e)["squatted"]
			if v.Status != verdict.ForeignListener || len(v.Ports) != 1 || len(v.Ports[0].Seen) != len(tc.squatters) {
				t.Fatalf("%s (%s), %d listeners seen, want foreign_listener and %d", v.Status, v.Reason, len(v.Ports[0].Seen), len(tc.squatters))
			}
			rec.assertOneLabel(t, "squatted")
			for l := range rec.labels["squatted"] {
				t.Logf("label %q", l)
				if strings.Contains(l, "pid") || !strings.Contains(l, tc.want) {
					t.Errorf("label %q: want the holders' names without PIDs: %q", l, tc.want)
				}
			}
			for _, full := range rec.full["squatted"] {
				if !strings.Contains(full, "squat") || !strings.Contains(full, " (pid ") || len(full) > 1000 {
					t.Errorf("/checks's reason (%d bytes) %q: want the holders with their PIDs, bounded", len(full), full)
					break
				}
			}
		})
	}
}

// A crash loop enters a new state (a new StateChangeTimestamp) at every
// restart: /checks's reason says since when, the label does not, so a
// unit restarting every half second keeps one series per state it is seen
// in instead of one per restart.
func TestReasonLabelOfACrashLoopIsOnePerState(t *testing.T) {
	m := systemdtest.Start(t)
	m.Run(t, "rsn-crash", "-p", "Restart=always", "-p", "RestartSec=500ms", "-p", "StartLimitIntervalSec=0", "sh", "-c", "exit 1")
	cfg := &config.Config{Checks: []config.Check{{Name: "crash", Unit: "rsn-crash.service"}}}
	e := newPortExporter(t, m, "netlink", cfg)

	labels := map[string]map[string]bool{} // unit state -> reason labels
	since := map[string]bool{}
	systemdtest.WaitFor(t, 60*time.Second, "the check seen down after three different restarts", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ev, err := e.Evaluate(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		mfs, _ := ev.Families()
		v := ev.Verdicts[0]
		if v.Status == verdict.OK || v.Unit == nil || !v.Unit.Known {
			return false
		}
		state := v.Unit.ActiveState + "/" + v.Unit.SubState + "/" + v.Unit.Result
		if labels[state] == nil {
			labels[state] = map[string]bool{}
		}
		labels[state][reasonLabels(mfs)["crash"]] = true
		if v.Unit.Since == "" || !strings.Contains(v.Reason, " since "+v.Unit.Since) {
			t.Fatalf("/checks's reason %q does not say since when (%q)", v.Reason, v.Unit.Since)
		}
		since[v.Unit.Since] = true
		time.Sleep(50 * time.Millisecond)
		return len(since) >= 3
	})
	m.Systemctl(t, "stop", "rsn-crash.service")
	for state, ls := range labels {
		if len(ls) != 1 {
			t.Errorf("in state %s, %d reason labels over %d restarts, want 1: %q", state, len(ls), len(since), slices.Sorted(maps.Keys(ls)))
		}
		for l := range ls {
			if strings.Contains(l, " since ") {
				t.Errorf("label %q carries a time", l)
			}
		}
	}
}

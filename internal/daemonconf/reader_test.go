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

package daemonconf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// toy is a daemon of a made-up format, "port N" and "include FILE" lines,
// that counts its parses.
func toy(parses *int) *Daemon {
	d := &Daemon{Name: "toy", Units: []string{"toy.service", "toy@*.service"}, Binaries: []string{"toyd"}}
	d.Config = func(_ string, argv []string) string {
		if c, ok := FlagValue(argv, "-c"); ok {
			return c
		}
		return "/etc/toy/toy.conf"
	}
	var parse func(f *Files, file string, out *[]Listen) error
	parse = func(f *Files, file string, out *[]Listen) error {
		return f.Include(file, func(b []byte) error {
			for i, line := range strings.Split(string(b), "\n") {
				if p, ok := strings.CutPrefix(line, "port "); ok {
					n, err := strconv.Atoi(p)
					if err != nil {
						return Errorf(file, i+1, "port %q: %w", p, err)
					}
					*out = append(*out, Listen{Proto: "tcp", Port: n, File: file, Line: i + 1})
				}
				if inc, ok := strings.CutPrefix(line, "include "); ok {
					if err := parse(f, inc, out); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	d.Parse = func(f *Files, s Spec) ([]Listen, error) {
		*parses++
		var out []Listen
		err := parse(f, s.Config, &out)
		return out, err
	}
	return d
}

type toyHost struct {
	t      *testing.T
	dir    string
	r      *Reader
	parses int
	execs  int
	argv   []string
}

func newToyHost(t *testing.T, files map[string]string) *toyHost {
	h := &toyHost{t: t, dir: root(t, files)}
	h.r = &Reader{Root: h.dir, Now: time.Now, units: map[string]*unitEntry{}, Daemons: []*Daemon{toy(&h.parses)}}
	t.Cleanup(func() { h.r.Close() })
	return h
}

func (h *toyHost) exec(_ context.Context, unit string) (systemd.Exec, error) {
	h.execs++
	return systemd.Exec{Argv: h.argv}, nil
}

func (h *toyHost) write(path, content string, mtime time.Time) {
	h.t.Helper()
	full := filepath.Join(h.dir, path)
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Chtimes(full, mtime, mtime); err != nil {
		h.t.Fatal(err)
	}
}

func (h *toyHost) expect(u UnitState) Expectation {
	h.t.Helper()
	h.r.Begin()
	exp, ok := h.r.Expect(context.Background(), u, h.exec, false)
	if !ok {
		h.t.Fatalf("%s: not a daemon", u.Name)
	}
	return exp
}

func ports(exp Expectation) string {
	var s []string
	for _, l := range exp.Listens {
		s = append(s, fmt.Sprintf("%d@%s", l.Port, l.Where()))
	}
	return strings.Join(s, " ")
}

func TestReaderParsesOnlyAfterAChange(t *testing.T) {
	h := newToyHost(t, map[string]string{
		"/etc/toy/toy.conf":   "port 80\ninclude /etc/toy/conf.d/x\n",
		"/etc/toy/conf.d/x":   "port 81\n",
		"/etc/other/ignored":  "",
		"/etc/toy/alt.conf":   "port 90\n",
		"/etc/toy/conf.d/new": "",
	})
	u := UnitState{Name: "toy.service", Started: 1, MainPID: 10, Up: true}
	exp := h.expect(u)
	if got := ports(exp); got != "80@/etc/toy/toy.conf:1 81@/etc/toy/conf.d/x:1" || exp.Err != nil {
		t.Fatalf("expected %q (%v)", got, exp.Err)
	}
	for range 3 {
		h.expect(u)
	}
	if h.parses != 1 || h.execs != 1 {
		t.Errorf("4 evaluations without a change: %d parses, %d ExecStart reads; want 1, 1", h.parses, h.execs)
	}

	// An included file in another directory changes: parsed again.
	h.write("/etc/toy/conf.d/x", "port 82\n", time.Now())
	if got := ports(h.expect(u)); got != "80@/etc/toy/toy.conf:1 82@/etc/toy/conf.d/x:1" {
		t.Errorf("after editing the included file: %q", got)
	}
	if h.parses != 2 {
		t.Errorf("%d parses after one change, want 2", h.parses)
	}
	// A file replaced by a rename, as editors save.
	tmp := filepath.Join(h.dir, "etc/toy/.toy.conf.swp")
	if err := os.WriteFile(tmp, []byte("port 8080\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.dir, "etc/toy/toy.conf")); err != nil {
		t.Fatal(err)
	}
	if got := ports(h.expect(u)); got != "8080@/etc/toy/toy.conf:1" {
		t.Errorf("after a rename over the main file: %q", got)
	}

	// A new run whose ExecStart names another file: read again.
	h.argv = []string{"/usr/sbin/toyd", "-c", "/etc/toy/alt.conf"}
	exp = h.expect(UnitState{Name: "toy.service", Started: 2, MainPID: 11, Up: true})
	if got := ports(exp); got != "90@/etc/toy/alt.conf:1" || exp.File != "/etc/toy/alt.conf" {
		t.Errorf("a new run with -c alt.conf: %q from %s", got, exp.File)
	}
	if h.execs != 2 {
		t.Errorf("%d ExecStart reads after a restart, want 2", h.execs)
	}
}

func TestReaderReportsErrorsAndWatchesForTheFix(t *testing.T) {
	h := newToyHost(t, map[string]string{"/etc/toy/toy.conf": "port eighty\n"})
	u := UnitState{Name: "toy.service", Started: 1, Up: true}
	exp := h.expect(u)
	var le *LineError
	if !errors.As(exp.Err, &le) || le.File != "/etc/toy/toy.conf" || le.Line != 1 {
		t.Fatalf("a bad port: %v, want a LineError at /etc/toy/toy.conf:1", exp.Err)
	}
	h.write("/etc/toy/toy.conf", "port 80\n", time.Now())
	if exp := h.expect(u); exp.Err != nil || ports(exp) != "80@/etc/toy/toy.conf:1" {
		t.Errorf("after the fix: %q, %v", ports(exp), exp.Err)
	}

	missing := newToyHost(t, map[string]string{"/etc/toy/README": ""})
	if exp := missing.expect(u); !errors.Is(exp.Err, os.ErrNotExist) {
		t.Errorf("no config file: %v, want ErrNotExist", exp.Err)
	}
	missing.write("/etc/toy/toy.conf", "port 81\n", time.Now())
	if exp := missing.expect(u); exp.Err != nil || ports(exp) != "81@/etc/toy/toy.conf:1" {
		t.Errorf("once the file is created: %q, %v", ports(exp), exp.Err)
	}
}

// tick returns the time now, after the kernel's coarse clock, which
// stamps a file's ctime, has moved past the last write (a few ms): the
// edits and the applies of a test are then in order on the one clock.
func tick() time.Time {
	time.Sleep(20 * time.Millisecond)
	return time.Now()
}

func TestReaderNotApplied(t *testing.T) {
	h := newToyHost(t, map[string]string{"/etc/toy/toy.conf": ""})
	h.write("/etc/toy/toy.conf", "port 80\n", time.Now().Add(-time.Hour))
	u := UnitState{Name: "toy.service", Started: 1, Up: true, Applied: tick()}
	if h.expect(u).NotApplied {
		t.Fatal("a configuration older than the start: not applied")
	}
	// Its mode changed after the start (the README's grant is an ACL or
	// a group): its ctime moved, its content did not.
	tick()
	if err := os.Chmod(filepath.Join(h.dir, "etc/toy/toy.conf"), 0o640); err != nil {
		t.Fatal(err)
	}
	if h.expect(u).NotApplied {
		t.Error("a chmod after the start: not applied")
	}
	// A new exporter reading a file whose mode changed since the start.
	fresh := &Reader{Root: h.dir, Now: time.Now, units: map[string]*unitEntry{}, Daemons: h.r.Daemons}
	t.Cleanup(func() { fresh.Close() })
	fresh.Begin()
	if exp, _ := fresh.Expect(context.Background(), u, h.exec, false); exp.NotApplied {
		t.Error("first read of a file chmodded after the start: not applied")
	}
	// Edited after the start, not reloaded.
	tick()
	h.write("/etc/toy/toy.conf", "port 8080\n", time.Now())
	if exp := h.expect(u); !exp.NotApplied {
		t.Error("edited after the start: applied")
	} else if !exp.AppliedKnown || len(exp.Applied) != 1 || exp.Applied[0].Port != 80 || ports(exp) != "8080@/etc/toy/toy.conf:1" {
		t.Errorf("edited after the start: applied %v (known %v), configured %q; want 80 applied, 8080 configured", exp.Applied, exp.AppliedKnown, ports(exp))
	}
	// Down: it reads the file at its next start, nothing is pending.
	down := u
	down.Up = false
	if h.expect(down).NotApplied {
		t.Error("a unit that is down: not applied")
	}
	// The edit reverted (content as it was at the start), the file newer.
	h.write("/etc/toy/toy.conf", "port 80\n", time.Now())
	if h.expect(u).NotApplied {
		t.Error("edited back to what the daemon read: not applied")
	}
	// Put back with last week's mtime (cp -p) while the daemon runs another
	// configuration: its ctime says it changed now.
	h.write("/etc/toy/toy.conf", "port 8081\n", time.Now())
	u.Applied = tick()
	if h.expect(u).NotApplied {
		t.Error("edited and reloaded: not applied")
	}
	tick()
	h.write("/etc/toy/toy.conf", "port 80\n", time.Now().Add(-7*24*time.Hour))
	if !h.expect(u).NotApplied {
		t.Error("put back with an old mtime after the reload: applied")
	}
	// Reloaded after the edit.
	u.Applied = tick()
	if h.expect(u).NotApplied {
		t.Error("reloaded after the edit: not applied")
	}
	// Without the time of the last state change, nothing is said.
	tick()
	h.write("/etc/toy/toy.conf", "port 8082\n", time.Now())
	u.Applied = time.Time{}
	if h.expect(u).NotApplied {
		t.Error("no last state change known: not applied")
	}
	// First read without the unit's last state change (a zero-config
	// daemon, read by name from the second evaluation on), its start
	// after the file: what the file says is what the daemon read, so an
	// edit after is not applied, with the ports it holds known.
	first := newToyHost(t, map[string]string{"/etc/toy/toy.conf": ""})
	first.write("/etc/toy/toy.conf", "port 80\n", time.Now())
	startedAt := tick()
	if exp := first.expect(UnitState{Name: "toy.service", Started: 1, Up: true, StartedAt: startedAt}); exp.NotApplied {
		t.Error("no last state change known: not applied")
	}
	tick()
	first.write("/etc/toy/toy.conf", "port 8080\n", time.Now())
	if exp := first.expect(UnitState{Name: "toy.service", Started: 1, Up: true, StartedAt: startedAt, Applied: startedAt}); !exp.NotApplied || !exp.AppliedKnown || len(exp.Applied) != 1 || exp.Applied[0].Port != 80 {
		t.Errorf("edited after the first read: not applied %v, applied %v (known %v); want 80 known", exp.NotApplied, exp.Applied, exp.AppliedKnown)
	}
	// First seen after an edit: not applied, and what the daemon read is
	// not known.
	late := newToyHost(t, map[string]string{"/etc/toy/toy.conf": ""})
	started := tick()
	late.write("/etc/toy/toy.conf", "port 9090\n", time.Now())
	if exp := late.expect(UnitState{Name: "toy.service", Started: 1, Up: true, Applied: started}); !exp.NotApplied || exp.AppliedKnown {
		t.Errorf("first read after an edit: not applied %v, applied known %v; want true, false", exp.NotApplied, exp.AppliedKnown)
	}
}

func TestReaderKnowsAConfiguredUnitByItsExecutable(t *testing.T) {
	h := newToyHost(t, map[string]string{"/etc/toy/toy.conf": "port 80\n"})
	h.r.Begin()
	u := UnitState{Name: "frontend.service", Started: 1, Up: true}
	if _, ok := h.r.Expect(context.Background(), u, h.exec, false); ok || h.execs != 0 {
		t.Errorf("a learned unit of another name: a daemon (%v) or its ExecStart read (%d)", ok, h.execs)
	}
	h.argv = []string{"/opt/toy/bin/toyd", "--foreground"}
	exp, ok := h.r.Expect(context.Background(), UnitState{Name: "frontend.service", Started: 2, Up: true}, h.exec, true)
	if !ok || exp.Daemon != "toy" || ports(exp) != "80@/etc/toy/toy.conf:1" {
		t.Errorf("a configured unit running toyd: %v %+v", ok, exp)
	}
}

func TestReaderCapsItsUnits(t *testing.T) {
	h := newToyHost(t, map[string]string{"/etc/toy/toy.conf": "port 80\n"})
	for i := range maxUnits + 10 {
		h.expect(UnitState{Name: fmt.Sprintf("toy@%d.service", i), Started: 1, Up: true})
	}
	if n := len(h.r.units); n > maxUnits {
		t.Errorf("%d units kept, want at most %d", n, maxUnits)
	}
}

func TestArgvExpandsAsSystemdDoes(t *testing.T) {
	dir := root(t, map[string]string{"/etc/default/haproxy": "# comment\nEXTRAOPTS=\"-de -m 16\"\nCONFIG=/etc/haproxy/other.cfg\n"})
	got := Argv(&Files{Root: dir}, systemd.Exec{
		Argv:             []string{"/usr/sbin/haproxy", "-Ws", "-f", "$CONFIG", "-p", "${PIDFILE}", "$EXTRAOPTS", "$UNSET", "x${CONFIG}y"},
		Environment:      []string{"CONFIG=/etc/haproxy/haproxy.cfg", "PIDFILE=/run/haproxy.pid"},
		EnvironmentFiles: []systemd.EnvironmentFile{{Path: "/etc/default/haproxy", Optional: true}, {Path: "/etc/default/missing", Optional: true}},
	})
	want := []string{"/usr/sbin/haproxy", "-Ws", "-f", "/etc/haproxy/other.cfg", "-p", "/run/haproxy.pid", "-de", "-m", "16", "x/etc/haproxy/other.cfgy"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Argv:\n got %q\nwant %q", got, want)
	}
}

func TestReaderSettlesAfterAnApplyThatMovesSockets(t *testing.T) {
	h := newToyHost(t, map[string]string{"/etc/toy/toy.conf": ""})
	var now time.Time
	h.r.Now = func() time.Time { return now }
	h.write("/etc/toy/toy.conf", "port 80\n", time.Now())
	u := UnitState{Name: "toy.service", Started: 1, Up: true, Applied: tick()}
	now = u.Applied
	if exp := h.expect(u); exp.Settling {
		t.Fatal("the first configuration seen: settling")
	}
	// A comment edited and reloaded: the same sockets, nothing to settle.
	h.write("/etc/toy/toy.conf", "# hi\nport 80\n", time.Now())
	u.Applied = tick()
	now = u.Applied
	if exp := h.expect(u); exp.Settling || exp.NotApplied {
		t.Errorf("a comment reloaded: settling %v, not applied %v", exp.Settling, exp.NotApplied)
	}
	// The port moved and reloaded: for SettleWindow, the old sockets are
	// Previous.
	h.write("/etc/toy/toy.conf", "port 8080\nport 80\n", time.Now())
	u.Applied = tick()
	now = u.Applied.Add(time.Second)
	exp := h.expect(u)
	if !exp.Settling || len(exp.Previous) != 1 || exp.Previous[0].Port != 80 {
		t.Fatalf("moved and reloaded 1 s ago: settling %v, previous %v", exp.Settling, exp.Previous)
	}
	if got := Settled(exp.Listens, exp.Previous); len(got) != 1 || got[0].Port != 80 || got[0].Line != 2 {
		t.Errorf("settled %v, want 80 alone, from its new line 2", got)
	}
	now = u.Applied.Add(SettleWindow)
	if exp := h.expect(u); exp.Settling {
		t.Errorf("%s after the reload: still settling", SettleWindow)
	}
	// From no socket at all (HAProxy's default has no frontend) to one:
	// settling too, nothing to keep expecting meanwhile.
	h.write("/etc/toy/toy.conf", "# nothing\n", time.Now())
	u.Applied = tick()
	now = u.Applied
	h.expect(u)
	h.write("/etc/toy/toy.conf", "port 8404\n", time.Now())
	u.Applied = tick()
	now = u.Applied
	if exp := h.expect(u); !exp.Settling || len(Settled(exp.Listens, exp.Previous)) != 0 {
		t.Errorf("from no socket to 8404: settling %v, settled %v", exp.Settling, Settled(exp.Listens, exp.Previous))
	}
}

// A daemon that binds at start only (PostgreSQL's port): a reload applies
// no edit of its sockets, a restart does.
func TestReaderBindsAtStartOnly(t *testing.T) {
	h := newToyHost(t, map[string]string{"/etc/toy/toy.conf": ""})
	h.r.Daemons[0].BindsAtStart = true
	h.write("/etc/toy/toy.conf", "port 5432\n", time.Now())
	started := tick()
	u := UnitState{Name: "toy.service", Started: 1, Up: true, StartedAt: started, Applied: started}
	if h.expect(u).NotApplied {
		t.Fatal("as started: not applied")
	}
	tick()
	h.write("/etc/toy/toy.conf", "port 5433\n", time.Now())
	u.Applied = tick() // systemctl reload
	if exp := h.expect(u); !exp.NotApplied || !exp.AppliedKnown || exp.Applied[0].Port != 5432 {
		t.Errorf("edited and reloaded: not applied %v, applied %v; want 5432 still", exp.NotApplied, exp.Applied)
	}
	restarted := tick()
	u = UnitState{Name: "toy.service", Started: 2, Up: true, StartedAt: restarted, Applied: restarted}
	if exp := h.expect(u); exp.NotApplied || ports(exp) != "5433@/etc/toy/toy.conf:1" {
		t.Errorf("restarted: not applied %v, %q", exp.NotApplied, ports(exp))
	}
}

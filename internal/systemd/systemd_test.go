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
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

func anchored(expr string) *regexp.Regexp { return regexp.MustCompile("^(?:" + expr + ")$") }

var defaultInclude = anchored(`.+\.(service|socket)`)

func TestResolveSystemdEndpoint(t *testing.T) {
	env := map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		scope, address string
		want           Endpoint
		err            bool
	}{
		{"system", "", Endpoint{Path: "/run/dbus/system_bus_socket"}, false},
		{"user", "", Endpoint{Path: "/run/user/1000/bus"}, false},
		{"system", "/run/systemd/private", Endpoint{Path: "/run/systemd/private", Direct: true}, false},
		{"system", "unix:path=/run/systemd/private", Endpoint{Path: "/run/systemd/private", Direct: true}, false},
		{"system", "unix:path=/tmp/a%20b/bus,guid=123", Endpoint{Path: "/tmp/a b/bus"}, false},
		{"system", "unix:abstract=/tmp/dbus-x", Endpoint{Path: "/tmp/dbus-x", Abstract: true}, false},
		{"system", "tcp:host=localhost,port=1", Endpoint{}, true},
		{"system", "tcp:host=x;unix:path=/x/bus", Endpoint{Path: "/x/bus"}, false},
		{"nope", "", Endpoint{}, true},
	} {
		got, err := ResolveEndpoint(tc.scope, tc.address, getenv)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("(%q, %q): got %+v, %v; want %+v, error %v", tc.scope, tc.address, got, err, tc.want, tc.err)
		}
	}
	env = map[string]string{}
	if _, err := ResolveEndpoint("user", "", getenv); err == nil {
		t.Error("user scope without XDG_RUNTIME_DIR must be an error")
	}
	env = map[string]string{"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/custom/sock"}
	if got, _ := ResolveEndpoint("system", "", getenv); got.Path != "/custom/sock" {
		t.Errorf("DBUS_SYSTEM_BUS_ADDRESS ignored: %+v", got)
	}
}

func TestGlobsForRegexp(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`.+\.(service|socket)`, []string{"?*.service", "?*.socket"}},
		{`.+\.service`, []string{"?*.service"}},
		{`nginx\.service|redis-server\.service`, []string{"nginx.service", "redis-server.service"}},
		{`getty@.*\.service`, []string{"getty@*.service"}},
		{`.*`, []string{"*"}},
		{`[a-z]+\.service`, nil}, // a class: filter here, not in the manager
		{`foo\.service?`, nil},
		{`(?i)nginx\.service`, nil},
	} {
		got := globsForRegexp(anchored(tc.expr))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.expr, got, tc.want)
		}
	}
	if globsForRegexp(nil) != nil {
		t.Error("nil regexp")
	}
}

func TestUnitPathRoundTrip(t *testing.T) {
	for _, name := range []string{"nginx.service", `t-esc\x2dname.service`, "getty@tty1.service", "-.mount", "a_b.service"} {
		got, ok := unitNameFromPath(unitPath(name))
		if !ok || got != name {
			t.Errorf("%q -> %q -> %q", name, unitPath(name), got)
		}
	}
	if _, ok := unitNameFromPath("/org/freedesktop/systemd1"); ok {
		t.Error("the manager's path is not a unit")
	}
}

// What the manager sends is valid UTF-8 once read, however it came: names
// and states go into label values. systemd's own are ASCII; a name decoded
// from an object path's _xx escapes, or anything a bus peer sends, need
// not be.
func TestManagerTextIsCleanedWhereRead(t *testing.T) {
	long := strings.Repeat("a", 300) + ".service"
	var u Unit
	setUnitProps(&u, map[string]dbus.Variant{
		"LoadState": dbus.MakeVariant("loaded\xff"), "ActiveState": dbus.MakeVariant("\xfeactive"),
		"SubState": dbus.MakeVariant("run\xffning"), "Triggers": dbus.MakeVariant([]string{"\xff.service", long}),
	})
	setTypeProps(&u, map[string]dbus.Variant{
		"Result": dbus.MakeVariant(strings.Repeat("\xffx", 100)),
		"Listen": dbus.MakeVariant([][]any{{"Stream\xff", "127.0.0.1:80\xfe"}}),
	})
	statuses := []sdbus.UnitStatus{{Name: "\xff\xfeevil.service", LoadState: "loaded\xff", ActiveState: "a\xffctive", SubState: "\xff"}}
	cleanStatuses(statuses)
	fromPath, _ := unitNameFromPath("/org/freedesktop/systemd1/unit/_ff_feevil_2eservice")
	fromSignal, _ := signalName(&dbus.Signal{Body: []any{"\xff\xfeevil.service", dbus.ObjectPath("/")}})
	for _, tc := range []struct {
		name, got string
		max       int
	}{
		{"LoadState", u.LoadState, maxWord},
		{"ActiveState", u.ActiveState, maxWord},
		{"SubState", u.SubState, maxWord},
		{"Triggers[0]", u.Triggers[0], maxUnitName},
		{"Triggers[1] (too long)", u.Triggers[1], maxUnitName},
		{"Result (too long)", u.Result, maxWord},
		{"Listen type", u.Listen[0].Type, maxWord},
		{"Listen address", u.Listen[0].Address, maxListenAddress},
		{"a listing's name", statuses[0].Name, maxUnitName},
		{"a listing's LoadState", statuses[0].LoadState, maxWord},
		{"a listing's ActiveState", statuses[0].ActiveState, maxWord},
		{"a listing's SubState", statuses[0].SubState, maxWord},
		{"a name from an object path", fromPath, maxUnitName},
		{"a name from UnitNew", fromSignal, maxUnitName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !utf8.ValidString(tc.got) || len(tc.got) > tc.max {
				t.Errorf("%q: want valid UTF-8 of at most %d bytes", tc.got, tc.max)
			}
		})
	}
	if fromPath != "\uFFFDevil.service" || fromSignal != fromPath || statuses[0].Name != fromPath {
		t.Errorf("one name read three ways: %q, %q, %q; want %q each", fromPath, fromSignal, statuses[0].Name, "\uFFFDevil.service")
	}
	if u.ActiveState != "\uFFFDactive" {
		t.Errorf("ActiveState %q: the valid text is kept", u.ActiveState)
	}
}

func TestUnitUp(t *testing.T) {
	for state, want := range map[string]bool{"active": true, "reloading": true, "activating": false, "inactive": false, "failed": false, "deactivating": false, "": false} {
		if UnitUp(state) != want {
			t.Errorf("UnitUp(%q) = %v", state, !want)
		}
	}

}

func TestListenSpecAddrPort(t *testing.T) {
	for in, want := range map[string]string{"127.0.0.1:80": "127.0.0.1:80", "[::1]:443": "[::1]:443", "[::ffff:10.0.0.1]:1": "10.0.0.1:1"} {
		a, p, ok := ListenSpec{Address: in}.AddrPort()
		if !ok || netip.AddrPortFrom(a, p).String() != want {
			t.Errorf("%s: %v %d %v", in, a, p, ok)
		}
	}
	if a, p, ok := (ListenSpec{Address: "8080"}).AddrPort(); !ok || a.IsValid() || p != 8080 {
		t.Errorf("a bare port means every address: %v %d %v", a, p, ok)
	}
	if _, _, ok := (ListenSpec{Address: "/run/foo.sock"}).AddrPort(); ok {
		t.Error("a unix socket path is not an address")
	}
}

// What a unit's signals count, whatever order and words systemd uses: one
// failure per run that ended badly, named by its Result (systemd 252 goes
// failed, then auto-restart; others go straight to auto-restart), none for
// a clean stop, a first sighting or a restart systemd refuses at the start
// limit (that one marks the unit given up), and the maps of earlier
// snapshots never change.
func TestNoteTransition(t *testing.T) {
	type state struct {
		active, sub, result string
		enter               uint64 // ActiveEnterTimestamp
	}
	// The redis of issue 21 (port 99999, Restart=always, the default start
	// limit), as systemd 252 signals it: 5 failed starts, then the refused
	// restart, which keeps Result exit-code.
	failedStart := []state{{"activating", "start", "success", 0}, {"failed", "failed", "exit-code", 0}, {"activating", "auto-restart", "exit-code", 0}, {"inactive", "dead", "success", 0}}
	var redis []state
	for range 5 {
		redis = append(redis, failedStart...)
	}
	redis = append(redis[:len(redis)-1], state{"inactive", "dead", "exit-code", 0}, state{"failed", "failed", "exit-code", 0})
	for _, tc := range []struct {
		name         string
		steps        []state
		wantChanges  map[string]uint64
		wantFailures map[string]uint64
		wantGaveUp   bool
	}{
		{name: "first sighting counts nothing", steps: []state{{"active", "running", "", 0}},
			wantChanges: nil, wantFailures: nil},
		{name: "first sighting failed counts nothing", steps: []state{{"failed", "failed", "exit-code", 0}},
			wantChanges: nil, wantFailures: nil},
		{name: "restart by hand", steps: []state{{"active", "running", "success", 0}, {"deactivating", "stop-sigterm", "success", 0}, {"inactive", "dead", "success", 0}, {"activating", "start", "success", 0}, {"active", "running", "success", 0}},
			wantChanges: map[string]uint64{"deactivating": 1, "inactive": 1, "activating": 1, "active": 1}},
		{name: "crash, systemd 252: failed then auto-restart", steps: []state{{"active", "running", "success", 0}, {"failed", "failed", "signal", 0}, {"activating", "auto-restart", "signal", 0}, {"inactive", "dead", "success", 0}, {"active", "running", "success", 0}},
			wantChanges: map[string]uint64{"failed": 1, "activating": 1, "inactive": 1, "active": 1}, wantFailures: map[string]uint64{"signal": 1}},
		{name: "crash straight to auto-restart", steps: []state{{"active", "running", "success", 0}, {"activating", "auto-restart", "core-dump", 0}, {"activating", "start", "core-dump", 0}, {"active", "running", "success", 0}},
			wantChanges: map[string]uint64{"activating": 1, "active": 1}, wantFailures: map[string]uint64{"core-dump": 1}},
		{name: "killed by the OOM killer", steps: []state{{"active", "running", "success", 0}, {"failed", "failed", "oom-kill", 0}},
			wantChanges: map[string]uint64{"failed": 1}, wantFailures: map[string]uint64{"oom-kill": 1}},
		{name: "a restart systemd signalled as active to active: entered active again", steps: []state{{"active", "running", "success", 100}, {"active", "running", "success", 200}, {"active", "running", "success", 200}},
			wantChanges: map[string]uint64{"active": 1}},
		{name: "Restart=always after a clean exit is no failure", steps: []state{{"active", "running", "success", 0}, {"activating", "auto-restart", "success", 0}, {"active", "running", "success", 0}},
			wantChanges: map[string]uint64{"activating": 1, "active": 1}},
		{name: "five failed starts, then systemd 252 gives up keeping exit-code", steps: append([]state{{"inactive", "dead", "success", 0}}, redis...),
			wantChanges: map[string]uint64{"activating": 10, "failed": 6, "inactive": 5}, wantFailures: map[string]uint64{"exit-code": 5}, wantGaveUp: true},
		{name: "a newer systemd names the refused restart start-limit-hit", steps: []state{{"active", "running", "success", 0}, {"activating", "auto-restart", "exit-code", 0}, {"inactive", "dead", "exit-code", 0}, {"failed", "failed", "start-limit-hit", 0}},
			wantChanges: map[string]uint64{"activating": 1, "inactive": 1, "failed": 1}, wantFailures: map[string]uint64{"exit-code": 1, "start-limit-hit": 1}, wantGaveUp: true},
		{name: "given up, then started by hand and up", steps: []state{{"activating", "auto-restart", "exit-code", 0}, {"inactive", "dead", "exit-code", 0}, {"failed", "failed", "exit-code", 0}, {"activating", "start", "success", 0}, {"active", "running", "success", 0}},
			wantChanges: map[string]uint64{"inactive": 1, "failed": 1, "activating": 1, "active": 1}},
		{name: "a failure of a unit first seen waiting to restart is not ours", steps: []state{{"activating", "auto-restart", "signal", 0}, {"inactive", "dead", "signal", 0}, {"failed", "failed", "signal", 0}},
			wantChanges: map[string]uint64{"inactive": 1, "failed": 1}, wantGaveUp: true},
		{name: "failed in ExecStartPre", steps: []state{{"inactive", "dead", "success", 0}, {"activating", "start-pre", "success", 0}, {"failed", "failed", "exit-code", 0}},
			wantChanges: map[string]uint64{"activating": 1, "failed": 1}, wantFailures: map[string]uint64{"exit-code": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e unitEntry
			// What each step's snapshot held, and a copy taken then.
			var held, copies []map[string]uint64
			for _, st := range tc.steps {
				prevActive, prevEnter := e.ActiveState, e.ActiveEnterTimestamp
				e.track.result = st.result // the Service signal comes first
				e.ActiveState, e.SubState, e.ActiveEnterTimestamp = st.active, st.sub, st.enter
				e.noteTransition(prevActive, prevEnter)
				e.noteSignalled()
				held, copies = append(held, e.Failures), append(copies, maps.Clone(e.Failures))
			}
			if !maps.Equal(e.StateChanges, tc.wantChanges) || !maps.Equal(e.Failures, tc.wantFailures) || e.GaveUp != tc.wantGaveUp {
				t.Errorf("state changes %v failures %v gave up %v, want %v %v %v", e.StateChanges, e.Failures, e.GaveUp, tc.wantChanges, tc.wantFailures, tc.wantGaveUp)
			}
			for i := range held {
				if !maps.Equal(held[i], copies[i]) {
					t.Errorf("step %d: a map an earlier snapshot holds changed: %v, was %v", i, held[i], copies[i])
				}
			}
		})
	}
}

// Each state predicate holds for its own word of systemd's and for no
// other of the series the exporter knows.
func TestStatePredicates(t *testing.T) {
	for _, tc := range []struct {
		is    func(Unit) bool
		field func(*Unit) *string
		word  string
		all   []string
	}{
		{Unit.Loaded, func(u *Unit) *string { return &u.LoadState }, "loaded", LoadStates},
		{Unit.NotFound, func(u *Unit) *string { return &u.LoadState }, "not-found", LoadStates},
		{Unit.Active, func(u *Unit) *string { return &u.ActiveState }, "active", ActiveStates},
		{Unit.Inactive, func(u *Unit) *string { return &u.ActiveState }, "inactive", ActiveStates},
		{Unit.Activating, func(u *Unit) *string { return &u.ActiveState }, "activating", ActiveStates},
		{Unit.Failed, func(u *Unit) *string { return &u.ActiveState }, "failed", ActiveStates},
	} {
		for _, w := range append(slices.Clone(tc.all), "") {
			var u Unit
			*tc.field(&u) = w
			if got := tc.is(u); got != (w == tc.word) {
				t.Errorf("the %q predicate is %v for %q", tc.word, got, w)
			}
		}
	}
	for _, tc := range []struct {
		u                                 Unit
		up, failedResult, gaveUp, oneshot bool
	}{
		{u: Unit{ActiveState: "active", Result: "success"}, up: true},
		{u: Unit{ActiveState: "reloading"}, up: true},
		{u: Unit{ActiveState: "activating", SubState: "auto-restart", Result: "exit-code"}, failedResult: true},
		{u: Unit{ActiveState: "failed", Result: "start-limit-hit"}, failedResult: true, gaveUp: true},
		{u: Unit{ActiveState: "failed", Result: "exit-code", GaveUp: true}, failedResult: true, gaveUp: true},
		{u: Unit{ActiveState: "activating", SubState: "start", Type: "oneshot", Result: "success"}, oneshot: true},
		{u: Unit{ActiveState: "activating", SubState: "start", Type: "simple"}},
		{u: Unit{ActiveState: "inactive", SubState: "dead", Type: "oneshot"}},
	} {
		if tc.u.Up() != tc.up || tc.u.FailedResult() != tc.failedResult || tc.u.HitStartLimit() != tc.gaveUp || tc.u.OneshotRunning() != tc.oneshot {
			t.Errorf("%+v: up %v failed result %v hit start limit %v oneshot running %v, want %v %v %v %v", tc.u,
				tc.u.Up(), tc.u.FailedResult(), tc.u.HitStartLimit(), tc.u.OneshotRunning(), tc.up, tc.failedResult, tc.gaveUp, tc.oneshot)
		}
	}
}

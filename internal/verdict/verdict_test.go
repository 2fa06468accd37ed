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

package verdict

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/warden-exporter/warden_exporter/config"
)

func lst(proto, addr string, port uint16, v6only bool) Listener {
	a := netip.MustParseAddr(addr)
	return Listener{Proto: proto, Addr: a, Port: port, V6Only: v6only}
}

func TestPortMatches(t *testing.T) {
	v4Local := lst("tcp", "127.0.0.1", 80, false)
	v4Any := lst("tcp", "0.0.0.0", 80, false)
	v6Local := lst("tcp", "::1", 80, true)
	v6Dual := lst("tcp", "::", 80, false)
	v6Only := lst("tcp", "::", 80, true)
	v4Other := lst("tcp", "10.0.0.1", 80, false)
	udp := lst("udp", "0.0.0.0", 80, false)
	for _, tc := range []struct {
		name    string
		port    config.Port
		l       Listener
		matches bool
	}{
		{"any address, v4 local", config.Port{Port: 80, Proto: "tcp"}, v4Local, true},
		{"any address, v6 only", config.Port{Port: 80, Proto: "tcp"}, v6Only, true},
		{"other port", config.Port{Port: 81, Proto: "tcp"}, v4Any, false},
		{"other proto", config.Port{Port: 80, Proto: "tcp"}, udp, false},
		{"udp", config.Port{Port: 80, Proto: "udp"}, udp, true},
		{"0.0.0.0 wants a v4 wildcard", config.Port{Port: 80, Proto: "tcp", Address: "0.0.0.0"}, v4Any, true},
		{"0.0.0.0 is covered by dual-stack [::]", config.Port{Port: 80, Proto: "tcp", Address: "0.0.0.0"}, v6Dual, true},
		{"0.0.0.0 is not covered by v6-only [::]", config.Port{Port: 80, Proto: "tcp", Address: "0.0.0.0"}, v6Only, false},
		{"0.0.0.0 is not a specific bind", config.Port{Port: 80, Proto: "tcp", Address: "0.0.0.0"}, v4Local, false},
		{":: wants a v6 wildcard", config.Port{Port: 80, Proto: "tcp", Address: "::"}, v6Only, true},
		{":: dual-stack", config.Port{Port: 80, Proto: "tcp", Address: "::"}, v6Dual, true},
		{":: is not a v4 wildcard", config.Port{Port: 80, Proto: "tcp", Address: "::"}, v4Any, false},
		{":: is not ::1", config.Port{Port: 80, Proto: "tcp", Address: "::"}, v6Local, false},
		{"specific v4, exact", config.Port{Port: 80, Proto: "tcp", Address: "127.0.0.1"}, v4Local, true},
		{"specific v4, v4 wildcard covers", config.Port{Port: 80, Proto: "tcp", Address: "127.0.0.1"}, v4Any, true},
		{"specific v4, dual-stack covers", config.Port{Port: 80, Proto: "tcp", Address: "127.0.0.1"}, v6Dual, true},
		{"specific v4, v6-only does not", config.Port{Port: 80, Proto: "tcp", Address: "127.0.0.1"}, v6Only, false},
		{"specific v4, another address", config.Port{Port: 80, Proto: "tcp", Address: "127.0.0.1"}, v4Other, false},
		{"specific v6, exact", config.Port{Port: 80, Proto: "tcp", Address: "::1"}, v6Local, true},
		{"specific v6, v6 wildcard covers", config.Port{Port: 80, Proto: "tcp", Address: "::1"}, v6Only, true},
		{"specific v6, v4 wildcard does not", config.Port{Port: 80, Proto: "tcp", Address: "::1"}, v4Any, false},
		{"v4-mapped bind counts as v4", config.Port{Port: 80, Proto: "tcp", Address: "127.0.0.1"}, Listener{Proto: "tcp", Addr: netip.MustParseAddr("127.0.0.1"), Port: 80}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PortMatches(tc.port, tc.l); got != tc.matches {
				t.Errorf("PortMatches(%+v, %v) = %v", tc.port, tc.l.Addr, got)
			}
		})
	}
}

func TestJoinPortsOwnership(t *testing.T) {
	noTriggers := func(s string) []string { return []string{"web.service"} }
	p80 := config.Port{Port: 80, Proto: "tcp"}
	check := config.Check{Name: "web", Unit: "web.service", Ports: []config.Port{p80, {Port: 443, Proto: "tcp"}}}
	l80 := lst("tcp", "0.0.0.0", 80, false)
	l80b := lst("tcp", "::", 80, true)
	for _, tc := range []struct {
		name      string
		check     config.Check
		listeners []Listener
		owners    []Owner
		listening []bool
		owned     []Ownership
	}{
		{"owned", check, []Listener{l80}, []Owner{{Unit: "web.service"}}, []bool{true, false}, []Ownership{OwnedByUnit, OwnerUnknown}},
		{"foreign", check, []Listener{l80}, []Owner{{Unit: "other.service"}}, []bool{true, false}, []Ownership{OwnedByOther, OwnerUnknown}},
		{"unknown owner", check, []Listener{l80}, []Owner{{}}, []bool{true, false}, []Ownership{OwnerUnknown, OwnerUnknown}},
		{"one of two is ours", check, []Listener{l80, l80b}, []Owner{{Unit: "other.service"}, {Unit: "web.service"}}, []bool{true, false}, []Ownership{OwnedByUnit, OwnerUnknown}},
		{"foreign and unknown is not a verdict", check, []Listener{l80, l80b}, []Owner{{Unit: "other.service"}, {}}, []bool{true, false}, []Ownership{OwnerUnknown, OwnerUnknown}},
		{"socket unit activating the service", check, []Listener{l80}, []Owner{{Unit: "web.socket"}}, []bool{true, false}, []Ownership{OwnedByUnit, OwnerUnknown}},
		{"no unit: ownership not judged", config.Check{Name: "x", Ports: []config.Port{p80}}, []Listener{l80}, []Owner{{Unit: "other.service"}}, []bool{true}, []Ownership{OwnerUnknown}},
		{"no listeners", check, nil, nil, []bool{false, false}, []Ownership{OwnerUnknown, OwnerUnknown}},
		{"foreign cgroup, unit indexed", check, []Listener{l80}, []Owner{{Foreign: true}}, []bool{true, false}, []Ownership{OwnedByOther, OwnerUnknown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := joinPorts(tc.check, tc.listeners, indexListeners(tc.listeners), tc.owners, noTriggers, true)
			for i, r := range got {
				if r.listening != tc.listening[i] || r.owned != tc.owned[i] {
					t.Errorf("port %d: listening %v owned %v, want %v %v", r.port.Port, r.listening, r.owned, tc.listening[i], tc.owned[i])
				}
			}
		})
	}
}

func TestForeignNeedsAKnownUnit(t *testing.T) {
	check := config.Check{Name: "web", Unit: "web.service", Ports: []config.Port{{Port: 80, Proto: "tcp"}}}
	ls := []Listener{lst("tcp", "0.0.0.0", 80, false)}
	got := joinPorts(check, ls, indexListeners(ls), []Owner{{Foreign: true}}, nil, false)
	if got[0].owned != OwnerUnknown {
		t.Errorf("a foreign cgroup proves nothing when the unit's own cgroup is not indexed: %v", got[0].owned)
	}
}

func TestJudgeEveryStatusAndPrecedence(t *testing.T) {
	full := config.Check{Name: "web", Unit: "web.service",
		Ports:  []config.Port{{Port: 80, Proto: "tcp"}, {Port: 443, Proto: "tcp"}},
		Probes: []config.Probe{{Target: "127.0.0.1:80"}}}
	active := sdp(sd{Name: "web.service", LoadState: "loaded", ActiveState: "active", SubState: "running"})
	failed := sdp(sd{Name: "web.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed"})
	notFound := sdp(sd{})
	idle := sdp(sd{Name: "web.service", LoadState: "loaded", ActiveState: "inactive", SubState: "dead"})
	socketActive := sdv(sd{Name: "web.socket", LoadState: "loaded", ActiveState: "active", SubState: "listening"})
	socketFailed := sdv(sd{Name: "web-alt.socket", LoadState: "loaded", ActiveState: "failed", SubState: "failed"})
	socketStopped := sdv(sd{Name: "web.socket", LoadState: "loaded", ActiveState: "inactive", SubState: "dead"})
	listening := []portResult{{listening: true, owned: OwnedByUnit}, {listening: true, owned: OwnedByUnit}}
	oneDown := []portResult{{listening: true, owned: OwnedByUnit}, {listening: false}}
	foreign := []portResult{{listening: true, owned: OwnedByOther}, {listening: false}}
	unknownOwner := []portResult{{listening: true}, {listening: true}}
	probeOK := []ProbeResult{{Target: "127.0.0.1:80", Success: true}}
	probeBad := []ProbeResult{{Target: "127.0.0.1:80", Reason: "expect"}}
	for _, tc := range []struct {
		name  string
		check config.Check
		l     layers
		want  string
	}{
		{"all healthy", full, layers{unit: active, ports: listening, portsOK: true, probes: probeOK, probesOK: true}, "ok"},
		{"systemd failed", full, layers{ports: listening, portsOK: true, probes: probeOK, probesOK: true}, "unknown"},
		{"listeners failed", full, layers{unit: active, probes: probeOK, probesOK: true}, "unknown"},
		{"probes failed to run", full, layers{unit: active, ports: listening, portsOK: true}, "unknown"},
		{"unknown beats everything", full, layers{unit: failed, ports: foreign, portsOK: true, probes: probeBad}, "unknown"},
		{"foreign beats down", full, layers{unit: failed, ports: foreign, portsOK: true, probes: probeBad, probesOK: true}, "foreign_listener"},
		{"foreign while up", full, layers{unit: active, ports: foreign, portsOK: true, probes: probeOK, probesOK: true}, "foreign_listener"},
		{"service and port down", full, layers{unit: failed, ports: oneDown, portsOK: true, probes: probeBad, probesOK: true}, "service_and_port_down"},
		{"service down, ports still listening", full, layers{unit: failed, ports: unknownOwner, portsOK: true, probes: probeOK, probesOK: true}, "service_down"},
		{"port down while the service is up", full, layers{unit: active, ports: oneDown, portsOK: true, probes: probeOK, probesOK: true}, "port_down"},
		{"port down beats a failing probe", full, layers{unit: active, ports: oneDown, portsOK: true, probes: probeBad, probesOK: true}, "port_down"},
		{"probe failed", full, layers{unit: active, ports: listening, portsOK: true, probes: probeBad, probesOK: true}, "probe_failed"},
		{"unit not found, no ports", config.Check{Name: "x", Unit: "x.service"}, layers{unit: notFound, probesOK: true}, "service_down"},
		{"no unit: ports only, down", config.Check{Name: "x", Ports: full.Ports}, layers{ports: oneDown, portsOK: true, probesOK: true}, "port_down"},
		{"no unit: ports only, systemd failing does not matter", config.Check{Name: "x", Ports: full.Ports}, layers{ports: listening, portsOK: true, probesOK: true}, "ok"},
		{"probes only", config.Check{Name: "x", Probes: full.Probes}, layers{probes: probeBad, probesOK: true}, "probe_failed"},
		{"unit only, up", config.Check{Name: "x", Unit: "web.service"}, layers{unit: active, probesOK: true}, "ok"},
		{"reloading is up", config.Check{Name: "x", Unit: "web.service"}, layers{unit: sdp(sd{LoadState: "loaded", ActiveState: "reloading"}), probesOK: true}, "ok"},
		{"auto-restart is down", config.Check{Name: "x", Unit: "web.service"}, layers{unit: sdp(sd{LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart"}), probesOK: true}, "service_down"},
		{"idle, socket activated", full, layers{unit: idle, sockets: []Unit{socketActive}, ports: listening, portsOK: true, probes: probeOK, probesOK: true}, "ok"},
		{"idle, socket activated, no ports expected", config.Check{Name: "x", Unit: "web.service"}, layers{unit: idle, sockets: []Unit{socketActive}, probesOK: true}, "ok"},
		{"idle, socket activated, one of two sockets active", full, layers{unit: idle, sockets: []Unit{socketFailed, socketActive}, ports: listening, portsOK: true, probesOK: true, probes: probeOK}, "ok"},
		{"idle, socket activated, a probe fails", full, layers{unit: idle, sockets: []Unit{socketActive}, ports: listening, portsOK: true, probes: probeBad, probesOK: true}, "probe_failed"},
		{"idle, socket unit failed", full, layers{unit: idle, sockets: []Unit{socketFailed}, ports: oneDown, portsOK: true, probes: probeOK, probesOK: true}, "service_and_port_down"},
		{"idle, socket unit stopped, ports gone", full, layers{unit: idle, sockets: []Unit{socketStopped}, ports: []portResult{{}, {}}, portsOK: true, probes: probeOK, probesOK: true}, "service_and_port_down"},
		{"idle, socket active but a port not listening", full, layers{unit: idle, sockets: []Unit{socketActive}, ports: oneDown, portsOK: true, probes: probeOK, probesOK: true}, "service_and_port_down"},
		{"idle, socket active, port held by a stranger", full, layers{unit: idle, sockets: []Unit{socketActive}, ports: foreign, portsOK: true, probes: probeOK, probesOK: true}, "foreign_listener"},
		{"idle, socket active, listeners unread", full, layers{unit: idle, sockets: []Unit{socketActive}, probes: probeOK, probesOK: true}, "unknown"},
		{"failed after activation is down", full, layers{unit: failed, sockets: []Unit{socketActive}, ports: listening, portsOK: true, probes: probeOK, probesOK: true}, "service_down"},
		{"inactive without a socket unit is down", full, layers{unit: idle, ports: listening, portsOK: true, probes: probeOK, probesOK: true}, "service_down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := judge(tc.check, false, tc.l)
			if string(v.Status) != tc.want {
				t.Errorf("status %s (%s), want %s", v.Status, v.Reason, tc.want)
			}
			if v.Reason == "" {
				t.Error("no reason")
			}
		})
	}
	idleOK := judge(full, false, layers{unit: idle, sockets: []Unit{socketActive}, ports: listening, portsOK: true, probes: probeOK, probesOK: true})
	if idleOK.Unit.SocketActivated != "web.socket" || !idleOK.Unit.Up || !strings.Contains(idleOK.Reason, "idle, socket activated by web.socket") {
		t.Errorf("idle socket-activated verdict: %+v %q", idleOK.Unit, idleOK.Reason)
	}
	v := judge(full, false, layers{unit: failed, ports: oneDown, portsOK: true, probes: probeBad, probesOK: true})
	if v.Reason != "web.service is failed/failed, and nothing listens on tcp *:443" {
		t.Errorf("reason: %q", v.Reason)
	}
	if v.Unit == nil || v.Unit.Up || len(v.Ports) != 2 || v.Ports[1].Listening || v.Probes[0].Reason != "expect" {
		t.Errorf("verdict details: %+v", v)
	}
}

// The reason carries the diagnosis an operator acts on: systemd's Result,
// who holds a foreign port, where the unit listens now, what the probe's
// peer said.
func TestJudgeReasonsCarryTheDiagnosis(t *testing.T) {
	web := config.Check{Name: "web", Unit: "nginx.service", Ports: []config.Port{{Port: 80, Proto: "tcp"}}, Probes: []config.Probe{{Target: "127.0.0.1:6379"}}}
	active := sdp(sd{Name: "nginx.service", LoadState: "loaded", ActiveState: "active", SubState: "running"})
	stopped := sdp(sd{Name: "nginx.service", LoadState: "loaded", ActiveState: "inactive", SubState: "dead"})
	failed := sdp(sd{Name: "nginx.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "exit-code"})
	// systemd 252 at the start limit: Result stays exit-code; the cache saw
	// the restart refused, the scrape read the unit's limit.
	gaveUp := *failed
	gaveUp.GaveUp, gaveUp.StartLimitBurst, gaveUp.StartLimitIntervalUSec = true, 5, 90_000_000
	refused := *failed
	refused.Result, refused.GaveUp = "start-limit-hit", true // what the collector reads in start-limit-hit
	notUp := gaveUp
	notUp.ActiveState, notUp.SubState, notUp.GaveUp, notUp.Failed = "activating", "auto-restart", false, false
	failedSince := *failed
	failedSince.Since = time.Date(2026, 11, 30, 14, 3, 12, 0, time.UTC)
	ok := []ProbeResult{{Target: "127.0.0.1:6379", Success: true}}
	for _, tc := range []struct {
		name        string
		l           layers
		want, label string // label "": the reason
	}{
		{"failed, with systemd's result", layers{unit: failed, ports: []portResult{{}}, portsOK: true, probes: ok, probesOK: true},
			"nginx.service is failed/failed (result exit-code), and nothing listens on tcp *:80", ""},
		{"failed, and since when (an absolute time); the label says no time", layers{unit: &failedSince, ports: []portResult{{listening: true, owned: OwnedByUnit}}, portsOK: true, probes: ok, probesOK: true},
			"nginx.service is failed/failed (result exit-code) since 2026-11-30T14:03:12Z", "nginx.service is failed/failed (result exit-code)"},
		{"systemd gave up at the unit's start limit, keeping exit-code", layers{unit: &gaveUp, ports: []portResult{{}}, portsOK: true, probes: ok, probesOK: true},
			"nginx.service is failed/failed (result exit-code), systemd gave up (start limit 5 in 1min 30s), and nothing listens on tcp *:80", ""},
		{"a start refused at a limit not read", layers{unit: &refused, ports: []portResult{{listening: true, owned: OwnedByUnit}}, portsOK: true, probes: ok, probesOK: true},
			"nginx.service is failed/failed (result start-limit-hit), systemd gave up (restart refused)", ""},
		{"not given up while it is to be restarted", layers{unit: &notUp, ports: []portResult{{}}, portsOK: true, probes: ok, probesOK: true},
			"nginx.service is activating/auto-restart, and nothing listens on tcp *:80", ""},
		{"moved: where it listens now", layers{unit: active, ports: []portResult{{}}, portsOK: true, probes: ok, probesOK: true,
			unitListens: []string{"tcp 0.0.0.0:8080", "tcp [::]:8080"}},
			"nothing listens on tcp *:80 while nginx.service is active/running; nginx.service listens on tcp 0.0.0.0:8080, tcp [::]:8080", ""},
		{"a stranger on the port, named with its pid; the label without", layers{unit: stopped, ports: []portResult{{listening: true, owned: OwnedByOther}}, portsOK: true,
			portsSeen: [][]SeenListener{{{Address: "0.0.0.0:80", Owner: "nc (pid 4242) of uid 0 (root) in cgroup /user.slice/user-0.slice/session-3.scope, outside every known unit",
				Process: "nc", PID: 4242, UID: new(uint32), User: "root", Cgroup: "/user.slice/user-0.slice/session-3.scope"}}}, probes: ok, probesOK: true},
			"tcp *:80 is held by nc (pid 4242) of uid 0 (root) in cgroup /user.slice/user-0.slice/session-3.scope, outside every known unit while nginx.service is inactive/dead",
			"tcp *:80 is held by process nc while nginx.service is inactive/dead"},
		{"a stranger whose process cannot be read: its user and cgroup, in the label too", layers{unit: stopped, ports: []portResult{{listening: true, owned: OwnedByOther}}, portsOK: true,
			portsSeen: [][]SeenListener{{{Address: "0.0.0.0:80", Owner: "a process of uid 0 (root) in cgroup /user.slice/user-0.slice/session-3.scope, outside every known unit",
				UID: new(uint32), User: "root", Cgroup: "/user.slice/user-0.slice/session-3.scope"}}}, probes: ok, probesOK: true},
			"tcp *:80 is held by a process of uid 0 (root) in cgroup /user.slice/user-0.slice/session-3.scope, outside every known unit while nginx.service is inactive/dead",
			"tcp *:80 is held by a process of uid 0 (root) in cgroup /user.slice/user-0.slice/session-3.scope while nginx.service is inactive/dead"},
		{"a stranger unit", layers{unit: stopped, ports: []portResult{{listening: true, owned: OwnedByOther}}, portsOK: true,
			portsSeen: [][]SeenListener{{{Address: "0.0.0.0:80", Owner: "stranger.service"}}}, probes: ok, probesOK: true},
			"tcp *:80 is held by stranger.service while nginx.service is inactive/dead", ""},
		{"the probe's peer said why; the label says what was expected", layers{unit: active, ports: []portResult{{listening: true, owned: OwnedByUnit}}, portsOK: true, probesOK: true,
			probes: []ProbeResult{{Target: "127.0.0.1:6379", Reason: "expect", Diagnosis: `expect (step 1: "^\\+PONG")`,
				Error: `step 1 (expect "^\\+PONG"): connection closed, got "-NOAUTH Authentication required.\r\n"`}}},
			`probe of 127.0.0.1:6379 (expect) failed: step 1 (expect "^\\+PONG"): connection closed, got "-NOAUTH Authentication required.\r\n"`,
			`probe of 127.0.0.1:6379 failed: expect (step 1: "^\\+PONG")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := judge(web, false, tc.l)
			if v.Reason != tc.want {
				t.Errorf("\n got %q\nwant %q", v.Reason, tc.want)
			}
			if label := cmp.Or(tc.label, tc.want); v.Diagnosis != label {
				t.Errorf("label\n got %q\nwant %q", v.Diagnosis, label)
			}
		})
	}
	long := strings.Repeat("é", 200)
	v := judge(config.Check{Name: "x", Probes: web.Probes}, false, layers{probesOK: true, probes: []ProbeResult{{Target: "127.0.0.1:6379", Reason: "expect", Error: long}}})
	if len(v.Reason) > 200 || !utf8.ValidString(v.Reason) || !strings.Contains(v.Reason, "…") {
		t.Errorf("a long error is clipped on a rune boundary: %d bytes %q", len(v.Reason), v.Reason)
	}
}

// Evaluate joins what one evaluation observed: the host's listeners and
// their owners, a unit's own network namespace (or its absence: unread),
// the process behind a foreign listener, and which units the owner index
// knows. (Which listeners' holders a verdict names is the collector's to
// find before judging: TestUnownedListenersOnTheChecksPortsAreFoundBeforeJudging.)
func TestEvaluateJoinsTheInput(t *testing.T) {
	up := func(name string) Unit {
		return sdv(sd{Name: name, LoadState: "loaded", ActiveState: "active", SubState: "running"})
	}
	stranger := lst("tcp", "0.0.0.0", 5432, false)
	stranger.Inode = 77
	rootSession := lst("tcp", "0.0.0.0", 6379, false) // root's, in a login session: its fds unreadable
	rootSession.Inode, rootSession.UID = 78, 0
	unknown := lst("tcp", "0.0.0.0", 9000, false) // no cgroup id (procfs): owner unknown
	unknown.Inode, unknown.UID = 79, 1000
	snap := &Input{
		Units: unitsOf(up("web.service"), up("db.service"), up("ns.service"), up("gone-ns.service"), up("redis.service"), up("app.service")),
		Host: NewNamespace(
			[]Listener{lst("tcp", "0.0.0.0", 80, false), stranger, rootSession, unknown},
			[]Owner{{Unit: "web.service"}, {Foreign: true}, {Foreign: true}, {}}),
		UnitNamespaces: map[string]*Namespace{
			"ns.service": NewNamespace([]Listener{lst("tcp", "127.0.0.1", 8080, false)}, []Owner{{Unit: "ns.service"}}),
		},
		KnownUnits: map[string]bool{"web.service": true, "db.service": true, "ns.service": true, "redis.service": true},
		Strangers: map[uint64]Stranger{
			77: {User: "root", Cgroup: "/user.slice/user-0.slice/session-3.scope", Process: "nc", PID: 4242},
			78: {User: "root", Cgroup: "/user.slice/user-0.slice/session-3.scope"},
			79: {User: "ann"},
		},
		ProbesRead: true,
	}
	port := func(p int) []config.Port { return []config.Port{{Proto: "tcp", Port: p}} }
	checks := []config.Check{
		{Name: "web", Unit: "web.service", Ports: port(80)},
		{Name: "db", Unit: "db.service", Ports: port(5432)},
		{Name: "ns", Unit: "ns.service", Ports: port(8080), Netns: "unit"},
		{Name: "gone-ns", Unit: "gone-ns.service", Ports: port(8080), Netns: "unit"},
		{Name: "learned", Unit: "web.service", Ports: port(80)},
		{Name: "redis", Unit: "redis.service", Ports: port(6379)},
		{Name: "app", Unit: "app.service", Ports: port(9000)},
	}
	vs := Evaluate(checks, map[string]bool{"learned": true}, snap)
	for _, tc := range []struct {
		check         string
		status        Status
		reason, label string // label "": the reason
		implicit      bool
	}{
		{check: "web", status: OK, reason: "every layer is healthy"},
		{check: "db", status: ForeignListener, reason: "tcp *:5432 is held by nc (pid 4242) of uid 0 (root) in cgroup /user.slice/user-0.slice/session-3.scope, outside every known unit while db.service is active/running",
			label: "tcp *:5432 is held by process nc while db.service is active/running"},
		{check: "redis", status: ForeignListener, reason: "tcp *:6379 is held by a process of uid 0 (root) in cgroup /user.slice/user-0.slice/session-3.scope, outside every known unit while redis.service is active/running",
			label: "tcp *:6379 is held by a process of uid 0 (root) in cgroup /user.slice/user-0.slice/session-3.scope while redis.service is active/running"},
		{check: "app", status: OK, reason: "every layer is healthy"}, // an owner not known is not foreign
		{check: "ns", status: OK, reason: "every layer is healthy"},
		{check: "gone-ns", status: Unknown, reason: "could not read: listeners"},
		{check: "learned", status: OK, reason: "every layer is healthy", implicit: true},
	} {
		t.Run(tc.check, func(t *testing.T) {
			i := slices.IndexFunc(vs, func(v Verdict) bool { return v.Check == tc.check })
			if i < 0 {
				t.Fatalf("no verdict in %+v", vs)
			}
			label := cmp.Or(tc.label, tc.reason)
			if tc.check == "app" {
				seen := vs[i].Ports[0].Seen[0]
				if seen.Owner != "" || seen.UID == nil || *seen.UID != 1000 || seen.User != "ann" || seen.Cgroup != "" {
					t.Errorf("a listener of unknown owner is seen as %+v, want no owner, uid 1000 (ann) and no cgroup", seen)
				}
			}
			if v := vs[i]; v.Status != tc.status || v.Reason != tc.reason || v.Diagnosis != label || v.Implicit != tc.implicit {
				t.Errorf("got %s %q (label %q) implicit %v, want %s %q (label %q) implicit %v", v.Status, v.Reason, v.Diagnosis, v.Implicit, tc.status, tc.reason, label, tc.implicit)
			}
		})
	}
}

// The diagnosis is a label value: every part of it bounded (owners,
// addresses, the expect pattern) and the whole at most MaxDiagnosis bytes
// of valid UTF-8, whatever the host's names; the reason names more.
func TestDiagnosisIsBounded(t *testing.T) {
	longUnit := strings.Repeat("é", 150) + ".service" // systemd allows 255 bytes
	check := func(unit string) config.Check {
		return config.Check{Name: "c", Unit: unit, Ports: []config.Port{{Port: 80, Proto: "tcp"}}}
	}
	unit := func(name string) *Unit {
		return sdp(sd{Name: name, LoadState: "loaded", ActiveState: "active", SubState: "running"})
	}
	held := func(owners ...SeenListener) layers {
		return layers{unit: unit("web.service"), ports: []portResult{{listening: true, owned: OwnedByOther}}, portsOK: true, portsSeen: [][]SeenListener{owners}}
	}
	var units, procs []SeenListener
	for i := range 30 {
		units = append(units, SeenListener{Owner: fmt.Sprintf("squat-%02d.service", i)})
		procs = append(procs, SeenListener{Owner: fmt.Sprintf("nc (pid %d) of uid 0, outside every known unit", 1000+i), Process: "nc", PID: 1000 + i, UID: new(uint32)})
	}
	for _, tc := range []struct {
		name        string
		c           config.Check
		l           layers
		label       string // want; "" to check the bounds only
		reasonHas   string
		reasonLacks string
	}{
		{"30 units on the port: three named", check("web.service"), held(units...),
			"tcp *:80 is held by squat-00.service, squat-01.service, squat-02.service and 27 others while web.service is active/running",
			"squat-07.service and 22 more", "squat-08"},
		{"30 processes of one name: one, without PIDs", check("web.service"), held(procs...),
			"tcp *:80 is held by process nc while web.service is active/running", "nc (pid 1000)", "nc (pid 1008)"},
		{"where the unit listens now: two addresses", check("web.service"),
			layers{unit: unit("web.service"), ports: []portResult{{}}, portsOK: true, unitListens: []string{"tcp 0.0.0.0:81", "tcp 0.0.0.0:82", "tcp 0.0.0.0:83", "tcp 0.0.0.0:84", "tcp 0.0.0.0:85"}},
			"nothing listens on tcp *:80 while web.service is active/running; web.service listens on tcp 0.0.0.0:81, tcp 0.0.0.0:82 and 3 more",
			"tcp 0.0.0.0:84 and 1 more", ""},
		{"a unit name of 300 bytes: clipped on a rune boundary", check(longUnit), layers{unit: unit(longUnit), ports: []portResult{{}}, portsOK: true, unitListens: []string{"tcp 0.0.0.0:81"}},
			"", "tcp 0.0.0.0:81", ""},
		{"a stranger in a deep cgroup: its tail", check("web.service"), held(SeenListener{Owner: "x", UID: new(uint32), User: "root",
			Cgroup: "/" + strings.Repeat("a.slice/", 30) + "session-3.scope"}),
			"tcp *:80 is held by a process of uid 0 (root) in cgroup …/a.slice/a.slice/a.slice/a.slice/a.slice/a.slice/a.slice/a.slice/a.slice/a.slice/session-3.scope while web.service is active/running", "", ""},
		{"a process name that is not UTF-8", check("web.service"), held(SeenListener{Owner: "\xff\xfeevil (pid 7), outside every known unit", Process: "\xff\xfeevil", PID: 7, UID: new(uint32)}),
			"tcp *:80 is held by process \uFFFDevil while web.service is active/running", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := judge(tc.c, false, tc.l)
			if len(v.Diagnosis) > MaxDiagnosis || !utf8.ValidString(v.Diagnosis) {
				t.Errorf("label of %d bytes (valid UTF-8 %v), want ≤ %d: %q", len(v.Diagnosis), utf8.ValidString(v.Diagnosis), MaxDiagnosis, v.Diagnosis)
			}
			if tc.label != "" && v.Diagnosis != tc.label {
				t.Errorf("label\n got %q\nwant %q", v.Diagnosis, tc.label)
			}
			if !strings.Contains(v.Reason, tc.reasonHas) || tc.reasonLacks != "" && strings.Contains(v.Reason, tc.reasonLacks) {
				t.Errorf("reason %q: want %q in it and not %q", v.Reason, tc.reasonHas, tc.reasonLacks)
			}
		})
	}
}

// A timer's job and a unit whose ports vary, judged from the facts the
// systemd layer gives (Type, TriggeredBy) and the check discovery makes
// (AnyPort).
func TestTimerJobsAndVaryingPorts(t *testing.T) {
	job := func(active, sub, result string) Unit {
		return sdv(sd{Name: "job.service", LoadState: "loaded", ActiveState: active, SubState: sub, Result: result,
			Type: "oneshot", TriggeredBy: []string{"job.timer"}})
	}
	p8080 := config.Port{Port: 8080, Proto: "tcp"}
	anyTCP := config.Port{Port: AnyPort, Proto: "tcp"}
	for _, tc := range []struct {
		name      string
		unit      Unit
		timer     *Unit // the timer, when it is watched
		port      config.Port
		listen    []Listener
		owners    []Owner
		want      Status
		up        bool
		wantPort  bool // the port's Listening
		between   bool // the port's BetweenRuns
		inReason  string
		timerIdle string
	}{
		{name: "running oneshot, listening", unit: job("activating", "start", "success"), port: p8080,
			listen: []Listener{lst("tcp", "0.0.0.0", 8080, false)}, owners: []Owner{{Unit: "job.service"}},
			want: OK, up: true, wantPort: true, inReason: "job.service is a oneshot job, running"},
		// The watch judges at each state change: a run is activating
		// before its process binds the port, and after it closed it.
		{name: "running oneshot, not listening yet: its port is not required", unit: job("activating", "start", "success"), port: p8080,
			want: OK, up: true, inReason: "job.service is a oneshot job, running, started by job.timer: its ports are not required"},
		{name: "running oneshot, a stranger on its port", unit: job("activating", "start", "success"), port: p8080,
			listen: []Listener{lst("tcp", "0.0.0.0", 8080, false)}, owners: []Owner{{Unit: "other.service"}},
			want: ForeignListener, up: true, wantPort: true},
		{name: "a oneshot no timer starts, running and not listening: port_down", unit: sdv(sd{Name: "job.service", LoadState: "loaded", ActiveState: "activating", SubState: "start", Result: "success", Type: "oneshot"}), port: p8080,
			want: PortDown, up: true, inReason: "job.service is a oneshot job, running"},
		{name: "oneshot waiting to restart is down", unit: job("activating", "auto-restart", "exit-code"), port: p8080,
			want: ServiceAndPortDown},
		{name: "a simple service activating is down", unit: sdv(sd{Name: "job.service", LoadState: "loaded", ActiveState: "activating", SubState: "start", Type: "simple"}), port: p8080,
			want: ServiceAndPortDown},
		{name: "between runs: up, no port expected", unit: job("inactive", "dead", "success"), port: p8080,
			want: OK, up: true, between: true, timerIdle: "job.timer", inReason: "idle between runs of job.timer"},
		{name: "between runs, the timer watched and active", unit: job("inactive", "dead", "success"), timer: sdp(sd{Name: "job.timer", LoadState: "loaded", ActiveState: "active"}), port: p8080,
			want: OK, up: true, between: true, timerIdle: "job.timer"},
		{name: "between runs, the timer watched and stopped: down", unit: job("inactive", "dead", "success"), timer: sdp(sd{Name: "job.timer", LoadState: "loaded", ActiveState: "inactive"}), port: p8080,
			want: ServiceAndPortDown},
		{name: "between runs, a stranger on the port", unit: job("inactive", "dead", "success"), port: p8080,
			listen: []Listener{lst("tcp", "0.0.0.0", 8080, false)}, owners: []Owner{{Unit: "other.service"}},
			want: ForeignListener, up: true, wantPort: true, between: true, timerIdle: "job.timer"},
		{name: "the last run failed: down", unit: job("failed", "failed", "exit-code"), port: p8080,
			want: ServiceAndPortDown},
		{name: "no timer: inactive is down", unit: sdv(sd{Name: "job.service", LoadState: "loaded", ActiveState: "inactive", SubState: "dead", Result: "success", Type: "oneshot"}), port: p8080,
			want: ServiceAndPortDown},
		{name: "any port: the unit's own", unit: sdv(sd{Name: "job.service", LoadState: "loaded", ActiveState: "active", SubState: "running"}), port: anyTCP,
			listen: []Listener{lst("tcp", "127.0.0.1", 23952, false)}, owners: []Owner{{Unit: "job.service"}},
			want: OK, up: true, wantPort: true, inReason: "its ports vary at each start: any tcp port of its own is expected"},
		{name: "any port: another unit's is not", unit: sdv(sd{Name: "job.service", LoadState: "loaded", ActiveState: "active", SubState: "running"}), port: anyTCP,
			listen: []Listener{lst("tcp", "127.0.0.1", 23952, false), lst("udp", "127.0.0.1", 24261, false)}, owners: []Owner{{Unit: "other.service"}, {Unit: "job.service"}},
			want: PortDown, up: true, inReason: "nothing listens on a tcp port (any: its ports vary at each start)"},
		{name: "any port: an owner not known may be the unit's", unit: sdv(sd{Name: "job.service", LoadState: "loaded", ActiveState: "active", SubState: "running"}), port: anyTCP,
			listen: []Listener{lst("tcp", "127.0.0.1", 23952, false)}, owners: []Owner{{}},
			want: OK, up: true, wantPort: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			units := []Unit{tc.unit}
			if tc.timer != nil {
				units = append(units, *tc.timer)
			}
			c := config.Check{Name: "job", Unit: "job.service", Ports: []config.Port{tc.port}}
			s := &Input{Units: unitsOf(units...), Host: NewNamespace(tc.listen, tc.owners), KnownUnits: map[string]bool{"job.service": true}, ProbesRead: true}
			v := Evaluate([]config.Check{c}, nil, s)[0]
			if v.Status != tc.want || v.Unit.Up != tc.up || v.Unit.TimerIdle != tc.timerIdle {
				t.Fatalf("%s (%s), unit %+v; want %s, up %v, timer idle %q", v.Status, v.Reason, v.Unit, tc.want, tc.up, tc.timerIdle)
			}
			if p := v.Ports[0]; p.Listening != tc.wantPort || p.BetweenRuns != tc.between || p.AnyPort != (tc.port.Port == AnyPort) {
				t.Errorf("port %+v: want listening %v, between runs %v", p, tc.wantPort, tc.between)
			}
			if !strings.Contains(v.Reason, tc.inReason) || !strings.Contains(v.Diagnosis, tc.inReason) {
				t.Errorf("reason %q, diagnosis %q: want %q", v.Reason, v.Diagnosis, tc.inReason)
			}
		})
	}
}

// sd is a unit as systemd's words give it; sdv and sdp turn it into the
// judge's Unit, with the facts the collector reads in those words
// (collector/judgeinput.go, from systemd.Unit's predicates).
type sd struct {
	Name, LoadState, ActiveState, SubState, Result, Type string
	StateChangeTimestamp                                 uint64
	TriggeredBy                                          []string
}

func sdv(u sd) Unit {
	j := Unit{Name: u.Name, LoadState: u.LoadState, ActiveState: u.ActiveState, SubState: u.SubState, TriggeredBy: u.TriggeredBy,
		Loaded: u.LoadState == "loaded", Up: u.ActiveState == "active" || u.ActiveState == "reloading", Failed: u.ActiveState == "failed",
		OneshotRunning: u.Type == "oneshot" && u.ActiveState == "activating" && u.SubState == "start"}
	j.Idle = j.Loaded && u.ActiveState == "inactive"
	if u.Result != "success" {
		j.Result = u.Result
	}
	if u.StateChangeTimestamp > 0 {
		j.Since = time.UnixMicro(int64(u.StateChangeTimestamp))
	}
	return j
}

func sdp(u sd) *Unit { j := sdv(u); return &j }

// units is a Units of the units given.
type units []Unit

func unitsOf(us ...Unit) units { return us }

func (us units) Unit(name string) (Unit, bool) {
	for _, u := range us {
		if u.Name == name {
			return u, true
		}
	}
	return Unit{}, false
}

func (us units) Activators(service string) []Unit {
	var out []Unit
	for _, u := range us {
		if strings.HasSuffix(u.Name, ".socket") && slices.Contains(us.Triggers(u.Name), service) {
			out = append(out, u)
		}
	}
	return out
}

func (us units) Triggers(socket string) []string {
	return []string{strings.TrimSuffix(socket, ".socket") + ".service"}
}

// testFailedListed bounds Failed's list, as systemd.FailedListed does.
const testFailedListed = 50

func (us units) Failed() ([]Unit, int) {
	var out []Unit
	for _, u := range us {
		if u.Failed {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b Unit) int { return strings.Compare(a.Name, b.Name) })
	if len(out) > testFailedListed {
		return out[:testFailedListed], len(out) - testFailedListed
	}
	return out, 0
}

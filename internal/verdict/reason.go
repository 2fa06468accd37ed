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
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/warden-exporter/warden_exporter/config"
)

// maxListensOn bounds the addresses a verdict names where the unit listens
// now: the reason is one line.
const maxListensOn = 4

// maxReasonDetail bounds what a reason quotes of a probe's error (which
// carries what the peer sent).
const maxReasonDetail = 120

// MaxDiagnosis bounds a Diagnosis in bytes: it is a label value, and a
// typical one is under 150 (a foreign port, three holders and the unit's
// state); Prometheus's label_value_length_limit rejects the whole scrape
// past its limit.
const MaxDiagnosis = 256

// Who a reason names as holding a foreign port, at most: 30 processes
// sharing a port (SO_REUSEPORT) made a 1,555-byte reason of their names
// and PIDs. The label names fewer, by name only (distinct names: 30 nc
// processes are one "nc").
const (
	maxOwnersNamed       = 8
	maxOwnersInDiagnosis = 3
)

// maxListensOnInDiagnosis bounds where a Diagnosis says the unit listens
// now: two addresses of up to 50 bytes each leave room in MaxDiagnosis.
const maxListensOnInDiagnosis = 2

// wording is what a reason says of each layer, in one of its two
// registers (Reason, Diagnosis).
type wording struct {
	unit    string // the unit's state, "" without a unit
	listens string // "; unit listens on ..." when a port is down
	owners  string // who holds the foreign port
	probe   string // the first failed probe
	health  string // the container's failing health check
	stale   string // the first probe whose result is stale
}

// sentence words v's status.
func sentence(v *Verdict, unknown []string, ports portFindings, w wording) string {
	var s string
	switch v.Status {
	case Unknown:
		s = "could not read: " + strings.Join(unknown, ", ")
		if len(unknown) == 0 {
			s = w.stale
		}
	case ForeignListener:
		s = ports.foreign + " is held by " + cmp.Or(w.owners, "another process or unit")
		if w.unit != "" {
			s += " while " + w.unit
		}
	case ServiceAndPortDown:
		s = w.unit + ", and nothing listens on " + ports.down + w.listens
	case ServiceDown:
		s = w.unit
	case PortDown:
		s = "nothing listens on " + ports.down
		if w.unit != "" {
			s += " while " + w.unit
		}
		s += w.listens
	case ProbeFailed:
		s = "probe of " + w.probe
		if w.health != "" {
			s = w.health
		}
	default:
		s = "every layer is healthy"
	}
	if v.Unit != nil && v.Unit.SocketActivated != "" {
		s += fmt.Sprintf(" (%s idle, socket activated by %s)", v.Unit.Name, v.Unit.SocketActivated)
	}
	if v.Unit != nil && v.Unit.TimerIdle != "" {
		s += fmt.Sprintf(" (%s idle between runs of %s)", v.Unit.Name, v.Unit.TimerIdle)
	}
	switch {
	case v.Unit != nil && v.Unit.TimerRun != "":
		s += fmt.Sprintf(" (%s is a oneshot job, running, started by %s: its ports are not required)", v.Unit.Name, v.Unit.TimerRun)
	case v.Unit != nil && v.Unit.OneshotRunning:
		s += fmt.Sprintf(" (%s is a oneshot job, running)", v.Unit.Name)
	}
	if i := slices.IndexFunc(v.Ports, func(p PortVerdict) bool { return p.AnyPort }); i >= 0 && v.Status != PortDown && v.Status != ServiceAndPortDown {
		// Said once: a port down already says it of its port.
		s += fmt.Sprintf(" (its ports vary at each start: any %s port of its own is expected)", v.Ports[i].Proto)
	}
	return s
}

// clipLabel makes s a bounded label value: valid UTF-8, at most
// MaxDiagnosis bytes.
func clipLabel(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxDiagnosis {
		return s
	}
	return clip(s, MaxDiagnosis-len("…"))
}

// ownerName is how a Diagnosis names who holds a listener: the unit,
// "process NAME" (without its PID: that changes at every restart), or,
// where the process cannot be read (the packaged exporter and root's
// fds), its user and cgroup: stable while the same stranger holds it.
func ownerName(s SeenListener) string {
	if s.UID != nil && s.Owner != "" {
		return strangerName(s, false)
	}
	return s.Owner
}

// maxCgroupInReason bounds what a reason quotes of a stranger's cgroup,
// its tail kept (the scope or service at its end says the most): systemd's
// deepest paths, a user manager's services, take ~90 bytes.
const maxCgroupInReason = 96

// strangerName words who holds a listener no unit is known to hold: "nc
// (pid 4242) of uid 0 (root) in cgroup /user.slice/user-0.slice/session-3.scope"
// (withPID), "process nc" (without: the label), "a process of uid 0 (root)
// in cgroup ..." where the process cannot be read.
func strangerName(s SeenListener, withPID bool) string {
	if s.Process != "" && !withPID {
		return "process " + s.Process
	}
	who := "a process"
	if s.Process != "" {
		who = fmt.Sprintf("%s (pid %d)", s.Process, s.PID)
	}
	if s.UID != nil {
		who += " of uid " + strconv.FormatUint(uint64(*s.UID), 10)
		if s.User != "" {
			who += " (" + s.User + ")"
		}
	}
	if s.Cgroup != "" {
		who += " in cgroup " + clipHead(s.Cgroup, maxCgroupInReason)
	}
	return who
}

// clipHead cuts a path to at most n bytes (and "…") by dropping its head,
// at a "/" where one is left: "…/user-0.slice/session-3.scope".
func clipHead(p string, n int) string {
	if len(p) <= n {
		return p
	}
	i := len(p) - n
	for i < len(p) && !utf8.RuneStart(p[i]) {
		i++
	}
	if k := strings.IndexByte(p[i:], '/'); k >= 0 {
		i += k
	}
	return "…" + p[i:]
}

// describeUnit words the unit's state for a reason ("" without a unit),
// with since when it is in it or not.
func describeUnit(c config.Check, uv *UnitVerdict, withSince bool) string {
	if uv == nil {
		return ""
	}
	if !uv.loaded {
		return fmt.Sprintf("%s is %s", c.Unit, uv.LoadState)
	}
	desc := fmt.Sprintf("%s is %s/%s", c.Unit, uv.ActiveState, uv.SubState)
	if uv.Result != "" {
		desc += " (result " + uv.Result + ")"
	}
	if withSince && uv.Since != "" {
		// An absolute time: "5m ago" would change at every evaluation.
		desc += " since " + uv.Since
	}
	if uv.GaveUp != "" {
		desc += ", systemd gave up (" + uv.GaveUp + ")"
	}
	return desc
}

// startLimit words a unit's start limit for a reason: "start limit 5 in
// 10s"; "restart refused" when it is not known (not read, or none).
func startLimit(burst uint32, intervalUSec uint64) string {
	switch {
	case burst == 0 || intervalUSec == 0:
		return "restart refused"
	case intervalUSec > uint64(math.MaxInt64/time.Microsecond):
		return fmt.Sprintf("start limit %d in infinity", burst) // USEC_INFINITY
	}
	return fmt.Sprintf("start limit %d in %s", burst, timespan(time.Duration(intervalUSec)*time.Microsecond))
}

// timespan words d as systemd does (systemctl show): "10s", "1min 30s",
// "2h", what the unit's StartLimitIntervalSec= says; below a second Go's.
func timespan(d time.Duration) string {
	if d < time.Second || d%time.Second != 0 {
		return d.String()
	}
	var parts []string
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "min"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			parts = append(parts, fmt.Sprintf("%d%s", n, u.name))
			d -= n * u.d
		}
	}
	return strings.Join(parts, " ")
}

// listensNow says where the unit listens now when a port is down ("; unit
// listens on ...", at most max addresses), or "".
func listensNow(c config.Check, portDown string, unitListens []string, max int) string {
	if portDown == "" || len(unitListens) == 0 {
		return ""
	}
	s := "; " + c.Unit + " listens on " + strings.Join(unitListens[:min(len(unitListens), max)], ", ")
	if len(unitListens) > max {
		s += fmt.Sprintf(" and %d more", len(unitListens)-max)
	}
	return s
}

// ownersOf names who holds a port, from what was seen on it: the distinct
// names name gives (skipping ""), sorted (the kernel's order of sockets
// sharing a port is its own), at most max of them, then how many more
// ("and 3" + more).
func ownersOf(seen []SeenListener, max int, more string, name func(SeenListener) string) string {
	var names []string
	for _, s := range seen {
		if n := name(s); n != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d%s", len(names)-max, more)
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// serviceWording is what a reason says of the service layer of a check
// with a unit, a container, or both: the one that is down (both when
// both are), else the unit's (a container alone: its own).
func serviceWording(unit, container string, unitDown, containerDown bool) string {
	switch {
	case container == "":
		return unit
	case unit == "" || (containerDown && !unitDown):
		return container
	case containerDown && unitDown:
		return unit + "; " + container
	}
	return unit
}

// parenthesized is " (s)", or "" for no s.
func parenthesized(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

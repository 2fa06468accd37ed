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

// Package verdict judges checks: pure functions from what one evaluation
// observed of the host (an Input, in this package's own types: units,
// listeners and their owners, probe results) and the checks to one Verdict
// per check. No I/O here, and no reader imported: the collector fills the
// Input (verdict.go judges, ports.go joins the expected ports with the
// listeners, reason.go words the reasons).
package verdict

import (
	"cmp"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
)

// Status is a check's verdict.
type Status string

// The statuses, in the order of warden_check_status's series.
const (
	OK                 Status = "ok"
	ServiceDown        Status = "service_down"
	PortDown           Status = "port_down"
	ServiceAndPortDown Status = "service_and_port_down"
	ForeignListener    Status = "foreign_listener"
	ProbeFailed        Status = "probe_failed"
	Unknown            Status = "unknown"
)

// Statuses are the series of warden_check_status.
var Statuses = []Status{OK, ServiceDown, PortDown, ServiceAndPortDown, ForeignListener, ProbeFailed, Unknown}

// Verdict is the judgement of one check in one scrape, with what was
// expected and seen per layer: what /checks shows.
type Verdict struct {
	Check    string `json:"check"`
	Implicit bool   `json:"implicit,omitempty"` // learned by discovery
	Status   Status `json:"status"`
	Reason   string `json:"reason"` // one line for a human
	// Diagnosis is Reason without what changes while the failure does not
	// (a time, a PID, a local port, the peer's bytes), bounded to
	// MaxDiagnosis bytes: warden_check_reason_info's label.
	Diagnosis string       `json:"diagnosis"`
	DependsOn []string     `json:"depends_on,omitempty"`
	Unit      *UnitVerdict `json:"unit,omitempty"`
	// Container is the container layer of a check that names one.
	Container *ContainerVerdict `json:"container,omitempty"`
	Ports     []PortVerdict     `json:"ports,omitempty"`
	Probes    []ProbeVerdict    `json:"probes,omitempty"`
	// DaemonConfig is what the check's daemon's own configuration says,
	// for a check whose unit runs a daemon the exporter knows.
	DaemonConfig *DaemonConfig `json:"daemon_config,omitempty"`
}

// UnitVerdict is the service layer of a check.
type UnitVerdict struct {
	Name        string `json:"name"`
	Known       bool   `json:"known"` // the systemd layer was read
	LoadState   string `json:"load_state,omitempty"`
	ActiveState string `json:"active_state,omitempty"`
	SubState    string `json:"sub_state,omitempty"`
	// Result is systemd's Result of a failed service (exit-code, signal,
	// core-dump, timeout, start-limit-hit, ...).
	Result string `json:"result,omitempty"`
	// GaveUp is set when systemd refused to restart the failed unit: its
	// start limit, "5 in 10s" (StartLimitBurst in StartLimitIntervalUSec),
	// or "restart refused" when the limit is not known. systemd 252 keeps
	// the last failure's Result then (exit-code), never start-limit-hit.
	GaveUp string `json:"gave_up,omitempty"`
	// Since is when a unit that is not up entered its state (RFC 3339, UTC).
	Since string `json:"since,omitempty"`
	// ListensOn is where the unit holds listeners now, when an expected
	// port is down (at most maxListensOn of them).
	ListensOn []string `json:"listens_on,omitempty"`
	Up        bool     `json:"up"`
	loaded    bool     // the unit file is loaded: its states say more than its load state
	// SocketActivated names the active socket unit that holds the check's
	// ports while the service is idle (inactive until its first
	// connection): the service layer is up.
	SocketActivated string `json:"socket_activated,omitempty"`
	// TimerIdle names the timer whose job the unit is, idle between runs
	// (inactive, its last run a success): the service layer is up, and
	// the check's ports are expected only while it runs.
	TimerIdle string `json:"timer_idle,omitempty"`
	// OneshotRunning: a Type=oneshot job running (activating/start, as
	// systemd has it until the job exits): the service layer is up.
	OneshotRunning bool `json:"oneshot_running,omitempty"`
	// TimerRun names the timer whose job is running (OneshotRunning): its
	// ports are shown but not required. A run is activating from before
	// its process binds the port to after it closes it, and the watch
	// judges at each state change: a job serving a port 4 s of every 9 s
	// was port_down at the start of 24 runs of 24, and paged as flapping.
	TimerRun string `json:"timer_run,omitempty"`
}

// Loaded says the unit file is loaded: its active and sub states then say
// more than its load state.
func (uv *UnitVerdict) Loaded() bool { return uv.loaded }

// PortVerdict is one expected port of a check.
type PortVerdict struct {
	Proto     string         `json:"proto"`
	Address   string         `json:"address,omitempty"`
	Port      int            `json:"port"`
	Known     bool           `json:"known"` // the listeners were read
	Listening bool           `json:"listening"`
	Owned     Ownership      `json:"owned"`
	Seen      []SeenListener `json:"seen,omitempty"`
	// AnyPort: the unit's ports vary at each start (discovery saw them
	// change), so any port of its own (of Proto) is expected; Port is 0.
	AnyPort bool `json:"any_port,omitempty"`
	// BetweenRuns: the unit is a timer's job between runs, or the
	// port is a container's that does not run, when its ports are not
	// expected; the port has no series then.
	BetweenRuns bool `json:"between_runs,omitempty"`
	// ContainerPort is where a container's published port goes inside
	// it; Listening then says it listens both on the host
	// (ListeningOnHost: the engine's proxy or reservation) and inside
	// (ListeningInside, on an address the engine forwards to).
	ContainerPort   int  `json:"container_port,omitempty"`
	ListeningOnHost bool `json:"listening_on_host,omitempty"`
	ListeningInside bool `json:"listening_inside,omitempty"`
	// Source says where the expectation comes from: "configured" (the
	// exporter's configuration), "learned" (discovery), or the daemon's
	// own configuration ("nginx: /etc/nginx/sites-enabled/default:22").
	Source string `json:"source"`
}

// SeenListener is a listener that matched an expected port.
type SeenListener struct {
	Address string `json:"address"`
	Owner   string `json:"owner,omitempty"`
	// Process and PID name the process that holds a listener no unit is
	// known to hold, where its fds could be read (root, or its own user).
	Process string `json:"process,omitempty"`
	PID     int    `json:"pid,omitempty"`
	// UID, User and Cgroup say whose a listener no unit is known to hold
	// is, as sock_diag tells any user: the socket's owner (uid, and its
	// name in /etc/passwd) and its cgroup below the cgroup v2 mount (none
	// without a cgroup id: procfs, Linux < 5.8). UID is nil for a unit's.
	UID    *uint32 `json:"uid,omitempty"`
	User   string  `json:"user,omitempty"`
	Cgroup string  `json:"cgroup,omitempty"`
}

// ProbeVerdict is one probe of a check.
type ProbeVerdict struct {
	Target          string  `json:"target"`
	Known           bool    `json:"known"`
	Success         bool    `json:"success"`
	Reason          string  `json:"reason,omitempty"`
	Error           string  `json:"error,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
	// CutShort: the request's deadline ended the probe before its own
	// timeout (a scrape timeout shorter than the probe's).
	CutShort bool `json:"cut_short,omitempty"`
	// AgeSeconds is how old the result of a probe with an interval was
	// when read; Stale says it was older than StaleAfter: it stands for
	// nothing now (its run is late), and the check is unknown.
	AgeSeconds float64 `json:"age_seconds,omitempty"`
	Stale      bool    `json:"stale,omitempty"`
}

// FailedOnlyByCutShortProbes says the check failed only because a
// request's deadline cut its probes short: without them it would be ok.
// Such a verdict is the requester's, not news of the service (the
// counters every requester shares leave it out).
func (v Verdict) FailedOnlyByCutShortProbes() bool {
	if v.Status != ProbeFailed {
		return false
	}
	for _, p := range v.Probes {
		if p.Known && !p.Success && !p.CutShort {
			return false
		}
	}
	return true
}

// layers is what the join knows of one check; a nil layer could not be
// read this scrape.
type layers struct {
	unit *Unit // nil: systemd not read; zero Name: unit unknown to systemd
	// sockets are the socket units that activate unit (Triggers=), as
	// systemd last reported them.
	sockets []Unit
	// timer is a timer unit that starts unit (TriggeredBy=) and is not
	// known to be stopped, or "".
	timer     string
	ports     []portResult
	portsSeen [][]SeenListener
	portsOK   bool // the listeners were read
	probes    []ProbeResult
	probesOK  bool
	probeAges map[string]time.Duration // by target, for the probes with an interval
	// unitListens are the addresses the check's unit holds listeners on,
	// read this scrape (the diagnosis of a port that is down).
	unitListens []string
	// daemonConfig is what the check's daemon's configuration says; nil
	// for a check of no known daemon.
	daemonConfig *DaemonConfig
	// container is what the engine says of the check's container (nil:
	// not read); host is the host's namespace, where its ports are
	// published (nil: not read), strangers who holds them.
	container *Container
	host      *Namespace
	strangers map[uint64]Stranger
}

// judge decides a check's status. Precedence, first that holds:
//
//  1. unknown: a layer this check needs could not be read;
//  2. foreign_listener: an expected port is held by something else;
//  3. service_and_port_down: the unit is not up and an expected port is
//     not listening;
//  4. service_down: the unit is not up (its ports, if any, still listen:
//     a leftover process, or one whose owner is unknown);
//  5. port_down: the unit is up (or there is none) and an expected port is
//     not listening;
//  6. probe_failed: services and ports are fine, a probe fails;
//  7. ok.
func judge(c config.Check, implicit bool, l layers) Verdict {
	v := Verdict{Check: c.Name, Implicit: implicit, DependsOn: c.DependsOn}
	var unknown []string
	if c.Unit != "" {
		v.Unit = judgeUnit(c, l)
		if !v.Unit.Known {
			unknown = append(unknown, "unit state")
		}
	}
	if c.Container != "" {
		v.Container = judgeContainer(c, l.container)
		if !v.Container.Known {
			unknown = append(unknown, "container state"+parenthesized(v.Container.EngineError))
		}
	}
	ports := judgePorts(c, l, v.Unit != nil && v.Unit.TimerIdle != "", v.Unit != nil && (v.Unit.TimerIdle != "" || v.Unit.TimerRun != ""))
	if v.Container != nil {
		judgePublished(c, l.container, v.Container, l.host, l.strangers, &ports)
	}
	v.Ports = ports.verdicts
	if (len(c.Ports) > 0 && !l.portsOK) || (v.Container != nil && v.Container.Up && len(v.Container.Published) > 0 && l.host == nil) {
		unknown = append(unknown, "listeners")
	}
	var probeFull, probeStable string
	var stale [2]string // the first stale probe, in both wordings
	v.Probes, probeFull, probeStable, stale = judgeProbes(c, l)
	if len(c.Probes) > 0 && !l.probesOK {
		unknown = append(unknown, "probes")
	}
	healthFull, healthStable := healthFailure(l.container, v.Container, true), healthFailure(l.container, v.Container, false)
	unitDown := v.Unit != nil && v.Unit.Known && !v.Unit.Up
	containerDown := v.Container != nil && v.Container.Known && !v.Container.Up
	svcDown := unitDown || containerDown
	switch {
	case len(unknown) > 0:
		v.Status = Unknown
	case ports.foreign != "":
		v.Status = ForeignListener
	case svcDown && ports.down != "":
		v.Status = ServiceAndPortDown
	case svcDown:
		v.Status = ServiceDown
	case ports.down != "":
		v.Status = PortDown
	case healthFull != "" || probeFull != "":
		v.Status = ProbeFailed
	case stale[0] != "":
		// Neither ok nor failing: the answer layer is not known now. A
		// layer below that is down, or another probe failing, is known
		// and says more.
		v.Status = Unknown
	default:
		v.Status = OK
	}
	v.DaemonConfig = l.daemonConfig
	if v.Unit != nil && ports.down != "" && len(l.unitListens) > 0 {
		v.Unit.ListensOn = l.unitListens[:min(len(l.unitListens), maxListensOn)]
	}
	// One sentence, two wordings: the full one for a human, the stable one
	// for the label (no since: a crash loop enters a new state at every
	// restart, and would make a new series each time).
	v.Reason = sentence(&v, unknown, ports, wording{
		unit:    serviceWording(describeUnit(c, v.Unit, true), describeContainer(v.Container, true), unitDown, containerDown),
		health:  healthFull,
		listens: listensNow(c, ports.down, l.unitListens, maxListensOn),
		owners:  ownersOf(ports.foreignSeen, maxOwnersNamed, " more", func(s SeenListener) string { return s.Owner }),
		probe:   probeFull,
		stale:   stale[0],
	})
	if dc := v.DaemonConfig; dc != nil && dc.NotApplied {
		// For a human only: the label's diagnosis stays what the layers
		// say (warden_daemon_config_not_applied is the signal).
		v.Reason += fmt.Sprintf("; %s's configuration changed after %s last (re)started or reloaded: it asks for %s, %s listens on %s",
			dc.Daemon, c.Unit, listOrNothing(dc.Configured), c.Unit, listOrNothing(dc.Listening))
	}
	v.Diagnosis = clipLabel(sentence(&v, unknown, ports, wording{
		unit:    serviceWording(describeUnit(c, v.Unit, false), describeContainer(v.Container, false), unitDown, containerDown),
		health:  healthStable,
		listens: listensNow(c, ports.down, l.unitListens, maxListensOnInDiagnosis),
		owners:  ownersOf(ports.foreignSeen, maxOwnersInDiagnosis, " others", ownerName),
		probe:   probeStable,
		stale:   stale[1],
	}))
	return v
}

// judgeUnit is the service layer of a check with a unit.
func judgeUnit(c config.Check, l layers) *UnitVerdict {
	uv := &UnitVerdict{Name: c.Unit, Known: l.unit != nil}
	if l.unit == nil {
		return uv
	}
	uv.LoadState, uv.ActiveState, uv.SubState = l.unit.LoadState, l.unit.ActiveState, l.unit.SubState
	uv.loaded = l.unit.Loaded
	if l.unit.Failed {
		uv.Result = l.unit.Result
	}
	if l.unit.Failed && l.unit.GaveUp {
		uv.GaveUp = startLimit(l.unit.StartLimitBurst, l.unit.StartLimitIntervalUSec)
	}
	if l.unit.LoadState == "" {
		// Unknown to systemd: what systemctl says of such a name.
		uv.LoadState, uv.ActiveState = "not-found", "inactive"
	}
	uv.Up = l.unit.Up
	if !uv.Up && l.unit.OneshotRunning {
		// A oneshot job is activating for as long as it runs: a job
		// serving a port for 100 s every 4 min was service_down for 100 s.
		uv.Up, uv.OneshotRunning, uv.TimerRun = true, true, l.timer
	}
	if !uv.Up {
		uv.SocketActivated = idleActivator(c, l)
		uv.Up = uv.SocketActivated != ""
	}
	if !uv.Up {
		uv.TimerIdle = idleTimer(l)
		uv.Up = uv.TimerIdle != ""
	}
	if !uv.Up && !l.unit.Since.IsZero() {
		uv.Since = l.unit.Since.UTC().Format(time.RFC3339)
	}
	return uv
}

// The sources of an expected port (PortVerdict.Source) other than a
// daemon's configuration.
const (
	SourceConfigured = "configured"
	SourceLearned    = config.SourceLearned
)

// portFindings are the port layer of a check: each port's verdict, the
// first port down and the first held by someone else (with who holds it).
type portFindings struct {
	verdicts      []PortVerdict
	down, foreign string
	foreignSeen   []SeenListener // what listens on the foreign port
}

// judgePorts judges c's ports; betweenRuns, none is expected to listen
// (a timer's job between runs: no port series either), and optional (a
// timer's job, running or not), none missing is an outage, though one held
// by someone else is still foreign: the job cannot bind it at its next run.
func judgePorts(c config.Check, l layers, betweenRuns, optional bool) portFindings {
	var f portFindings
	for i, p := range c.Ports {
		pv := PortVerdict{Proto: p.Proto, Address: p.Address, Port: p.Port, Known: l.portsOK, Owned: OwnerUnknown,
			AnyPort: p.Port == AnyPort, BetweenRuns: betweenRuns, Source: cmp.Or(p.Source, SourceConfigured)}
		if l.portsOK && i < len(l.ports) {
			r := l.ports[i]
			pv.Listening = r.listening
			if r.owned == OwnedByUnit || r.owned == OwnedByOther {
				pv.Owned = r.owned
			}
			if i < len(l.portsSeen) {
				pv.Seen = l.portsSeen[i]
			}
			if r.owned == OwnedByOther && f.foreign == "" {
				f.foreign, f.foreignSeen = portName(p), pv.Seen
			}
			if !r.listening && f.down == "" && !optional {
				f.down = portName(p)
				if p.Source != "" && p.Source != SourceLearned {
					// Where the daemon's configuration asks for it: the
					// line to look at (stable while the file is).
					f.down += " (" + p.Source + ")"
				}
			}
		}
		f.verdicts = append(f.verdicts, pv)
	}
	return f
}

// judgeProbes is the answer layer of a check: each probe's verdict, the
// first failure in a reason's two wordings ("" when none failed), and the
// first stale result in both (a stale result is neither a success nor a
// failure).
func judgeProbes(c config.Check, l layers) (out []ProbeVerdict, full, stable string, stale [2]string) {
	results := make(map[string]ProbeResult, len(l.probes))
	for _, r := range l.probes {
		results[r.Target] = r
	}
	for _, p := range c.Probes {
		pv := ProbeVerdict{Target: p.Target, Known: l.probesOK}
		if r, ok := results[p.Target]; ok && l.probesOK {
			pv.Success, pv.Reason, pv.DurationSeconds = r.Success, r.Reason, r.Duration.Seconds()
			pv.CutShort = r.CutShort && !r.Success
			pv.Error = r.Error
			if pv.CutShort {
				pv.Error += " (cut short by the request's deadline, before the probe's timeout)"
			}
			if age, ok := l.probeAges[p.Target]; ok {
				pv.AgeSeconds, pv.Stale = age.Seconds(), p.Interval > 0 && age > StaleAfter(p)
				if pv.Stale && stale[0] == "" {
					stale[0], stale[1] = staleness(p, age)
				}
			}
			if !pv.Stale && !r.Success && full == "" {
				full = p.Target + " (" + r.Reason + ") failed"
				if r.Error != "" {
					full += ": " + clip(r.Error, maxReasonDetail)
				}
				stable = p.Target + " failed: " + r.Diagnosis
			}
		}
		out = append(out, pv)
	}
	return out, full, stable, stale
}

// idleActivator returns the socket unit that makes an idle service up, or
// "". Socket activation working as designed leaves the service inactive
// until the first connection while its socket unit holds the port, so the
// service layer is up when:
//
//   - the service is inactive: never started or exited cleanly (failed is
//     down: it failed after activation);
//   - a socket unit that triggers it is active (a failed or stopped socket
//     unit is down);
//   - every expected port listens, and none is held by someone else (the
//     socket unit owns what it listens on; a check without ports needs only
//     the active socket).
func idleActivator(c config.Check, l layers) string {
	if l.unit == nil || !l.unit.Idle {
		return ""
	}
	if len(c.Ports) > 0 {
		if !l.portsOK || len(l.ports) < len(c.Ports) {
			return ""
		}
		for _, r := range l.ports {
			if !r.listening || r.owned == OwnedByOther {
				return ""
			}
		}
	}
	for _, sock := range l.sockets {
		if sock.Up {
			return sock.Name
		}
	}
	return ""
}

// idleTimer returns the timer that makes an idle service up, or "": a
// timer's job is inactive between runs as a socket-activated service is
// until its first connection. Up when the service is inactive after a
// clean run (or none: failed is down) and a timer starts it that is not
// known to be stopped (timers are read only when --systemd.unit-include
// names them; a timer that is not read is taken as running).
func idleTimer(l layers) string {
	if l.unit == nil || !l.unit.Idle || l.unit.Result != "" {
		return ""
	}
	return l.timer
}

// timerOf returns the first timer that starts u (TriggeredBy=) and that
// units, when they hold it, do not show stopped; or "".
func timerOf(u Unit, units Units) string {
	for _, t := range u.TriggeredBy {
		if !strings.HasSuffix(t, ".timer") {
			continue
		}
		if tu, ok := units.Unit(t); ok && tu.Loaded && !tu.Up {
			continue
		}
		return t
	}
	return ""
}

// String names the port as the reasons do: "tcp 127.0.0.1:80", "tcp *:80",
// "udp [::1]:53".
func (p PortVerdict) String() string {
	return portName(config.Port{Proto: p.Proto, Address: p.Address, Port: p.Port})
}

// portName is the one wording of an expected port, in the reasons and on
// the landing page alike.
func portName(p config.Port) string {
	if p.Port == AnyPort {
		s := "a " + p.Proto + " port"
		if p.Address != "" {
			s += " on " + p.Address
		}
		return s + " (any: its ports vary at each start)"
	}
	addr := p.Address
	if addr == "" {
		addr = "*"
	}
	return fmt.Sprintf("%s %s", p.Proto, net.JoinHostPort(addr, strconv.Itoa(p.Port)))
}

// listOrNothing joins ss for a sentence, at most maxListensOn of them.
func listOrNothing(ss []string) string {
	if len(ss) == 0 {
		return "nothing"
	}
	if len(ss) > maxListensOn {
		return strings.Join(ss[:maxListensOn], ", ") + fmt.Sprintf(" and %d more", len(ss)-maxListensOn)
	}
	return strings.Join(ss, ", ")
}

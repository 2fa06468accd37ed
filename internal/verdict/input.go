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
	"net/netip"
	"time"
)

// The judge's input, in its own types. The collector fills them from the
// readers (internal/systemd, listeners, owner, probe); the judge imports
// none of those, so nothing it depends on does I/O, and the facts it
// judges on (is a unit up, idle, failed) are the systemd package's words,
// given here as booleans rather than re-derived from systemd's strings.

// Unit is what the judge needs of one systemd unit.
type Unit struct {
	Name string
	// LoadState, ActiveState and SubState are systemd's words, shown as
	// they are (on /checks and in the reasons); the judge decides on the
	// facts below.
	LoadState, ActiveState, SubState string

	Loaded bool // the unit file is loaded
	Up     bool // active or reloading
	// Idle: loaded and inactive (never started, or exited): a socket's
	// service before its first connection, a timer's job between runs.
	Idle   bool
	Failed bool
	// OneshotRunning: a Type=oneshot job that is running (activating/start
	// until its process exits).
	OneshotRunning bool
	// Result is how a service's last run ended when it was not a success
	// (exit-code, signal, core-dump, timeout, ...); "" for a success or
	// none.
	Result string
	// GaveUp: systemd refused the restart it had scheduled (the start
	// limit: StartLimitBurst starts in StartLimitIntervalUSec, systemd's
	// microseconds, past MaxInt64 ns infinity; 0 when not read).
	GaveUp                 bool
	StartLimitBurst        uint32
	StartLimitIntervalUSec uint64
	// Since is when it entered its ActiveState; zero when not known.
	Since time.Time
	// TriggeredBy are the units that start it (timers, sockets, paths).
	TriggeredBy []string
}

// Units is the judge's view of systemd's units.
type Units interface {
	// Unit returns the unit named name; ok is false when systemd does not
	// know it.
	Unit(name string) (u Unit, ok bool)
	// Activators are the socket units that activate service.
	Activators(service string) []Unit
	// Triggers are the services socket activates.
	Triggers(socket string) []string
	// Failed are the failed units (a bounded list) and how many more
	// there are.
	Failed() (units []Unit, more int)
}

// Listener is one listening socket, as the kernel reports it.
type Listener struct {
	Proto string // "tcp" or "udp"
	// Addr is the local address, v4-mapped v6 addresses unmapped.
	Addr netip.Addr
	Port uint16
	// V6Only is IPV6_V6ONLY of a v6 socket: when false, a [::] socket also
	// accepts IPv4.
	V6Only bool
	UID    uint32
	Inode  uint64
}

// Owner says who holds a listener.
type Owner struct {
	// Unit holding it; "" when unknown.
	Unit string
	// Foreign: its cgroup is known and lies outside every unit known to
	// the owner index.
	Foreign bool
}

// Stranger is who holds a listener no unit is known to hold.
type Stranger struct {
	User    string // the socket owner's name in /etc/passwd, "" for none
	Cgroup  string // its cgroup below the cgroup v2 mount, "" when unknown
	Process string // the process holding it, "" when its fds could not be read
	PID     int
}

// ProbeResult is one probe's run.
// DaemonConfig is what a check's daemon's own configuration says, as the
// exporter read it (see internal/daemonconf): the check's ports come from
// it when it could be read.
type DaemonConfig struct {
	Daemon string `json:"daemon"`
	// File is the main configuration file the unit runs with.
	File string `json:"file,omitempty"`
	// Error says why it could not be read or parsed: the check's ports
	// are then learned.
	Error string `json:"error,omitempty"`
	// NotApplied: its files changed after the unit last (re)started or
	// reloaded, and say something else than what the daemon read.
	NotApplied bool `json:"not_applied"`
	// Changed is when its files last changed (RFC 3339, UTC).
	Changed string `json:"changed,omitempty"`
	// Configured are the sockets it asks for, each with where it says so.
	Configured []string `json:"configured,omitempty"`
	// Listening is where the unit listens now: shown beside Configured
	// when the configuration is not applied.
	Listening []string `json:"listening,omitempty"`
}

type ProbeResult struct {
	Check, Target string
	Success       bool
	Reason        string // the failure's class (refused, timeout, ...)
	Error         string // the failure in full, for a human
	// Diagnosis is the failure without what changes from one run to the
	// next (the local port, the clock, the peer's bytes).
	Diagnosis string
	Duration  time.Duration
	// CutShort: the request's deadline ended it before its own timeout.
	CutShort bool
}

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
	"strconv"
	"strings"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/warden-exporter/warden_exporter/internal/hosttext"
)

// Unit is what we know of one systemd unit.
type Unit struct {
	Name        string
	LoadState   string
	ActiveState string
	SubState    string
	// ActiveEnterTimestamp is when the unit last entered active, in
	// microseconds since the epoch; 0 if never.
	ActiveEnterTimestamp uint64
	// StateChangeTimestamp is when the unit last changed ActiveState, in
	// microseconds since the epoch; known for the checks' units only (read
	// each scrape), 0 otherwise.
	StateChangeTimestamp uint64

	// Service units.
	IsService   bool
	HasRestarts bool // NRestarts is known (systemd >= 235)
	NRestarts   uint32
	Result      string
	MainPID     uint32
	// Type is the service's Type= (simple, exec, forking, oneshot, ...),
	// and TriggeredBy the units that start it (timers, sockets, paths):
	// a timer's oneshot job is activating while it runs and inactive
	// between runs, neither of which is down.
	Type        string
	TriggeredBy []string

	// Service and socket units.
	ControlGroup string

	// Socket units: what they listen on, as (type, address) pairs, e.g.
	// ("Stream", "127.0.0.1:8080"), and the units they activate.
	Listen   []ListenSpec
	Triggers []string

	// StateChanges counts, per ActiveState, the times the unit entered it
	// while the cache watched it: from the manager's signals (and the
	// listings and fetches that follow them), so a restart by hand or a
	// crash that Restart= undoes within a second is counted even when no
	// scrape sees it. Shared between snapshots: never modified in place.
	StateChanges map[string]uint64
	// Failures counts, per systemd Result (exit-code, signal, core-dump,
	// oom-kill, timeout, watchdog, start-limit-hit, ...), the runs of the
	// unit that ended badly while the cache watched it: failed starts and
	// crashes, from the signals (failures.go). Shared like StateChanges.
	Failures map[string]uint64
	// GaveUp is set while the unit is failed because systemd refused the
	// restart it had scheduled (the start limit: systemd 252 then keeps
	// the last failure's Result, e.g. exit-code).
	GaveUp bool
	// StartLimitBurst and StartLimitIntervalUSec are the unit's start
	// limit (StartLimitBurst starts in StartLimitIntervalUSec); read for
	// the checks' failed units only, 0 otherwise.
	StartLimitBurst        uint32
	StartLimitIntervalUSec uint64
}

// noteTransition counts the change of ActiveState from (prevActive, and
// prevEnter, the ActiveEnterTimestamp then) to u's state. A unit seen for
// the first time (prevActive "") has entered nothing yet. A unit active
// before and after whose ActiveEnterTimestamp moved entered active again:
// systemd carried its stop and start in one signal (a fast restart), and
// the states between are not known. Failures are counted apart, from the
// signals alone (failures.go).
func (u *Unit) noteTransition(prevActive string, prevEnter uint64) {
	if prevActive == "" || u.ActiveState == "" {
		return
	}
	switch {
	case u.ActiveState != prevActive:
		u.StateChanges = bump(u.StateChanges, u.ActiveState)
	case u.Active() && prevEnter != 0 && u.ActiveEnterTimestamp > prevEnter:
		u.StateChanges = bump(u.StateChanges, u.ActiveState)
	}
}

// bump returns a copy of m with k counted once more: the maps are shared
// with the snapshots already taken.
func bump(m map[string]uint64, k string) map[string]uint64 {
	out := make(map[string]uint64, len(m)+1)
	maps.Copy(out, m)
	out[k]++
	return out
}

// ListenSpec is one entry of a socket unit's Listen property.
type ListenSpec struct {
	Type    string
	Address string
}

// AddrPort reads systemd's spelling of a Listen= address: "127.0.0.1:80",
// "[::1]:80", or a bare port "80" (all addresses: the zero Addr). ok is
// false for what is not an IP socket (a path, a netlink family, ...).
func (l ListenSpec) AddrPort() (addr netip.Addr, port uint16, ok bool) {
	if p, err := strconv.ParseUint(l.Address, 10, 16); err == nil {
		return netip.Addr{}, uint16(p), true
	}
	ap, err := netip.ParseAddrPort(l.Address)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	return ap.Addr().Unmap(), ap.Port(), true
}

// ActiveStates are the series of warden_unit_state; a state outside them
// (a newer systemd's) is exported as an extra series.
var ActiveStates = []string{"active", "reloading", "inactive", "failed", "activating", "deactivating", "maintenance"}

// LoadStates are the series of warden_unit_load_state.
var LoadStates = []string{"loaded", "not-found", "bad-setting", "error", "masked"}

// UnitUp is the service layer's verdict for a unit's ActiveState. A oneshot
// with RemainAfterExit=yes that exited successfully stays "active"; one that
// failed is "failed"; a unit waiting to be restarted is "activating"
// (sub-state auto-restart) and is not up.
func UnitUp(activeState string) bool {
	return activeState == "active" || activeState == "reloading"
}

// The states callers ask about, as predicates on the unit: systemd's words
// (unit_load_state_to_string, unit_active_state_to_string) are spelled
// here only.

// Loaded reports whether the manager has the unit's configuration loaded
// (LoadState loaded).
func (u Unit) Loaded() bool { return u.LoadState == "loaded" }

// NotFound reports whether the manager has no unit file for it (LoadState
// not-found): a unit read by name that does not exist.
func (u Unit) NotFound() bool { return u.LoadState == "not-found" }

// Active reports whether ActiveState is active (not reloading: Up counts
// both).
func (u Unit) Active() bool { return u.ActiveState == "active" }

// Inactive reports whether ActiveState is inactive: stopped, never
// started, or a oneshot's job between runs.
func (u Unit) Inactive() bool { return u.ActiveState == "inactive" }

// Activating reports whether ActiveState is activating: starting, a
// oneshot's job running, or waiting to be restarted (auto-restart).
func (u Unit) Activating() bool { return u.ActiveState == "activating" }

// Failed reports whether ActiveState is failed.
func (u Unit) Failed() bool { return u.ActiveState == "failed" }

// Up is UnitUp of the unit's ActiveState.
func (u Unit) Up() bool { return UnitUp(u.ActiveState) }

// FailedResult reports whether the service's last run ended badly: a
// Result other than success ("" when not known or not a service).
func (u Unit) FailedResult() bool { return u.Result != "" && u.Result != "success" }

// HitStartLimit reports whether systemd gave up restarting the unit: it
// refused a restart it had scheduled (GaveUp), or the unit's Result says
// start-limit-hit.
func (u Unit) HitStartLimit() bool { return u.GaveUp || u.Result == "start-limit-hit" }

// OneshotRunning reports whether the unit is a oneshot service whose job
// runs: activating (sub-state start) for as long as it does.
func (u Unit) OneshotRunning() bool {
	return u.Type == "oneshot" && u.Activating() && u.SubState == "start"
}

// Activates are the units a socket unit activates: Triggers= when systemd
// reported it, else the service of the same name (systemd's default).
func (u Unit) Activates() []string {
	if len(u.Triggers) > 0 {
		return u.Triggers
	}
	return []string{strings.TrimSuffix(u.Name, ".socket") + ".service"}
}

// The manager's strings are cleaned where they are read (hosttext): unit
// names and states end up in label values, which must be valid UTF-8.
// systemd's own are ASCII (unit_name_is_valid: letters, digits and ":-_.\@"),
// but a name decoded from an object path (_xx escapes) can be any bytes,
// and nothing on a bus checks what a peer sends. A unit name cleaned this
// way is not systemd's: it is fetched as not found, and so left out.
const (
	// maxUnitName is systemd's UNIT_NAME_MAX (256, the NUL included).
	maxUnitName = 256
	// maxWord bounds a state, a result, a type, a file state: systemd's
	// longest is 20 bytes (deactivating-sigterm).
	maxWord = 64
	// maxListenAddress bounds a socket unit's Listen= address: an IP one
	// is at most 47 bytes ([v6%zone]:port), a path at most 108 (sun_path).
	maxListenAddress = 256
)

// unitName is a unit name as read from the manager, cleaned.
func unitName(s string) string { return hosttext.Clean(s, maxUnitName) }

// propWord is a string property (a state, a result, a type), cleaned; ""
// when it is not a string.
func propWord(v dbus.Variant) string {
	s, _ := v.Value().(string)
	return hosttext.Clean(s, maxWord)
}

// signalName is the unit name a manager's signal (UnitNew, UnitRemoved)
// carries first, cleaned.
func signalName(s *dbus.Signal) (string, bool) {
	if len(s.Body) == 0 {
		return "", false
	}
	name, ok := s.Body[0].(string)
	return unitName(name), ok
}

// cleanStatuses cleans, in place, what is used of a listing's units.
func cleanStatuses(statuses []sdbus.UnitStatus) {
	for i := range statuses {
		st := &statuses[i]
		st.Name = unitName(st.Name)
		st.LoadState = hosttext.Clean(st.LoadState, maxWord)
		st.ActiveState = hosttext.Clean(st.ActiveState, maxWord)
		st.SubState = hosttext.Clean(st.SubState, maxWord)
	}
}

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
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// The join: pure functions from one scrape's readings to per-check
// results. No I/O here; everything it needs is passed in.

// PortMatches reports whether listener l satisfies an expected port:
//
//   - no address: any local address;
//   - 0.0.0.0: an IPv4 wildcard bind, or a dual-stack [::] (IPV6_V6ONLY=0);
//   - ::: an IPv6 wildcard bind;
//   - a specific address: a bind to that address, or a wildcard bind that
//     covers it (0.0.0.0 or dual-stack [::] for IPv4, [::] for IPv6).
func PortMatches(p config.Port, l listeners.Listener) bool {
	var want netip.Addr
	if p.Address != "" {
		var err error
		if want, err = netip.ParseAddr(p.Address); err != nil {
			return false
		}
	}
	return portMatches(p, want, l)
}

// portMatches is PortMatches with the expected address parsed (invalid for
// "any address").
func portMatches(p config.Port, want netip.Addr, l listeners.Listener) bool {
	if p.Proto != l.Proto || p.Port != int(l.Port) {
		return false
	}
	if !want.IsValid() {
		return true
	}
	covers := func() bool { // does l's wildcard cover want's family?
		if !l.Addr.IsUnspecified() {
			return false
		}
		if want.Is4() {
			return l.Addr.Is4() || !l.V6Only
		}
		return l.Addr.Is6()
	}
	if want.IsUnspecified() {
		return covers()
	}
	return l.Addr == want || covers()
}

// ownership of an expected port.
type ownership int

const (
	ownerUnknown ownership = iota // no listener, or its owner cannot be determined
	ownedByUnit
	ownedByOther
)

// portResult is the join of one expected port.
type portResult struct {
	port      config.Port
	listening bool
	owned     ownership
}

// unitOwns reports whether owner is unit, or the socket unit that
// activates it.
func unitOwns(unit, owner string, triggers func(socket string) []string) bool {
	if owner == unit {
		return true
	}
	if strings.HasSuffix(owner, ".socket") {
		for _, t := range triggers(owner) {
			if t == unit {
				return true
			}
		}
	}
	return false
}

// portKey indexes listeners by protocol and port.
type portKey struct {
	proto string
	port  uint16
}

// listenerIndex maps each (proto, port) to the listeners on it, so the join
// looks at the few candidates of a port rather than every listener.
type listenerIndex map[portKey][]int

func indexListeners(ls []listeners.Listener) listenerIndex {
	idx := make(listenerIndex, len(ls))
	for i, l := range ls {
		k := portKey{l.Proto, l.Port}
		idx[k] = append(idx[k], i)
	}
	return idx
}

// joinPorts matches a check's expected ports against the listeners (of the
// namespace the check looks in, indexed by idx) and their owners. unitKnown
// tells whether a foreign owner (a cgroup outside every unit we know) rules
// the check's unit out.
func joinPorts(check config.Check, listeners []listeners.Listener, idx listenerIndex, owners []owner.Owner, triggers func(string) []string, unitKnown bool) []portResult {
	out := make([]portResult, 0, len(check.Ports))
	for _, p := range check.Ports {
		r := portResult{port: p}
		var want netip.Addr
		if p.Address != "" {
			want, _ = netip.ParseAddr(p.Address)
		}
		unknown, other := false, false
		for _, i := range idx[portKey{p.Proto, uint16(p.Port)}] {
			l := listeners[i]
			if !portMatches(p, want, l) {
				continue
			}
			r.listening = true
			var o owner.Owner
			if i < len(owners) {
				o = owners[i]
			}
			switch {
			case check.Unit == "":
				unknown = true
			case o.Unit != "" && unitOwns(check.Unit, o.Unit, triggers):
				r.owned = ownedByUnit
			case o.Unit != "" || o.Foreign && unitKnown:
				other = true
			default:
				unknown = true
			}
		}
		// Owned if any matching listener is the unit's; not owned only if
		// every matching listener's owner is known and is someone else.
		if r.owned != ownedByUnit && other && !unknown {
			r.owned = ownedByOther
		}
		out = append(out, r)
	}
	return out
}

// socketTriggers returns, for a socket unit, the services it activates:
// Triggers= when systemd reported it, else the service of the same name.
func socketTriggers(units *systemd.Snapshot) func(string) []string {
	return func(socket string) []string {
		u := systemd.Unit{Name: socket}
		if units != nil {
			u, _ = units.Unit(socket)
			u.Name = socket
		}
		return u.Activates()
	}
}

// checkDescs are the per-check series and the listener inventory.
type checkDescs struct {
	portListening, portOwned, listenerInfo, listenerDropped    *prometheus.Desc
	checkUp, checkStatus, servicePortUp, serviceUp, dependency *prometheus.Desc
	checkReason                                                *prometheus.Desc
}

func newCheckDescs() checkDescs {
	return checkDescs{
		checkUp: prometheus.NewDesc("warden_check_up",
			"1 if every layer of the check is healthy (status ok).", []string{"check"}, nil),
		checkStatus: prometheus.NewDesc("warden_check_status",
			"The check's verdict: exactly one status is 1 (ok, service_down, port_down, service_and_port_down, foreign_listener, probe_failed, unknown).",
			[]string{"check", "status"}, nil),
		checkReason: prometheus.NewDesc("warden_check_reason_info",
			"Why a check is not ok, in one line: the reason /checks and the landing page give (unit state and systemd's result, who holds a port, where the unit listens now, the probe's error). Only while the check is not ok; always 1.",
			[]string{"check", "status", "reason"}, nil),
		servicePortUp: prometheus.NewDesc("warden_service_port_up",
			"service_up x port_listening for each expected port of a check with a unit.",
			[]string{"check", "unit", "proto", "address", "port"}, nil),
		serviceUp: prometheus.NewDesc("warden_service_up",
			"1 if the check's unit is active or reloading (a oneshot that exited successfully with RemainAfterExit=yes is active).", []string{"check", "unit"}, nil),
		dependency: prometheus.NewDesc("warden_check_dependency_info",
			"The check depends on depends_on (depends_on in the config): alerts use it to silence dependents while it is down.",
			[]string{"check", "depends_on"}, nil),
		portListening: prometheus.NewDesc("warden_port_listening",
			"1 if a listening socket matches the check's expected port, 0 if none does.",
			[]string{"check", "proto", "address", "port"}, nil),
		portOwned: prometheus.NewDesc("warden_port_owned",
			"1 if the expected port is held by the check's unit (or the socket unit that activates it), 0 if by something else; absent when nothing listens or the owner cannot be determined.",
			[]string{"check", "proto", "address", "port"}, nil),
		listenerInfo: prometheus.NewDesc("warden_listener_info",
			"Every listening TCP socket and bound UDP socket, with the unit holding it (\"\" if unknown).",
			[]string{"proto", "address", "port", "unit"}, nil),
		listenerDropped: prometheus.NewDesc("warden_listener_series_dropped_total",
			"listeners.Listener inventory series left out because of --listeners.max-series.",
			nil, nil),
	}
}

func (d checkDescs) describe(ch chan<- *prometheus.Desc) {
	ch <- d.checkUp
	ch <- d.checkStatus
	ch <- d.checkReason
	ch <- d.servicePortUp
	ch <- d.serviceUp
	ch <- d.dependency
	ch <- d.portListening
	ch <- d.portOwned
	ch <- d.listenerInfo
	ch <- d.listenerDropped
}

// emitPorts emits a check's port results.
func (d checkDescs) emitPorts(emit func(prometheus.Metric), check string, results []portResult) {
	for _, r := range results {
		labels := []string{check, r.port.Proto, r.port.Address, strconv.Itoa(r.port.Port)}
		listening := 0.0
		if r.listening {
			listening = 1
		}
		emit(prometheus.MustNewConstMetric(d.portListening, prometheus.GaugeValue, listening, labels...))
		switch r.owned {
		case ownedByUnit:
			emit(prometheus.MustNewConstMetric(d.portOwned, prometheus.GaugeValue, 1, labels...))
		case ownedByOther:
			emit(prometheus.MustNewConstMetric(d.portOwned, prometheus.GaugeValue, 0, labels...))
		}
	}
}

// emitVerdict emits a check's series: its verdict, the service layer as
// the check sees it, its ports and their product with the service.
func (d checkDescs) emitVerdict(emit func(prometheus.Metric), c config.Check, v Verdict, l layers) {
	up := 0.0
	if v.Status == "ok" {
		up = 1
	}
	emit(prometheus.MustNewConstMetric(d.checkUp, prometheus.GaugeValue, up, c.Name))
	for _, st := range CheckStatuses {
		x := 0.0
		if st == v.Status {
			x = 1
		}
		emit(prometheus.MustNewConstMetric(d.checkStatus, prometheus.GaugeValue, x, c.Name, st))
	}
	if v.Status != "ok" {
		// The diagnosis travels to the alert through this series: one per
		// failing check, changing only when the diagnosis does.
		emit(prometheus.MustNewConstMetric(d.checkReason, prometheus.GaugeValue, 1, c.Name, v.Status, v.Reason))
	}
	for _, dep := range c.DependsOn {
		emit(prometheus.MustNewConstMetric(d.dependency, prometheus.GaugeValue, 1, c.Name, dep))
	}
	serviceKnown := v.Unit != nil && v.Unit.Known
	if serviceKnown {
		s := 0.0
		if v.Unit.Up {
			s = 1
		}
		emit(prometheus.MustNewConstMetric(d.serviceUp, prometheus.GaugeValue, s, c.Name, c.Unit))
	}
	if !l.portsOK {
		return
	}
	d.emitPorts(emit, c.Name, l.ports)
	if !serviceKnown {
		return
	}
	for _, r := range l.ports {
		x := 0.0
		if v.Unit.Up && r.listening {
			x = 1
		}
		emit(prometheus.MustNewConstMetric(d.servicePortUp, prometheus.GaugeValue, x, c.Name, c.Unit, r.port.Proto, r.port.Address, strconv.Itoa(r.port.Port)))
	}
}

// inventory returns the distinct (proto, address, port, unit) series of the
// listeners, sorted, at most max of them, and how many were left out.
func inventory(listeners []listeners.Listener, owners []owner.Owner, max int) ([][4]string, int) {
	seen := make(map[[4]string]bool, len(listeners))
	for i, l := range listeners {
		owner := ""
		if i < len(owners) {
			owner = owners[i].Unit
		}
		seen[[4]string{l.Proto, l.Addr.String(), strconv.Itoa(int(l.Port)), owner}] = true
	}
	all := make([][4]string, 0, len(seen))
	for k := range seen {
		all = append(all, k)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		for k := range a {
			if a[k] != b[k] {
				if k == 2 { // ports numerically
					pa, _ := strconv.Atoi(a[k])
					pb, _ := strconv.Atoi(b[k])
					return pa < pb
				}
				return a[k] < b[k]
			}
		}
		return false
	})
	if max >= 0 && len(all) > max {
		return all[:max], len(all) - max
	}
	return all, 0
}

// CheckStatuses are the series of warden_check_status.
var CheckStatuses = []string{"ok", "service_down", "port_down", "service_and_port_down", "foreign_listener", "probe_failed", "unknown"}

// Verdict is the judgement of one check in one scrape, with what was
// expected and seen per layer: what /checks shows.
type Verdict struct {
	Check     string         `json:"check"`
	Implicit  bool           `json:"implicit,omitempty"` // learned by discovery
	Status    string         `json:"status"`
	Reason    string         `json:"reason"` // one line for a human
	DependsOn []string       `json:"depends_on,omitempty"`
	Unit      *UnitVerdict   `json:"unit,omitempty"`
	Ports     []PortVerdict  `json:"ports,omitempty"`
	Probes    []ProbeVerdict `json:"probes,omitempty"`
}

// UnitVerdict is the service layer of a check.
type UnitVerdict struct {
	Name        string `json:"name"`
	Known       bool   `json:"known"` // the systemd source answered
	LoadState   string `json:"load_state,omitempty"`
	ActiveState string `json:"active_state,omitempty"`
	SubState    string `json:"sub_state,omitempty"`
	// Result is systemd's Result of a failed service (exit-code, signal,
	// core-dump, timeout, start-limit-hit, ...).
	Result string `json:"result,omitempty"`
	// Since is when a unit that is not up entered its state (RFC 3339, UTC).
	Since string `json:"since,omitempty"`
	// ListensOn is where the unit holds listeners now, when an expected
	// port is down (at most maxListensOn of them).
	ListensOn []string `json:"listens_on,omitempty"`
	Up        bool     `json:"up"`
	// SocketActivated names the active socket unit that holds the check's
	// ports while the service is idle (inactive until its first
	// connection): the service layer is up.
	SocketActivated string `json:"socket_activated,omitempty"`
}

// PortVerdict is one expected port of a check.
type PortVerdict struct {
	Proto     string `json:"proto"`
	Address   string `json:"address,omitempty"`
	Port      int    `json:"port"`
	Known     bool   `json:"known"` // the listeners were read
	Listening bool   `json:"listening"`
	// Owned is "yes", "no" or "unknown".
	Owned string         `json:"owned"`
	Seen  []SeenListener `json:"seen,omitempty"`
}

// SeenListener is a listener that matched an expected port.
type SeenListener struct {
	Address string `json:"address"`
	Owner   string `json:"owner,omitempty"`
}

// ProbeVerdict is one probe of a check.
type ProbeVerdict struct {
	Target          string       `json:"target"`
	Known           bool         `json:"known"`
	Success         bool         `json:"success"`
	Reason          probe.Reason `json:"reason,omitempty"`
	Error           string       `json:"error,omitempty"`
	DurationSeconds float64      `json:"duration_seconds"`
}

// layers is what the join knows of one check; a nil layer could not be
// read this scrape.
type layers struct {
	unit *systemd.Unit // nil: systemd not read; zero Name: unit unknown to systemd
	// sockets are the socket units that activate unit (Triggers=), as
	// systemd last reported them.
	sockets   []systemd.Unit
	ports     []portResult
	portsSeen [][]SeenListener
	portsOK   bool // the listeners were read
	probes    []probe.Result
	probesOK  bool
	// unitListens are the addresses the check's unit holds listeners on,
	// read this scrape (the diagnosis of a port that is down).
	unitListens []string
}

// maxListensOn bounds the addresses a verdict names where the unit listens
// now: the reason is one line.
const maxListensOn = 4

// maxReasonDetail bounds what a reason quotes of a probe's error (which
// carries what the peer sent).
const maxReasonDetail = 120

// judge decides a check's status. Precedence, first that holds:
//
//  1. unknown: a source this check needs failed this scrape;
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
	unknown := []string{}
	svcDown := false
	if c.Unit != "" {
		uv := &UnitVerdict{Name: c.Unit, Known: l.unit != nil}
		if l.unit != nil {
			uv.LoadState, uv.ActiveState, uv.SubState = l.unit.LoadState, l.unit.ActiveState, l.unit.SubState
			if uv.ActiveState == "failed" && l.unit.Result != "" && l.unit.Result != "success" {
				uv.Result = l.unit.Result
			}
			if uv.LoadState == "" {
				uv.LoadState, uv.ActiveState = "not-found", "inactive"
			}
			uv.Up = systemd.UnitUp(uv.ActiveState)
			if !uv.Up {
				uv.SocketActivated = idleActivator(c, l)
				uv.Up = uv.SocketActivated != ""
			}
			if !uv.Up && l.unit.StateChangeTimestamp > 0 {
				uv.Since = time.UnixMicro(int64(l.unit.StateChangeTimestamp)).UTC().Format(time.RFC3339)
			}
			svcDown = !uv.Up
		} else {
			unknown = append(unknown, "unit state")
		}
		v.Unit = uv
	}
	portDown, foreign, foreignOwner := "", "", ""
	for i, p := range c.Ports {
		pv := PortVerdict{Proto: p.Proto, Address: p.Address, Port: p.Port, Known: l.portsOK, Owned: "unknown"}
		if l.portsOK && i < len(l.ports) {
			r := l.ports[i]
			pv.Listening = r.listening
			switch r.owned {
			case ownedByUnit:
				pv.Owned = "yes"
			case ownedByOther:
				pv.Owned = "no"
				if foreign == "" {
					foreign = portName(p)
					if i < len(l.portsSeen) {
						foreignOwner = ownersOf(l.portsSeen[i])
					}
				}
			}
			if !r.listening && portDown == "" {
				portDown = portName(p)
			}
			if i < len(l.portsSeen) {
				pv.Seen = l.portsSeen[i]
			}
		}
		v.Ports = append(v.Ports, pv)
	}
	if len(c.Ports) > 0 && !l.portsOK {
		unknown = append(unknown, "listeners")
	}
	probeFailed := ""
	results := map[string]probe.Result{}
	for _, r := range l.probes {
		results[r.Target] = r
	}
	for _, p := range c.Probes {
		pv := ProbeVerdict{Target: p.Target, Known: l.probesOK}
		if r, ok := results[p.Target]; ok && l.probesOK {
			pv.Success, pv.Reason, pv.DurationSeconds = r.Success, r.Reason, r.Duration.Seconds()
			if r.Err != nil {
				pv.Error = r.Err.Error()
			}
			if !r.Success && probeFailed == "" {
				probeFailed = p.Target + " (" + string(r.Reason) + ") failed"
				if r.Err != nil {
					probeFailed += ": " + clip(r.Err.Error(), maxReasonDetail)
				}
			}
		}
		v.Probes = append(v.Probes, pv)
	}
	if len(c.Probes) > 0 && !l.probesOK {
		unknown = append(unknown, "probes")
	}
	unitDesc := ""
	if v.Unit != nil {
		unitDesc = fmt.Sprintf("%s is %s/%s", c.Unit, v.Unit.ActiveState, v.Unit.SubState)
		if v.Unit.Result != "" {
			unitDesc += " (result " + v.Unit.Result + ")"
		}
		if v.Unit.Since != "" {
			// An absolute time: the reason is a label, and "5m ago" would
			// make a new series every scrape.
			unitDesc += " since " + v.Unit.Since
		}
		if v.Unit.LoadState != "loaded" {
			unitDesc = fmt.Sprintf("%s is %s", c.Unit, v.Unit.LoadState)
		}
		if portDown != "" && len(l.unitListens) > 0 {
			v.Unit.ListensOn = l.unitListens[:min(len(l.unitListens), maxListensOn)]
		}
	}
	listensNow := ""
	if v.Unit != nil && len(v.Unit.ListensOn) > 0 {
		listensNow = "; " + c.Unit + " listens on " + strings.Join(v.Unit.ListensOn, ", ")
		if len(l.unitListens) > maxListensOn {
			listensNow += fmt.Sprintf(" and %d more", len(l.unitListens)-maxListensOn)
		}
	}
	switch {
	case len(unknown) > 0:
		v.Status, v.Reason = "unknown", "could not read: "+strings.Join(unknown, ", ")
	case foreign != "":
		v.Status, v.Reason = "foreign_listener", foreign+" is held by "+cmp.Or(foreignOwner, "another process or unit")
		if unitDesc != "" {
			v.Reason += " while " + unitDesc
		}
	case svcDown && portDown != "":
		v.Status, v.Reason = "service_and_port_down", unitDesc+", and nothing listens on "+portDown+listensNow
	case svcDown:
		v.Status, v.Reason = "service_down", unitDesc
	case portDown != "":
		v.Status, v.Reason = "port_down", "nothing listens on "+portDown
		if unitDesc != "" {
			v.Reason += " while " + unitDesc
		}
		v.Reason += listensNow
	case probeFailed != "":
		v.Status, v.Reason = "probe_failed", "probe of "+probeFailed
	default:
		v.Status, v.Reason = "ok", "every layer is healthy"
	}
	if v.Unit != nil && v.Unit.SocketActivated != "" {
		v.Reason += fmt.Sprintf(" (%s idle, socket activated by %s)", c.Unit, v.Unit.SocketActivated)
	}
	return v
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
	if l.unit == nil || l.unit.ActiveState != "inactive" || l.unit.LoadState != "loaded" {
		return ""
	}
	if len(c.Ports) > 0 {
		if !l.portsOK || len(l.ports) < len(c.Ports) {
			return ""
		}
		for _, r := range l.ports {
			if !r.listening || r.owned == ownedByOther {
				return ""
			}
		}
	}
	for _, sock := range l.sockets {
		if sock.ActiveState == "active" {
			return sock.Name
		}
	}
	return ""
}

func portName(p config.Port) string {
	addr := p.Address
	if addr == "" {
		addr = "*"
	}
	return fmt.Sprintf("%s %s", p.Proto, net.JoinHostPort(addr, strconv.Itoa(p.Port)))
}

// seenListeners lists, per expected port, the listeners that matched it
// and their owners, for /checks.
//
// processOf, when not nil, names the process behind a listener that is in
// no known unit (its socket inode).
func seenListeners(c config.Check, listeners []listeners.Listener, idx listenerIndex, owners []owner.Owner, processOf func(inode uint64) string) [][]SeenListener {
	out := make([][]SeenListener, len(c.Ports))
	for i, p := range c.Ports {
		var want netip.Addr
		if p.Address != "" {
			want, _ = netip.ParseAddr(p.Address)
		}
		for _, j := range idx[portKey{p.Proto, uint16(p.Port)}] {
			if !portMatches(p, want, listeners[j]) {
				continue
			}
			s := SeenListener{Address: netip.AddrPortFrom(listeners[j].Addr, listeners[j].Port).String()}
			if j < len(owners) {
				s.Owner = owners[j].Unit
				if s.Owner == "" && owners[j].Foreign {
					s.Owner = "(a process outside every known unit)"
					if processOf != nil {
						if p := processOf(listeners[j].Inode); p != "" {
							s.Owner = p + ", outside every known unit"
						}
					}
				}
			}
			out[i] = append(out[i], s)
		}
	}
	return out
}

// ownersOf names who holds a port, from what was seen on it.
func ownersOf(seen []SeenListener) string {
	var names []string
	for _, s := range seen {
		if s.Owner != "" && !slices.Contains(names, s.Owner) {
			names = append(names, s.Owner)
		}
	}
	return strings.Join(names, ", ")
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

// listensOf returns where unit holds listeners, as "proto address:port",
// sorted and distinct: a port that is down is often one the service moved.
func listensOf(unit string, listeners []listeners.Listener, owners []owner.Owner) []string {
	var out []string
	for i, l := range listeners {
		if i < len(owners) && owners[i].Unit == unit {
			out = append(out, l.Proto+" "+netip.AddrPortFrom(l.Addr, l.Port).String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

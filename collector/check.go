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
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-exporter/warden_exporter/config"
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
func PortMatches(p config.Port, l Listener) bool {
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
func portMatches(p config.Port, want netip.Addr, l Listener) bool {
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

func indexListeners(ls []Listener) listenerIndex {
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
func joinPorts(check config.Check, listeners []Listener, idx listenerIndex, owners []Owner, triggers func(string) []string, unitKnown bool) []portResult {
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
			var o Owner
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
func socketTriggers(units *systemdReading) func(string) []string {
	return func(socket string) []string {
		if units != nil {
			if u, ok := units.Unit(socket); ok && len(u.Triggers) > 0 {
				return u.Triggers
			}
		}
		return []string{strings.TrimSuffix(socket, ".socket") + ".service"}
	}
}

// checkDescs are the per-check port metrics and the listener inventory.
type checkDescs struct {
	portListening, portOwned, listenerInfo, listenerDropped *prometheus.Desc
}

func newCheckDescs() checkDescs {
	return checkDescs{
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
			"Listener inventory series left out because of --listeners.max-series.",
			nil, nil),
	}
}

func (d checkDescs) describe(ch chan<- *prometheus.Desc) {
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

// inventory returns the distinct (proto, address, port, unit) series of the
// listeners, sorted, at most max of them, and how many were left out.
func inventory(listeners []Listener, owners []Owner, max int) ([][4]string, int) {
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

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
	"slices"
	"strings"

	"github.com/warden-exporter/warden_exporter/config"
)

// The port layer's join: which listeners (of the namespace a check looks
// in) satisfy each expected port, and who holds them.

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

// Ownership says who holds an expected port: the check's unit (or the
// socket unit that activates it), someone else, or not known (nothing
// listens, or its owner cannot be determined).
type Ownership string

// The values of Ownership.
const (
	OwnerUnknown Ownership = "unknown"
	OwnedByUnit  Ownership = "yes"
	OwnedByOther Ownership = "no"
)

// AnyPort is config.AnyPort: any port of the check's own unit.
const AnyPort = config.AnyPort

// portResult is the join of one expected port; a zero owned is unknown.
type portResult struct {
	port      config.Port
	listening bool
	owned     Ownership
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
		r := portResult{port: p, owned: OwnerUnknown}
		var want netip.Addr
		if p.Address != "" {
			want, _ = netip.ParseAddr(p.Address)
		}
		if p.Port == AnyPort {
			out = append(out, joinAnyPort(check, p, want, listeners, owners, triggers))
			continue
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
				r.owned = OwnedByUnit
			case o.Unit != "" || o.Foreign && unitKnown:
				other = true
			default:
				unknown = true
			}
		}
		// Owned if any matching listener is the unit's; not owned only if
		// every matching listener's owner is known and is someone else.
		if r.owned != OwnedByUnit && other && !unknown {
			r.owned = OwnedByOther
		}
		out = append(out, r)
	}
	return out
}

// joinAnyPort is the join of an AnyPort: listening when the unit holds a
// listener of p's proto (on p's address), or when one's owner cannot be
// determined (it may be the unit's: not failed for it); never held by
// someone else, as any port will do.
func joinAnyPort(check config.Check, p config.Port, want netip.Addr, ls []Listener, owners []Owner, triggers func(string) []string) portResult {
	r := portResult{port: p, owned: OwnerUnknown}
	for i, l := range ls {
		if l.Proto != p.Proto || !portMatches(config.Port{Proto: p.Proto, Port: int(l.Port), Address: p.Address}, want, l) {
			continue
		}
		var o Owner
		if i < len(owners) {
			o = owners[i]
		}
		switch {
		case check.Unit != "" && o.Unit != "" && unitOwns(check.Unit, o.Unit, triggers):
			r.listening, r.owned = true, OwnedByUnit
			return r
		case o.Unit == "" && !o.Foreign:
			r.listening = true
		}
	}
	return r
}

// matching returns, per expected port of c, the indexes of the listeners
// of ns that match it (for an AnyPort, those its unit holds).
func matching(c config.Check, ns *Namespace, triggers func(string) []string) [][]int {
	out := make([][]int, len(c.Ports))
	for i, p := range c.Ports {
		var want netip.Addr
		if p.Address != "" {
			want, _ = netip.ParseAddr(p.Address)
		}
		if p.Port == AnyPort {
			for j, l := range ns.Listeners {
				held := j < len(ns.Owners) && ns.Owners[j].Unit != "" && c.Unit != "" && unitOwns(c.Unit, ns.Owners[j].Unit, triggers)
				if held && portMatches(config.Port{Proto: p.Proto, Port: int(l.Port), Address: p.Address}, want, l) {
					out[i] = append(out[i], j)
				}
			}
			continue
		}
		for _, j := range ns.index[portKey{p.Proto, uint16(p.Port)}] {
			if portMatches(p, want, ns.Listeners[j]) {
				out[i] = append(out[i], j)
			}
		}
	}
	return out
}

// seenListeners lists, per expected port, the listeners that matched it
// and their owners, for /checks. strangers say who holds a listener no
// unit is known to hold, by its socket inode.
func seenListeners(c config.Check, ls []Listener, idx listenerIndex, owners []Owner, strangers map[uint64]Stranger, triggers func(string) []string) [][]SeenListener {
	ns := &Namespace{Listeners: ls, Owners: owners, index: idx}
	out := make([][]SeenListener, len(c.Ports))
	for i, js := range matching(c, ns, triggers) {
		for _, j := range js {
			s := SeenListener{Address: netip.AddrPortFrom(ls[j].Addr, ls[j].Port).String()}
			if j < len(owners) {
				s.Owner = owners[j].Unit
			}
			if s.Owner == "" {
				st := strangers[ls[j].Inode]
				uid := ls[j].UID
				s.UID, s.User, s.Cgroup, s.Process, s.PID = &uid, st.User, st.Cgroup, st.Process, st.PID
				if j < len(owners) && owners[j].Foreign {
					s.Owner = strangerName(s, true) + ", outside every known unit"
				}
			}
			out[i] = append(out[i], s)
		}
	}
	return out
}

// listensOf returns where unit holds listeners, as "proto address:port",
// sorted and distinct: a port that is down is often one the service moved.
func listensOf(unit string, listeners []Listener, owners []Owner) []string {
	var out []string
	for i, l := range listeners {
		if i < len(owners) && owners[i].Unit == unit {
			out = append(out, l.Proto+" "+netip.AddrPortFrom(l.Addr, l.Port).String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

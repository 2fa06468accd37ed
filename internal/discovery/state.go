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

package discovery

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// What discovery holds, as the state file keeps it, and its caps.

// The caps of what discovery holds. They bound the state file, and the
// scrape too: a learned unit is an implicit check of a dozen series, a
// learned port three more, and Learn walks them all on every scrape.
const (
	// maxStateUnits: a host with more than a few hundred services holding
	// listeners is rare; 2,000 implicit checks is a fifth of
	// config.MaxChecks.
	maxStateUnits = 2000
	// maxStateUnitPorts keeps one unit that opens listeners without end (a
	// passive FTP server's data ports) from taking the other units' room.
	// Most services hold one to four ports; docker.service publishing 128
	// ports on IPv4 and IPv6 holds 256.
	maxStateUnitPorts = 256
	// maxStatePorts bounds every unit's ports together: 2,000 units of 256
	// ports would be a 150 MB file. With it a state at every cap is at most
	// 3.2 MB as saveLocked encodes it, within maxStateFileBytes, so the exporter
	// never writes a file it would refuse at its next start
	// (TestDiscoveryStateAtTheCapsFitsTheFile).
	maxStatePorts = 8192
)

// discoveryState is what the state file holds.
type discoveryState struct {
	Version int                     `json:"version"`
	Units   map[string]*learnedUnit `json:"units"`
}

type learnedUnit struct {
	LastLoaded time.Time               `json:"last_loaded"`
	Ports      map[string]*learnedPort `json:"ports"`
	// RunStart is the ActiveEnterTimestamp of the run the unit was last
	// seen listening in, and Moves how many runs in a row it came up on
	// ports never seen before (see noteRun).
	RunStart time.Time `json:"run_start,omitzero"`
	Moves    int       `json:"moves,omitempty"`
	// Varies are the protos ("tcp", "udp") whose ports vary at each
	// start: the check expects any port of the unit's own of each.
	Varies []string `json:"varies,omitempty"`
}

type learnedPort struct {
	Proto     string    `json:"proto"`
	Address   string    `json:"address"`
	Port      int       `json:"port"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Learned   bool      `json:"learned"`
	// DetourSince marks a port the unit moved to and then came back from
	// (80 -> 8080 -> 80: 8080), from the return on: once gone, it is no
	// longer expected, even if it was still held at the return (a reload
	// binds the new sockets before it closes the old). Cleared after
	// RelearnAfter: a port held that long beside the other is the
	// service's.
	DetourSince time.Time `json:"detour_since,omitzero"`
}

const discoveryStateVersion = 1

// learnedPortValid checks a port as Learn would note it, and returns the
// address as Learn spells it: "" (a socket unit's port-only Listen=) or
// an IP address without a zone, v4-mapped addresses unmapped.
func learnedPortValid(proto, address string, port int) (string, error) {
	if proto != "tcp" && proto != "udp" {
		return "", fmt.Errorf("has proto %q, not tcp or udp", proto)
	}
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("has port %d, out of range 1-65535", port)
	}
	if address == "" {
		return "", nil
	}
	addr, err := netip.ParseAddr(address)
	if err != nil || addr.Zone() != "" {
		return "", fmt.Errorf("has address %q, not an IP address without a zone", address)
	}
	return addr.Unmap().String(), nil
}

// learnedKey is how a learned port is keyed in its unit.
func learnedKey(proto, address string, port int) string {
	return proto + " " + address + " " + strconv.Itoa(port)
}

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
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// BenchmarkOwnersAndJoin100Checks is the per-scrape cost of ownership, the
// port join and the verdicts of 100 checks once the cgroup index is warm: 100 units,
// 150 listeners (100 of them the checks' ports), resolved by cgroup id.
func BenchmarkOwnersAndJoin100Checks(b *testing.B) {
	o := owner.New("/proc")
	root, err := owner.CgroupMount("/proc/self/mountinfo")
	if err != nil {
		b.Skip("no cgroup v2 hierarchy:", err)
	}
	// Every unit's ControlGroup is the benchmark's own cgroup: a real
	// directory to stat, one inode for all (the lookup cost is the same).
	data, _ := os.ReadFile("/proc/self/cgroup")
	own := ""
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			own = rest
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(root+own, &st); err != nil {
		b.Fatal(err)
	}
	id := st.Ino
	var all []systemd.Unit
	cfg := &config.Config{}
	var ls []listeners.Listener
	for i := range 100 {
		name := fmt.Sprintf("svc-%d.service", i)
		all = append(all, systemd.Unit{Name: name, LoadState: "loaded", ActiveState: "active", ControlGroup: own})
		cfg.Checks = append(cfg.Checks, config.Check{Name: name, Unit: name, Ports: []config.Port{{Port: 10000 + i, Proto: "tcp"}}})
		ls = append(ls, listeners.Listener{Proto: "tcp", Addr: netip.MustParseAddr("0.0.0.0"), Port: uint16(10000 + i), CgroupID: id})
	}
	for i := range 50 {
		ls = append(ls, listeners.Listener{Proto: "udp", Addr: netip.MustParseAddr("127.0.0.1"), Port: uint16(20000 + i), CgroupID: id})
	}
	units := systemd.SnapshotOf(all...)
	names := checkUnits(cfg)
	ctx := context.Background()
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	o.Owners(ctx, units, ls, names) // warm the index
	b.ReportAllocs()
	for b.Loop() {
		owners := o.Owners(ctx, units, ls, names)
		seen := &observation{units: units, listeners: &listeners.Reading{Listeners: ls}, owners: owners, knownUnits: known, probes: probeReading{read: true}}
		verdict.Evaluate(cfg.Checks, nil, seen.judgeInput())
	}
}

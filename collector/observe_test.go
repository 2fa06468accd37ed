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
	"bytes"
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// panickingNetns reads the host's listeners and panics in a unit's
// network namespace: a read that runs after the layers, while the
// observation joins them.
type panickingNetns struct{}

func (panickingNetns) Read(context.Context) (*listeners.Reading, error) {
	return &listeners.Reading{Backend: "netlink"}, nil
}

func (panickingNetns) InNetnsOf(context.Context, int) ([]listeners.Listener, uint64, error) {
	panic("a bug in the namespace read")
}

type oneUnit struct{ units *systemd.Snapshot }

func (u oneUnit) Snapshot(context.Context, []string) (*systemd.Snapshot, error) { return u.units, nil }

// The watch and a scrape observe through one path (look), and a panic
// anywhere in it is the evaluation's error: before, the watch composed its
// own observation outside any recover (a panic in a unit's namespace read
// ended the process), and a scrape without a deadline had none either.
func TestEveryEvaluationContainsPanicsOfTheObservation(t *testing.T) {
	units := systemd.SnapshotOf(systemd.Unit{Name: "ns.service", LoadState: "loaded", ActiveState: "active", SubState: "running", MainPID: 1})
	cfg := &config.Config{Checks: []config.Check{{Name: "ns", Unit: "ns.service", Netns: "unit", Ports: []config.Port{{Port: 80, Proto: "tcp"}}}}}
	var logs bytes.Buffer
	e, err := New(Options{Logger: log.NewLogfmtLogger(&logs), Config: func() *config.Config { return cfg },
		Systemd: oneUnit{units}, Listeners: panickingNetns{}, WatchInterval: MinWatchInterval})
	if err != nil {
		t.Fatal(err)
	}
	e.watchOnce(context.Background(), units)
	if !strings.Contains(logs.String(), "a bug in the namespace read") {
		t.Errorf("the watch's panic was not logged:\n%s", logs.String())
	}
	if _, err := e.Evaluate(context.Background()); err == nil {
		t.Error("a scrape whose observation panicked returned no error")
	}
}

// Observe itself finds the listeners whose holders a verdict names (on a
// check's port, no unit known to hold them), each socket once, before the
// judge runs: it no longer asks the judge what to read next.
func TestUnownedListenersOnTheChecksPortsAreFoundBeforeJudging(t *testing.T) {
	l := func(proto string, port uint16, inode uint64) listeners.Listener {
		return listeners.Listener{Proto: proto, Addr: netip.MustParseAddr("0.0.0.0"), Port: port, Inode: inode}
	}
	o := &observation{
		checks: []config.Check{
			{Name: "web", Unit: "web.service", Ports: []config.Port{{Port: 80, Proto: "tcp"}}},
			{Name: "db", Unit: "db.service", Ports: []config.Port{{Port: 5432, Proto: "tcp"}}},
			{Name: "db-too", Ports: []config.Port{{Port: 5432, Proto: "tcp", Address: "127.0.0.1"}}},
			{Name: "dns", Unit: "dns.service", Ports: []config.Port{{Port: 53, Proto: "udp"}}},
			{Name: "any", Unit: "job.service", Ports: []config.Port{{Port: config.AnyPort, Proto: "tcp"}}},
			{Name: "unread", Unit: "ns.service", Netns: "unit", Ports: []config.Port{{Port: 9000, Proto: "tcp"}}},
		},
		listeners: &listeners.Reading{Listeners: []listeners.Listener{
			l("tcp", 80, 1),   // web's own
			l("tcp", 5432, 2), // nobody's known: a stranger
			l("tcp", 6379, 3), // on no check's port
			l("tcp", 53, 4),   // a tcp 53: dns expects udp
			l("udp", 53, 5),   // foreign: outside every unit, still named
			l("tcp", 9000, 6), // the host's, but the check looks in its unit's namespace
			l("tcp", 7000, 7), // an any-port check matches only its unit's own
		}},
		owners: []owner.Owner{{Unit: "web.service"}, {}, {}, {}, {Foreign: true}, {}, {}},
	}
	var got []uint64
	for _, l := range o.unownedOnChecksPorts() {
		got = append(got, l.Inode)
	}
	if want := []uint64{2, 5}; !slices.Equal(got, want) {
		t.Errorf("looked up %v, want %v", got, want)
	}
}

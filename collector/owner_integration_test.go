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
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/servicestest"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// TestHelperListener is not a test: started by the tests below as a unit's
// process (WARDEN_HELPER_LISTEN=network:address), it listens and waits to
// be stopped, for at most ten minutes.
func TestHelperListener(t *testing.T) {
	spec := os.Getenv("WARDEN_HELPER_LISTEN")
	if spec == "" {
		return // run as part of the suite: nothing to do
	}
	network, addr, _ := strings.Cut(spec, ":")
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	time.Sleep(10 * time.Minute)
}

// runListenerUnit starts a unit whose process listens on addr.
func runListenerUnit(t *testing.T, m *systemdtest.Manager, unit, network, addr string, wrap ...string) {
	t.Helper()
	args := []string{"--setenv=WARDEN_HELPER_LISTEN=" + network + ":" + addr}
	args = append(args, wrap...)
	args = append(args, os.Args[0], "-test.run=^TestHelperListener$")
	m.Run(t, unit, args...)
}

func newPortExporter(t *testing.T, m *systemdtest.Manager, mode string, cfg *config.Config) *Exporter {
	t.Helper()
	sd := newTestSystemdSource(t, privateEndpoint(m))
	ls, err := listeners.New(listeners.Options{Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ls.Close)
	e, err := New(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return cfg }, Systemd: sd, Listeners: ls})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestOwnershipAgainstRealUnits(t *testing.T) {
	m := systemdtest.Start(t)
	testenv.LookPath(t, "ip", "apt-get install iproute2")
	port := func() string { return strconv.Itoa(testenv.FreePort(t)) }
	pWeb, pSock, pSquat, pSelf, pNs := port(), port(), port(), port(), port()

	runListenerUnit(t, m, "own-web", "tcp", "127.0.0.1:"+pWeb)
	m.Run(t, "own-sock", "--socket-property=ListenStream=127.0.0.1:"+pSock, "sleep", "infinity")
	runListenerUnit(t, m, "own-squatter", "tcp", "127.0.0.1:"+pSquat)
	// A unit in a network namespace of its own, with loopback up.
	runListenerUnit(t, m, "own-ns", "tcp", "127.0.0.1:"+pNs, "unshare", "-n", "sh", "-c", `ip link set lo up && exec "$0" "$@"`)
	self, err := net.Listen("tcp", "127.0.0.1:"+pSelf)
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	servicestest.WaitDial(t, "127.0.0.1:"+pWeb)
	servicestest.WaitDial(t, "127.0.0.1:"+pSquat)

	tcp := func(p string) config.Port { n, _ := strconv.Atoi(p); return config.Port{Port: n, Proto: "tcp"} }
	cfg := &config.Config{Checks: []config.Check{
		{Name: "web", Unit: "own-web.service", Ports: []config.Port{tcp(pWeb)}},
		{Name: "sock", Unit: "own-sock.service", Ports: []config.Port{tcp(pSock)}},
		{Name: "squatted", Unit: "own-web.service", Ports: []config.Port{tcp(pSquat)}},
		{Name: "self", Unit: "own-web.service", Ports: []config.Port{tcp(pSelf)}},
		{Name: "ns-host", Unit: "own-ns.service", Ports: []config.Port{tcp(pNs)}},
		{Name: "ns-unit", Unit: "own-ns.service", Netns: "unit", Ports: []config.Port{tcp(pNs)}},
		{Name: "missing", Unit: "own-web.service", Ports: []config.Port{{Port: 1, Proto: "tcp"}}},
	}}
	type want struct {
		check     string
		listening float64
		owned     string // "1", "0" or "absent"
	}
	check := func(t *testing.T, s scraped, wants []want) {
		t.Helper()
		for _, w := range wants {
			l, ok := s.value("warden_port_listening", "check="+w.check)
			if !ok || l != w.listening {
				t.Errorf("%s: port_listening %v (present %v), want %v", w.check, l, ok, w.listening)
			}
			o, ok := s.value("warden_port_owned", "check="+w.check)
			got := "absent"
			if ok {
				got = strconv.FormatFloat(o, 'f', -1, 64)
			}
			if got != w.owned {
				t.Errorf("%s: port_owned %s, want %s", w.check, got, w.owned)
			}
		}
	}

	t.Run("netlink, by cgroup id", func(t *testing.T) {
		e := newPortExporter(t, m, "netlink", cfg)
		var s scraped
		systemdtest.WaitFor(t, 20*time.Second, "the namespaced unit to listen", func() bool {
			s = gatherExporter(t, e)
			v, _ := s.value("warden_port_listening", "check=ns-unit")
			return v == 1
		})
		check(t, s, []want{
			{"web", 1, "1"},
			{"sock", 1, "1"}, // held by own-sock.socket, which activates own-sock.service
			{"squatted", 1, "0"},
			{"self", 1, "0"}, // the test process: in no unit, certainly not own-web's
			{"ns-host", 0, "absent"},
			{"ns-unit", 1, "1"},
			{"missing", 0, "absent"},
		})
		if v, ok := s.value("warden_listener_info", "port="+pWeb, "unit=own-web.service", "proto=tcp", "address=127.0.0.1"); !ok || v != 1 {
			t.Error("inventory lacks own-web's listener")
		}
		if _, ok := s.value("warden_listener_info", "port="+pSock, "unit=own-sock.socket"); !ok {
			t.Error("inventory lacks own-sock.socket's listener")
		}
		if _, ok := s.value("warden_listener_info", "port="+pSelf, "unit="); !ok {
			t.Error("a listener outside every unit is in the inventory with unit=\"\"")
		}
		if _, ok := s.value("warden_listener_info", "port="+pNs); ok {
			t.Error("the inventory is of the host's namespace only")
		}
	})

	t.Run("procfs, by the units' fds", func(t *testing.T) {
		if os.Geteuid() != 0 {
			testenv.Skip(t, "reading other processes' fds needs root")
		}
		e := newPortExporter(t, m, "procfs", cfg)
		s := gatherExporter(t, e)
		check(t, s, []want{
			{"web", 1, "1"},
			{"sock", 1, "1"},          // by own-sock.socket's Listen=
			{"squatted", 1, "absent"}, // only the checks' units' fds are read
			{"self", 1, "absent"},
			{"ns-host", 0, "absent"},
			{"missing", 0, "absent"},
		})
		if v, _ := s.value("warden_listeners_source_info", "source=procfs"); v != 1 {
			t.Error("warden_listeners_source_info must say procfs")
		}
	})

	t.Run("the unit stops: its port goes, the squatter stays", func(t *testing.T) {
		e := newPortExporter(t, m, "netlink", cfg)
		m.Systemctl(t, "stop", "own-web.service")
		s := gatherExporter(t, e)
		check(t, s, []want{{"web", 0, "absent"}, {"squatted", 1, "0"}})
	})
}

func gatherExporter(t *testing.T, e *Exporter) scraped {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mfs, err := e.Gather(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return indexFamilies(mfs)
}

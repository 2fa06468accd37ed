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
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/discovery"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/servicestest"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// TestHelperJob is not a test: started by the tests below as a unit's
// process (WARDEN_HELPER_JOB=address,file), it listens on address until
// file exists, then exits 0 (or 1 when the file says "fail"): a timer's
// job serving a port while it runs. At most ten minutes.
func TestHelperJob(t *testing.T) {
	spec := os.Getenv("WARDEN_HELPER_JOB")
	if spec == "" {
		return // run as part of the suite: nothing to do
	}
	addr, stop, _ := strings.Cut(spec, ",")
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		// Empty is not yet written: os.WriteFile creates the file, then
		// writes it (a job that took it for "done" ended well, and the
		// test waiting for its failure timed out under CI's busy loops).
		if b, err := os.ReadFile(stop); err == nil && len(b) > 0 {
			if strings.TrimSpace(string(b)) == "fail" {
				t.Fatal("told to fail")
			}
			return
		}
	}
}

// TestHelperRandomPort is not a test: started as a unit's process
// (WARDEN_HELPER_RANDOM_PORT=file), it listens on 127.0.0.1 on a random
// port between 10000 and the kernel's ephemeral range, writes the port to
// file, and waits to be stopped (ten minutes at most): a service whose
// port changes at each start.
func TestHelperRandomPort(t *testing.T) {
	file := os.Getenv("WARDEN_HELPER_RANDOM_PORT")
	if file == "" {
		return
	}
	lo, _ := testenv.EphemeralRange(t)
	for range 100 {
		port := 10000 + rand.IntN(lo-10000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // taken: another
		}
		defer l.Close()
		if err := os.WriteFile(file+".tmp", []byte(strconv.Itoa(port)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Minute)
		return
	}
	t.Fatal("no free port in 100 tries")
}

// lockedBuffer is a log the exporter writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newLoggingExporter is newFullExporter with its log kept.
func newLoggingExporter(t *testing.T, m *systemdtest.Manager, cfg *config.Config, disc discovery.Options) (*Exporter, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	disc.Logger = log.NewLogfmtLogger(logs)
	ls, err := listeners.New(listeners.Options{Mode: "netlink"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ls.Close)
	e, err := New(Options{Logger: log.NewLogfmtLogger(logs), Config: func() *config.Config { return cfg }, Discovery: disc,
		Probes: probe.New(probe.Options{}), Systemd: newTestSystemdSource(t, privateEndpoint(m)), Listeners: ls})
	if err != nil {
		t.Fatal(err)
	}
	return e, logs
}

// waitVerdict evaluates until check's verdict satisfies cond, for at most
// 30 s, and returns it.
func waitVerdict(t *testing.T, e *Exporter, check, what string, cond func(verdict.Verdict) bool) verdict.Verdict {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, ok := verdicts(t, e)[check]
		if ok && cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s (%s), want %s", check, v.Status, v.Reason, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func status(want verdict.Status) func(verdict.Verdict) bool {
	return func(v verdict.Verdict) bool { return v.Status == want }
}

// A timer's job that serves a port while it runs (a Type=oneshot service
// started by a .timer): running it is activating/start, between runs
// inactive/dead. Before, discovery learned it while it ran, then judged
// it service_down during runs and service_and_port_down between them,
// paging forever. Running it is up; between runs (last run a success) it
// is up with no port expected (and no port series); a run that fails is
// down; a configured check of the job is judged the same.
func TestTimerJobThatListensIsUpBetweenRuns(t *testing.T) {
	m := systemdtest.Start(t)
	port := testenv.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	stop := filepath.Join(t.TempDir(), "stop")
	writeUnits(t, m, map[string]string{
		// The timer starts the job a moment after it starts, then not for
		// an hour: the test runs the job again by hand.
		"tj.timer": "[Timer]\nOnActiveSec=1s\nAccuracySec=1ms\nOnUnitInactiveSec=1h\n",
		"tj.service": "[Service]\nType=oneshot\nEnvironment=WARDEN_HELPER_JOB=" + addr + "," + stop + "\n" +
			"ExecStart=" + os.Args[0] + " -test.run=^TestHelperJob$\n",
	})
	cfg := &config.Config{Checks: []config.Check{{Name: "job", Unit: "tj.service", Ports: []config.Port{{Port: port, Proto: "tcp", Address: "127.0.0.1"}}}}}
	e, _ := newLoggingExporter(t, m, cfg, discovery.Options{})
	zero, logs := newLoggingExporter(t, m, config.Default(), discovery.Options{MinAge: time.Nanosecond})

	m.Systemctl(t, "start", "tj.timer")
	servicestest.WaitDial(t, addr)
	if got := m.Show(t, "tj.service", "ActiveState") + "/" + m.Show(t, "tj.service", "SubState"); got != "activating/start" {
		t.Fatalf("premise: a running oneshot job is activating/start, systemd says %s", got)
	}

	t.Run("running", func(t *testing.T) {
		v := waitVerdict(t, zero, "tj.service", "learned, ok", func(v verdict.Verdict) bool { return len(v.Ports) == 1 && v.Status == verdict.OK })
		if !v.Implicit || !v.Unit.Up || !v.Unit.OneshotRunning || !strings.Contains(v.Reason, "oneshot job, running") {
			t.Errorf("the running job, learned: %+v, reason %q", v.Unit, v.Reason)
		}
		waitVerdict(t, e, "job", "ok", status(verdict.OK))
		if !strings.Contains(logs.String(), `msg="discovery learned a port: the unit's check expects it from now on" unit=tj.service port="tcp 127.0.0.1:`+strconv.Itoa(port)+`"`) {
			t.Errorf("no log line says the port was learned:\n%s", logs)
		}
	})

	t.Run("between runs", func(t *testing.T) {
		if err := os.WriteFile(stop, []byte("done"), 0o644); err != nil {
			t.Fatal(err)
		}
		systemdtest.WaitFor(t, 20*time.Second, "the job to end", func() bool { return m.Show(t, "tj.service", "ActiveState") == "inactive" })
		if r := m.Show(t, "tj.service", "Result"); r != "success" {
			t.Fatalf("premise: the job ended with Result=%s", r)
		}
		for _, tc := range []struct {
			e     *Exporter
			check string
		}{{zero, "tj.service"}, {e, "job"}} {
			v := waitVerdict(t, tc.e, tc.check, "ok, idle between runs", func(v verdict.Verdict) bool { return v.Unit.ActiveState == "inactive" })
			if v.Status != verdict.OK || v.Unit.TimerIdle != "tj.timer" || !v.Unit.Up || len(v.Ports) != 1 || !v.Ports[0].BetweenRuns || v.Ports[0].Listening {
				t.Errorf("%s between runs: %s (%s) %+v %+v", tc.check, v.Status, v.Reason, v.Unit, v.Ports)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			mfs, err := tc.e.Gather(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			s := indexFamilies(mfs)
			if up, _ := s.value("warden_service_up", "check="+tc.check); up != 1 {
				t.Errorf("%s: warden_service_up %v between runs, want 1", tc.check, up)
			}
			// No port series: WardenServicePortDown is port_listening 0
			// while service_up 1.
			if got := s.series("warden_port_listening", "check="+tc.check); len(got) != 0 {
				t.Errorf("%s: warden_port_listening between runs %+v, want none (the port is expected while it runs)", tc.check, got)
			}
			learned, ok := s.value("warden_check_learned", "check="+tc.check)
			if want := map[string]float64{"tj.service": 1, "job": 0}[tc.check]; !ok || learned != want {
				t.Errorf("warden_check_learned{check=%s} = %v (present %v), want %v", tc.check, learned, ok, want)
			}
		}
	})

	t.Run("a run that fails is down", func(t *testing.T) {
		if err := os.Remove(stop); err != nil {
			t.Fatal(err)
		}
		m.Systemctl(t, "start", "--no-block", "tj.service")
		servicestest.WaitDial(t, addr)
		waitVerdict(t, zero, "tj.service", "ok while it runs", func(v verdict.Verdict) bool { return v.Unit.OneshotRunning && v.Status == verdict.OK })
		if err := os.WriteFile(stop, []byte("fail"), 0o644); err != nil {
			t.Fatal(err)
		}
		systemdtest.WaitFor(t, 20*time.Second, "the job to fail", func() bool { return m.Show(t, "tj.service", "ActiveState") == "failed" })
		for _, tc := range []struct {
			e     *Exporter
			check string
		}{{zero, "tj.service"}, {e, "job"}} {
			v := waitVerdict(t, tc.e, tc.check, "service_and_port_down", status(verdict.ServiceAndPortDown))
			if v.Unit.Up || v.Unit.TimerIdle != "" {
				t.Errorf("%s: a failed job is not idle: %+v", tc.check, v.Unit)
			}
		}
	})
}

// A service that binds a random port (outside the ephemeral range) at each
// start: before, each restart paged for an hour (until
// --discovery.relearn-after) and the expected set grew (23952, 24261,
// ...). After two restarts onto new ports, discovery says its ports vary
// and expects any tcp port of its own: ok at each restart, down when it
// listens on none, kept in the state file.
func TestRandomPortServiceIsLearnedAsVarying(t *testing.T) {
	m := systemdtest.Start(t)
	lo, hi := testenv.EphemeralRange(t)
	portFile := filepath.Join(t.TempDir(), "port")
	writeUnits(t, m, map[string]string{
		"rp.service": "[Service]\nEnvironment=WARDEN_HELPER_RANDOM_PORT=" + portFile + "\nExecStart=" + os.Args[0] + " -test.run=^TestHelperRandomPort$\n",
	})
	state := filepath.Join(t.TempDir(), "learned.json")
	disc := discovery.Options{MinAge: time.Nanosecond, EphemeralPorts: [2]int{lo, hi}, StateFile: state}
	e, logs := newLoggingExporter(t, m, config.Default(), disc)

	var seen []int
	// start (re)starts the service until it is on a port it never had
	// (the premise: a new port at each start), and waits until it listens.
	start := func(verb string) int {
		t.Helper()
		for range 5 {
			os.Remove(portFile)
			m.Systemctl(t, verb, "rp.service")
			var port int
			systemdtest.WaitFor(t, 20*time.Second, "rp.service to listen", func() bool {
				b, err := os.ReadFile(portFile)
				port, _ = strconv.Atoi(string(b))
				return err == nil && port > 0
			})
			if !slices.Contains(seen, port) {
				seen = append(seen, port)
				servicestest.WaitDial(t, "127.0.0.1:"+strconv.Itoa(port))
				return port
			}
			verb = "restart"
		}
		t.Fatalf("five starts on ports already seen %v", seen)
		return 0
	}
	p1 := start("start")
	waitVerdict(t, e, "rp.service", "ok on its first port", func(v verdict.Verdict) bool {
		return v.Status == verdict.OK && len(v.Ports) == 1 && v.Ports[0].Port == p1
	})
	// One move is a move (a port changed in its configuration): the old
	// port is down until the service proves it varies.
	start("restart")
	waitVerdict(t, e, "rp.service", "port_down on its first port after one move", func(v verdict.Verdict) bool {
		return v.Status == verdict.PortDown && slices.ContainsFunc(v.Ports, func(p verdict.PortVerdict) bool { return p.Port == p1 && !p.Listening })
	})
	start("restart")
	v := waitVerdict(t, e, "rp.service", "ok, any tcp port of its own", func(v verdict.Verdict) bool { return v.Status == verdict.OK })
	if len(v.Ports) != 1 || !v.Ports[0].AnyPort || v.Ports[0].Proto != "tcp" || !v.Ports[0].Listening || v.Ports[0].Owned != verdict.OwnedByUnit {
		t.Errorf("after two moves: %+v", v.Ports)
	}
	if !strings.Contains(v.Reason, "its ports vary at each start: any tcp port of its own is expected") {
		t.Errorf("reason %q does not say the ports vary", v.Reason)
	}
	if !strings.Contains(logs.String(), `msg="discovery: the unit's ports vary at each start`) || !strings.Contains(logs.String(), "unit=rp.service protos=tcp") {
		t.Errorf("no log line says the ports vary:\n%s", logs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mfs, err := e.Gather(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := indexFamilies(mfs).series("warden_port_listening", "check=rp.service"); len(got) != 1 || got[0].labels["port"] != "any" || got[0].metric.GetGauge().GetValue() != 1 {
		t.Errorf("warden_port_listening{check=rp.service}: %+v, want one series, port any, 1", got)
	}

	// Each restart from now on is ok, with no port but the current one
	// kept.
	for range 2 {
		p := start("restart")
		waitVerdict(t, e, "rp.service", "ok after a restart, on its new port", func(v verdict.Verdict) bool {
			return v.Status == verdict.OK && len(v.Ports) == 1 && len(v.Ports[0].Seen) == 1 && v.Ports[0].Seen[0].Address == "127.0.0.1:"+strconv.Itoa(p)
		})
	}
	e.Close()
	b, err := os.ReadFile(state)
	if err != nil || !strings.Contains(string(b), `"varies": [`) || strings.Count(string(b), `"proto": "tcp"`) > 1 {
		t.Errorf("the state file must keep that the ports vary, and no more than the current port: %v\n%s", err, b)
	}

	// A restarted exporter remembers, and a service listening nowhere is
	// down.
	again, _ := newLoggingExporter(t, m, config.Default(), discovery.Options{MinAge: time.Hour, EphemeralPorts: [2]int{lo, hi}, StateFile: state})
	waitVerdict(t, again, "rp.service", "ok from the state file", func(v verdict.Verdict) bool {
		return v.Status == verdict.OK && len(v.Ports) == 1 && v.Ports[0].AnyPort
	})
	m.Systemctl(t, "stop", "rp.service")
	v = waitVerdict(t, again, "rp.service", "service_and_port_down", status(verdict.ServiceAndPortDown))
	if !strings.Contains(v.Reason, "nothing listens on a tcp port (any: its ports vary at each start)") {
		t.Errorf("reason %q", v.Reason)
	}
}

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
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// runExporter runs e's background work (the watch, interval probes) until
// the test ends.
func runExporter(t *testing.T, e *Exporter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the exporter's background work did not stop")
		}
	})
}

// writeUnits writes unit files (not transient units: one of those is gone
// once stopped) and reloads the manager.
func writeUnits(t *testing.T, m *systemdtest.Manager, units map[string]string) {
	t.Helper()
	dir := filepath.Join(m.RuntimeDir, "config", "systemd", "user")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range units {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m.Systemctl(t, "daemon-reload")
}

// scrapeURL reads a Prometheus text endpoint.
func scrapeURL(t *testing.T, url string) scraped {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return scraped{families: families}
}

// waitGather scrapes e until cond holds (at most 20 s).
func waitGather(t *testing.T, e *Exporter, what string, cond func(scraped) bool) scraped {
	t.Helper()
	var s scraped
	systemdtest.WaitFor(t, 20*time.Second, what, func() bool {
		s = gatherExporter(t, e)
		return cond(s)
	})
	return s
}

// Two scrapes 15 s apart; between them one unit is restarted by hand and
// another is stopped and started again within 2 s. Both scrapes see every
// check ok; the counters say what happened between them, where
// NRestarts (only systemd's own restarts) and node_exporter, scraped at
// the same instants, see nothing.
func TestWatchSeesRestartsBetweenScrapes(t *testing.T) {
	m := systemdtest.Start(t)
	writeUnits(t, m, map[string]string{
		"w-restarted.service": "[Service]\nExecStart=/bin/sleep infinity\n",
		"w-bounced.service":   "[Service]\nExecStart=/bin/sleep infinity\n",
	})
	m.Systemctl(t, "start", "w-restarted.service", "w-bounced.service")
	node := m.StartNodeExporter(t)
	cfg := &config.Config{Checks: []config.Check{{Name: "restarted", Unit: "w-restarted.service"}, {Name: "bounced", Unit: "w-bounced.service"}}}
	e, err := New(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return cfg }, Systemd: newTestSystemdSource(t, privateEndpoint(m)), WatchInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runExporter(t, e)
	allOK := func(s scraped) bool {
		a, _ := s.value("warden_check_status", "check=restarted", "status=ok")
		b, _ := s.value("warden_check_status", "check=bounced", "status=ok")
		return a == 1 && b == 1
	}
	before := waitGather(t, e, "both checks ok", allOK)
	nodeBefore := scrapeURL(t, "http://"+node+"/metrics")
	first := time.Now()

	m.Systemctl(t, "restart", "w-restarted.service")
	m.Systemctl(t, "stop", "w-bounced.service")
	time.Sleep(time.Second)
	m.Systemctl(t, "start", "w-bounced.service")
	time.Sleep(time.Until(first.Add(15 * time.Second)))

	after := gatherExporter(t, e)
	nodeAfter := scrapeURL(t, "http://"+node+"/metrics")
	if !allOK(before) || !allOK(after) {
		t.Fatal("both scrapes must see both checks ok: the point is what happened between them")
	}
	for _, tc := range []struct{ check, unit string }{{"restarted", "w-restarted.service"}, {"bounced", "w-bounced.service"}} {
		t.Run(tc.check, func(t *testing.T) {
			for _, state := range []string{"inactive", "active"} {
				b, _ := before.value("warden_unit_state_changes_total", "unit="+tc.unit, "state="+state)
				a, ok := after.value("warden_unit_state_changes_total", "unit="+tc.unit, "state="+state)
				if !ok || a <= b {
					t.Errorf("warden_unit_state_changes_total{state=%q}: %v then %v, want an increase", state, b, a)
				}
			}
			down := func(s scraped) float64 {
				sum := 0.0
				for _, st := range []string{"service_down", "port_down", "service_and_port_down", "foreign_listener", "probe_failed"} {
					v, _ := s.value("warden_check_status_changes_total", "check="+tc.check, "status="+st)
					sum += v
				}
				return sum
			}
			if b, a := down(before), down(after); a <= b {
				t.Errorf("warden_check_status_changes_total{status!=\"ok\"}: %v then %v, want an increase", b, a)
			}
			rb, _ := before.value("warden_unit_restarts_total", "unit="+tc.unit)
			ra, _ := after.value("warden_unit_restarts_total", "unit="+tc.unit)
			if ra != rb {
				t.Errorf("NRestarts moved (%v -> %v): it counts only systemd's own restarts", rb, ra)
			}
			for _, state := range []string{"active", "inactive", "failed", "activating", "deactivating"} {
				b, _ := nodeBefore.value("node_systemd_unit_state", "name="+tc.unit, "state="+state)
				a, _ := nodeAfter.value("node_systemd_unit_state", "name="+tc.unit, "state="+state)
				if a != b {
					t.Errorf("node_exporter saw a difference in state %s (%v -> %v): the side by side assumes it sees none", state, b, a)
				}
			}
			b, _ := nodeBefore.value("node_systemd_service_restart_total", "name="+tc.unit)
			a, _ := nodeAfter.value("node_systemd_service_restart_total", "name="+tc.unit)
			if a != b {
				t.Errorf("node_exporter's restart count moved (%v -> %v)", b, a)
			}
		})
	}
}

// A service with Restart=always that dies by SIGKILL about every second:
// scrapes that all see it active still see it fail, by systemd's Result,
// between them.
func TestCrashesRestartUndoesAreCounted(t *testing.T) {
	m := systemdtest.Start(t)
	writeUnits(t, m, map[string]string{
		// systemd reads $$ as $: the shell kills itself.
		"w-crash.service": "[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart=/bin/sh -c 'sleep 1; kill -KILL $$$$'\nRestart=always\nRestartSec=100ms\n",
	})
	m.Systemctl(t, "start", "w-crash.service")
	cfg := &config.Config{Checks: []config.Check{{Name: "crash", Unit: "w-crash.service"}}}
	e, err := New(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return cfg }, Systemd: newTestSystemdSource(t, privateEndpoint(m)), WatchInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runExporter(t, e)
	active := func(s scraped) bool {
		v, _ := s.value("warden_unit_state", "unit=w-crash.service", "state=active")
		return v == 1
	}
	// Two scrapes that both see the unit active, with two crashes between
	// them: systemd's own count of restarts, read after the first scrape,
	// grows by 2 before the second (a count of crashes, not a stretch of
	// wall-clock time: a busy machine restarts it later). Each restart
	// follows a crash after the first scrape saw the unit running, and
	// its signals were sent before NRestarts moved, so before the second
	// scrape's ping: that scrape has counted both.
	first := waitGather(t, e, "a scrape that sees w-crash active", active)
	restarts := func() int {
		n, err := strconv.Atoi(m.Show(t, "w-crash.service", "NRestarts"))
		if err != nil {
			t.Fatalf("w-crash's NRestarts: %v", err)
		}
		return n
	}
	before := restarts()
	systemdtest.WaitFor(t, 60*time.Second, "systemd to restart w-crash twice", func() bool { return restarts() >= before+2 })
	second := waitGather(t, e, "a later scrape that sees w-crash active", active)
	b, _ := first.value("warden_unit_failures_total", "unit=w-crash.service", "result=signal")
	a, ok := second.value("warden_unit_failures_total", "unit=w-crash.service", "result=signal")
	if !ok || a < b+2 {
		t.Errorf("warden_unit_failures_total{result=\"signal\"}: %v then %v across 2 restarts after crashes, want at least 2 more", b, a)
	}
	if other, _ := second.value("warden_unit_failures_total", "unit=w-crash.service", "result=exit-code"); other != 0 {
		t.Error("a failure counted under another Result: the unit only dies by SIGKILL")
	}
	down := func(s scraped) float64 {
		v, _ := s.value("warden_check_status_changes_total", "check=crash", "status=service_down")
		return v
	}
	if down(second) <= down(first) {
		t.Errorf("the check's outages between the scrapes were not counted: service_down entered %v then %v times", down(first), down(second))
	}
	t.Logf("NRestarts %d then at least %d; signal failures %v then %v; service_down %v then %v", before, before+2, b, a, down(first), down(second))
}

// A port closed for 3 s and opened again between two scrapes: one
// port_down, and about 3 s down (to the watch's interval).
func TestWatchCountsAPortGoneBetweenScrapes(t *testing.T) {
	addr := testenv.FreeLoopbackAddr(t)
	listen := func() net.Listener {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	l := listen()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	cfg := &config.Config{Checks: []config.Check{{Name: "port", Ports: []config.Port{{Proto: "tcp", Address: "127.0.0.1", Port: p}}}}}
	ls, err := listeners.New(listeners.Options{Mode: "netlink"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ls.Close)
	e, err := New(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return cfg }, Listeners: ls, WatchInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runExporter(t, e)
	ok := func(s scraped) bool {
		v, _ := s.value("warden_check_status", "check=port", "status=ok")
		return v == 1
	}
	before := waitGather(t, e, "the port ok", ok)
	l.Close()
	time.Sleep(3 * time.Second)
	listen()
	time.Sleep(2 * time.Second) // the watch's next look sees it back
	after := waitGather(t, e, "the port ok again", ok)
	b, _ := before.value("warden_check_status_changes_total", "check=port", "status=port_down")
	a, _ := after.value("warden_check_status_changes_total", "check=port", "status=port_down")
	if a != b+1 {
		t.Errorf("port_down entered %v then %v times, want exactly one more", b, a)
	}
	db, _ := before.value("warden_check_down_seconds_total", "check=port")
	da, _ := after.value("warden_check_down_seconds_total", "check=port")
	if d := da - db; d < 1.5 || d > 4.5 {
		t.Errorf("warden_check_down_seconds_total grew by %.2f s for a port gone 3 s, want 3 ± 1.5", d)
	}
}

// A probe with an interval runs on its own schedule: two Prometheus
// servers scraping every second do not multiply its dials, and a server
// that refuses for 2 s between scrapes is counted.
func TestIntervalProbesRunOnTheirOwnSchedule(t *testing.T) {
	addr := testenv.FreeLoopbackAddr(t)
	var dials atomic.Int64
	serve := func() net.Listener {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				dials.Add(1)
				io.WriteString(c, "+PONG\r\n")
				c.Close()
			}
		}()
		return l
	}
	l := serve()
	cfg := &config.Config{Checks: []config.Check{{Name: "p", Probes: []config.Probe{{
		Target: addr, Timeout: model.Duration(500 * time.Millisecond), Interval: model.Duration(time.Second), IPProtocol: "auto",
		QueryResponse: []config.Step{{Expect: re(`^\+PONG`)}},
	}}}}}
	e, err := New(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return cfg }, Probes: probe.New(probe.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	runExporter(t, e)
	waitGather(t, e, "the probe's first background run", func(s scraped) bool {
		_, ok := s.value("warden_probe_last_run_timestamp_seconds", "check=p")
		return ok
	})

	// An HA pair: two scrapers, one scrape a second each, for 6 s.
	start, startDials := time.Now(), dials.Load()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for time.Since(start) < 6*time.Second {
				gatherExporter(t, e)
				time.Sleep(time.Second)
			}
		})
	}
	wg.Wait()
	window := time.Since(start)
	got := dials.Load() - startDials
	if limit := int64(window/time.Second) + 2; got > limit || got < 2 {
		t.Errorf("%d dials in %v with two scrapers at 1 s and a 1 s interval, want one per interval (at most %d)", got, window.Round(time.Millisecond), limit)
	}

	// The server refuses for 2 s between two scrapes.
	before := gatherExporter(t, e)
	l.Close()
	time.Sleep(2 * time.Second)
	serve()
	after := waitGather(t, e, "the probe ok again", func(s scraped) bool {
		v, _ := s.value("warden_probe_success", "check=p")
		return v == 1
	})
	b, _ := before.value("warden_probe_failures_total", "check=p", "reason=refused")
	a, _ := after.value("warden_probe_failures_total", "check=p", "reason=refused")
	if a < b+1 {
		t.Errorf("warden_probe_failures_total{reason=\"refused\"}: %v then %v across 2 s of refusals, want an increase", b, a)
	}
}

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
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	dto "github.com/prometheus/client_model/go"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

func anchored(expr string) *regexp.Regexp { return regexp.MustCompile("^(?:" + expr + ")$") }

var defaultInclude = anchored(`.+\.(service|socket)`)

func newTestSystemdSource(t *testing.T, ep systemd.Endpoint) *systemd.Client {
	t.Helper()
	s := systemd.New(systemd.Options{
		Endpoint:    ep,
		Include:     defaultInclude,
		CallTimeout: 5 * time.Second,
		Logger:      log.NewNopLogger(),
	})
	t.Cleanup(s.Close)
	return s
}

func privateEndpoint(m *systemdtest.Manager) systemd.Endpoint {
	return systemd.Endpoint{Path: filepath.Join(m.RuntimeDir, "systemd", "private"), Direct: true}
}

// scraped is one scrape's metrics, indexed for assertions.
type scraped struct {
	families map[string]*dto.MetricFamily
}

func scrapeSource(t *testing.T, src UnitReader, cfg *config.Config, timeout time.Duration) scraped {
	t.Helper()
	e, err := New(Options{Config: func() *config.Config { return cfg }, Systemd: src})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	mfs, err := e.Gather(ctx)
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return indexFamilies(mfs)
}

func indexFamilies(mfs []*dto.MetricFamily) scraped {
	s := scraped{families: map[string]*dto.MetricFamily{}}
	for _, mf := range mfs {
		s.families[mf.GetName()] = mf
	}
	return s
}

// value returns the value of the series of name whose labels include all of
// labels ("k=v" pairs), and whether it exists.
func (s scraped) value(name string, labels ...string) (float64, bool) {
	for _, m := range s.series(name, labels...) {
		switch m := m.metric; {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// labeledSeries is one series and its labels by name.
type labeledSeries struct {
	metric *dto.Metric
	labels map[string]string
}

// series returns the series of name whose labels include all of labels
// ("k=v" pairs), in order.
func (s scraped) series(name string, labels ...string) []labeledSeries {
	var out []labeledSeries
	for _, m := range s.families[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			match = match && have[k] == v
		}
		if match {
			out = append(out, labeledSeries{m, have})
		}
	}
	return out
}

func (s scraped) success(t *testing.T) float64 {
	t.Helper()
	v, ok := s.value("warden_collector_success", "collector=systemd")
	if !ok {
		t.Fatal("no warden_collector_success{collector=systemd}")
	}
	return v
}

// activeState returns the state label of unit's series of family that is
// 1 (warden_unit_state, warden_unit_load_state, warden_unit_file_state),
// and checks that exactly one is; "" when unit has no series.
func (s scraped) activeState(t *testing.T, family, unit string) string {
	t.Helper()
	var ones []string
	n := 0
	for _, m := range s.families[family].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["unit"] != unit {
			continue
		}
		n++
		if m.GetGauge().GetValue() == 1 {
			ones = append(ones, labels["state"])
		}
	}
	if n == 0 {
		return ""
	}
	if len(ones) != 1 {
		t.Fatalf("%s{unit=%q}: want exactly one series at 1, got %v", family, unit, ones)
	}
	return ones[0]
}

// waitScrape scrapes until cond holds (bounded) and returns the last scrape.
func waitScrape(t *testing.T, src UnitReader, cfg *config.Config, what string, cond func(scraped) bool) scraped {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := scrapeSource(t, src, cfg, 5*time.Second)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSystemdAgainstRealManager(t *testing.T) {
	m := systemdtest.Start(t)
	src := newTestSystemdSource(t, privateEndpoint(m))
	sockPort := testenv.FreePort(t)
	m.Run(t, "t-running", "sleep", "infinity")
	m.Run(t, "t-failed", "false")
	m.Run(t, "t-oneshot", "-p", "Type=oneshot", "-p", "RemainAfterExit=yes", "true")
	m.Run(t, "t-esc\\x2dname", "sleep", "infinity")
	m.Run(t, "t-sock", "--socket-property=ListenStream=127.0.0.1:"+strconv.Itoa(sockPort), "sleep", "infinity")
	m.Systemctl(t, "mask", "--runtime", "t-masked.service")
	systemdtest.WaitFor(t, 10*time.Second, "t-failed to fail", func() bool { return m.Show(t, "t-failed.service", "ActiveState") == "failed" })

	cfg := &config.Config{Checks: []config.Check{
		{Name: "running", Unit: "t-running.service"},
		{Name: "failed", Unit: "t-failed.service"},
		{Name: "oneshot", Unit: "t-oneshot.service"},
		{Name: "masked", Unit: "t-masked.service"},
		{Name: "missing", Unit: "t-nothere.service"},
		{Name: "sock", Unit: "t-sock.service"},
	}}
	s := scrapeSource(t, src, cfg, 10*time.Second)
	if s.success(t) != 1 {
		t.Fatal("first scrape against a running manager failed")
	}

	t.Run("running", func(t *testing.T) {
		if got := s.activeState(t, "warden_unit_state", "t-running.service"); got != "active" {
			t.Errorf("state %q", got)
		}
		if v, _ := s.value("warden_service_up", "check=running", "unit=t-running.service"); v != 1 {
			t.Errorf("service_up %v", v)
		}
		if v, ok := s.value("warden_unit_restarts_total", "unit=t-running.service"); !ok || v != 0 {
			t.Errorf("restarts %v %v", v, ok)
		}
		want, _ := strconv.ParseUint(m.Show(t, "t-running.service", "ActiveEnterTimestampMonotonic"), 10, 64)
		got, ok := s.value("warden_unit_active_enter_timestamp_seconds", "unit=t-running.service")
		if !ok || want == 0 || got < float64(time.Now().Add(-time.Hour).Unix()) || got > float64(time.Now().Unix()+1) {
			t.Errorf("active enter timestamp %v (present %v)", got, ok)
		}
		if got := s.activeState(t, "warden_unit_load_state", "t-running.service"); got != "loaded" {
			t.Errorf("load state %q", got)
		}
	})
	t.Run("failed", func(t *testing.T) {
		if got := s.activeState(t, "warden_unit_state", "t-failed.service"); got != "failed" {
			t.Errorf("state %q", got)
		}
		if v, _ := s.value("warden_service_up", "check=failed"); v != 0 {
			t.Errorf("service_up %v", v)
		}
	})
	t.Run("oneshot with RemainAfterExit", func(t *testing.T) {
		if got := s.activeState(t, "warden_unit_state", "t-oneshot.service"); got != "active" {
			t.Errorf("state %q", got)
		}
		if v, _ := s.value("warden_service_up", "check=oneshot"); v != 1 {
			t.Errorf("service_up %v", v)
		}
	})
	t.Run("masked", func(t *testing.T) {
		if got := s.activeState(t, "warden_unit_load_state", "t-masked.service"); got != "masked" {
			t.Errorf("load state %q", got)
		}
		if v, ok := s.value("warden_service_up", "check=masked"); !ok || v != 0 {
			t.Errorf("service_up %v %v", v, ok)
		}
	})
	t.Run("not found", func(t *testing.T) {
		if got := s.activeState(t, "warden_unit_load_state", "t-nothere.service"); got != "not-found" {
			t.Errorf("load state %q", got)
		}
		if got := s.activeState(t, "warden_unit_state", "t-nothere.service"); got != "inactive" {
			t.Errorf("state %q", got)
		}
		if v, ok := s.value("warden_service_up", "check=missing", "unit=t-nothere.service"); !ok || v != 0 {
			t.Errorf("service_up %v %v", v, ok)
		}
		if _, ok := s.value("warden_unit_active_enter_timestamp_seconds", "unit=t-nothere.service"); ok {
			t.Error("a unit that does not exist has no active-enter time")
		}
	})
	t.Run("escaped name stays as systemd spells it", func(t *testing.T) {
		if got := s.activeState(t, "warden_unit_state", `t-esc\x2dname.service`); got != "active" {
			t.Errorf("state %q", got)
		}
	})
	t.Run("bulk units have no load state series", func(t *testing.T) {
		if got := s.activeState(t, "warden_unit_load_state", `t-esc\x2dname.service`); got != "" {
			t.Errorf("bulk unit has load_state series (%q)", got)
		}
	})
	t.Run("socket activation", func(t *testing.T) {
		if got := s.activeState(t, "warden_unit_state", "t-sock.socket"); got != "active" {
			t.Errorf("socket state %q", got)
		}
		if got := s.activeState(t, "warden_unit_state", "t-sock.service"); got != "inactive" {
			t.Errorf("service before the first connection: %q", got)
		}
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(sockPort), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		waitScrape(t, src, cfg, "t-sock.service to activate", func(s scraped) bool {
			return s.activeState(t, "warden_unit_state", "t-sock.service") == "active"
		})
		r, err := src.Snapshot(context.Background(), checkUnits(cfg))
		if err != nil {
			t.Fatal(err)
		}
		u, _ := r.Unit("t-sock.socket")
		if !slices.Contains(u.Listen, systemd.ListenSpec{Type: "Stream", Address: "127.0.0.1:" + strconv.Itoa(sockPort)}) {
			t.Errorf("socket Listen: %+v", u.Listen)
		}
		if !strings.HasPrefix(u.ControlGroup, m.CgroupRoot()+"/") {
			t.Errorf("socket ControlGroup %q", u.ControlGroup)
		}
		svc, _ := r.Unit("t-sock.service")
		if svc.MainPID == 0 || !strings.HasSuffix(svc.ControlGroup, "/t-sock.service") {
			t.Errorf("service MainPID %d ControlGroup %q", svc.MainPID, svc.ControlGroup)
		}
	})
	t.Run("stopped and started between two scrapes", func(t *testing.T) {
		before, _ := s.value("warden_unit_active_enter_timestamp_seconds", "unit=t-running.service")
		m.Systemctl(t, "stop", "t-running.service")
		m.Run(t, "t-running", "sleep", "infinity")
		s2 := scrapeSource(t, src, cfg, 5*time.Second)
		if got := s2.activeState(t, "warden_unit_state", "t-running.service"); got != "active" {
			t.Errorf("state %q", got)
		}
		after, _ := s2.value("warden_unit_active_enter_timestamp_seconds", "unit=t-running.service")
		if after <= before {
			t.Errorf("active enter time did not move: %v -> %v", before, after)
		}
	})
	t.Run("a change is seen by the next scrape", func(t *testing.T) {
		// No polling: the barrier makes the very next scrape see the stop.
		m.Run(t, "t-change", "sleep", "infinity")
		cfg2 := &config.Config{Checks: append(slices.Clone(cfg.Checks), config.Check{Name: "change", Unit: "t-other.service"})}
		s := scrapeSource(t, src, cfg2, 5*time.Second)
		if got := s.activeState(t, "warden_unit_state", "t-change.service"); got != "active" {
			t.Fatalf("state %q", got)
		}
		m.Systemctl(t, "kill", "--signal=SIGKILL", "t-change.service")
		systemdtest.WaitFor(t, 10*time.Second, "t-change to fail", func() bool {
			out, _ := m.SystemctlMayFail("show", "--value", "-p", "ActiveState", "t-change.service")
			return strings.TrimSpace(out) == "failed"
		})
		s = scrapeSource(t, src, cfg2, 5*time.Second)
		if got := s.activeState(t, "warden_unit_state", "t-change.service"); got != "failed" {
			t.Errorf("the scrape after the change shows %q", got)
		}
	})
	t.Run("crash loop", func(t *testing.T) {
		m.Run(t, "t-crash", "-p", "Restart=always", "-p", "RestartSec=300ms", "-p", "StartLimitIntervalSec=0", "sh", "-c", "sleep 0.2; exit 1")
		crashCfg := &config.Config{Checks: []config.Check{{Name: "crash", Unit: "t-crash.service"}}}
		sawActivating := false
		waitScrape(t, src, crashCfg, "NRestarts to reach 3 with the unit seen in activating/auto-restart", func(s scraped) bool {
			st := s.activeState(t, "warden_unit_state", "t-crash.service")
			if st == "activating" {
				sawActivating = true
				if v, _ := s.value("warden_service_up", "check=crash"); v != 0 {
					t.Errorf("a unit waiting to restart is not up, got service_up %v", v)
				}
			}
			n, _ := s.value("warden_unit_restarts_total", "unit=t-crash.service")
			return sawActivating && n >= 3
		})
		m.Systemctl(t, "stop", "t-crash.service")
	})
}

func TestSystemdOverTheUserBus(t *testing.T) {
	m := systemdtest.Start(t)
	ep, err := systemd.ResolveEndpoint("user", "", func(k string) string {
		if k == "XDG_RUNTIME_DIR" {
			return m.RuntimeDir
		}
		return ""
	})
	if err != nil || ep.Direct {
		t.Fatalf("endpoint %+v %v", ep, err)
	}
	src := newTestSystemdSource(t, ep)
	m.Run(t, "t-bus", "sleep", "infinity")
	cfg := &config.Config{Checks: []config.Check{{Name: "bus", Unit: "t-bus.service"}}}
	s := scrapeSource(t, src, cfg, 10*time.Second)
	if s.success(t) != 1 || s.activeState(t, "warden_unit_state", "t-bus.service") != "active" {
		t.Fatalf("over the bus: success %v", s.success(t))
	}
	m.Run(t, "t-bus2", "sleep", "infinity")
	s = scrapeSource(t, src, cfg, 5*time.Second)
	if got := s.activeState(t, "warden_unit_state", "t-bus2.service"); got != "active" {
		t.Errorf("a unit started after the first scrape is seen by the next one: %q", got)
	}
}

func TestSystemdFrozenManagerCostsOneScrape(t *testing.T) {
	m := systemdtest.Start(t)
	src := newTestSystemdSource(t, privateEndpoint(m))
	cfg := &config.Config{Checks: []config.Check{{Name: "x", Unit: "dbus.socket"}}}
	if scrapeSource(t, src, cfg, 10*time.Second).success(t) != 1 {
		t.Fatal("initial scrape failed")
	}
	if err := m.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s := scrapeSource(t, src, cfg, 500*time.Millisecond)
	if s.success(t) != 0 {
		t.Error("a frozen manager must fail the scrape")
	}
	// A bound, not a timing assertion: the scrape must not hang.
	if time.Since(start) > 5*time.Second {
		t.Errorf("the scrape took %v with a 500ms deadline", time.Since(start))
	}
	m.Signal(syscall.SIGCONT)
	waitScrape(t, src, cfg, "recovery after SIGCONT", func(s scraped) bool { return s.success(t) == 1 })
}

func TestSystemdManagerRestartCycles(t *testing.T) {
	m := systemdtest.Start(t)
	src := newTestSystemdSource(t, privateEndpoint(m))
	cfg := &config.Config{Checks: []config.Check{{Name: "x", Unit: "dbus.socket"}}}
	waitScrape(t, src, cfg, "first connection", func(s scraped) bool { return s.success(t) == 1 })
	settle := func() (int, int) {
		// Let goroutines of the last connection finish.
		time.Sleep(200 * time.Millisecond)
		return runtime.NumGoroutine(), testenv.CountFDs(t)
	}
	g0, f0 := settle()
	cycles := 100
	if testing.Short() {
		cycles = 5
	}
	for i := range cycles {
		m.Kill(t, syscall.SIGKILL)
		if s := scrapeSource(t, src, cfg, 2*time.Second); s.success(t) != 0 {
			t.Fatalf("cycle %d: success 1 while the manager is gone", i)
		}
		m.Restart(t)
		// The first scrape after the manager is back reconnects and succeeds.
		if s := scrapeSource(t, src, cfg, 10*time.Second); s.success(t) != 1 {
			t.Fatalf("cycle %d: the first scrape after the manager returned failed", i)
		}
	}
	g1, f1 := settle()
	t.Logf("after %d cycles: goroutines %d -> %d, fds %d -> %d", cycles, g0, g1, f0, f1)
	if g1 > g0+3 {
		t.Errorf("goroutines grew: %d -> %d", g0, g1)
	}
	if f1 > f0+2 {
		t.Errorf("fds grew: %d -> %d", f0, f1)
	}
}

// daemon-reexec drops every private-socket connection; a bus connection
// survives and sees the manager's bus name change owner. Either way the
// source must come back with a fresh view.
func TestSystemdSurvivesDaemonReexec(t *testing.T) {
	m := systemdtest.Start(t)
	bus, err := systemd.ResolveEndpoint("user", m.BusAddress(), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	for name, ep := range map[string]systemd.Endpoint{"private socket": privateEndpoint(m), "bus": bus} {
		t.Run(name, func(t *testing.T) {
			src := newTestSystemdSource(t, ep)
			unit := "t-reexec-" + strings.ReplaceAll(name, " ", "-")
			cfg := &config.Config{Checks: []config.Check{{Name: "x", Unit: unit + ".service"}}}
			waitScrape(t, src, cfg, "first connection", func(s scraped) bool { return s.success(t) == 1 })
			m.Systemctl(t, "daemon-reexec")
			m.Run(t, unit, "sleep", "infinity")
			// A unit no check names is known only through the cache: it shows
			// that the signals flow again after the re-exec.
			m.Run(t, unit+"-bulk", "sleep", "infinity")
			waitScrape(t, src, cfg, "units started after the re-exec", func(s scraped) bool {
				return s.success(t) == 1 && s.activeState(t, "warden_unit_state", unit+".service") == "active" &&
					s.activeState(t, "warden_unit_state", unit+"-bulk.service") == "active"
			})
			m.Systemctl(t, "stop", unit+"-bulk.service")
			s := scrapeSource(t, src, cfg, 5*time.Second)
			// Stopped: inactive, or already unloaded (a transient unit is
			// garbage-collected soon after) and gone from the series.
			if got := s.activeState(t, "warden_unit_state", unit+"-bulk.service"); got != "" && got != "inactive" {
				t.Errorf("the next scrape after the stop shows %q", got)
			}
		})
	}
}

// On a bus, dbus-daemon refuses calls beyond its per-connection reply limit
// (128 on the system bus, which the harness gives the user bus too). With a
// few hundred units the cache's fetches after connecting and after every
// daemon-reload must stay under it, and a refusal is back-pressure: no
// scrape fails, from the first one on.
func TestSystemdStaysUnderTheBusReplyLimit(t *testing.T) {
	m := systemdtest.Start(t)
	m.StartOneshots(t, "limit", 300)
	bus, err := systemd.ResolveEndpoint("user", m.BusAddress(), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	src := newTestSystemdSource(t, bus)
	cfg := &config.Config{Checks: []config.Check{{Name: "limit", Unit: "limit-7.service"}}}
	s := scrapeSource(t, src, cfg, 20*time.Second)
	if s.success(t) != 1 {
		t.Fatalf("first scrape over the bus with 300 units failed")
	}
	if n := len(s.families["warden_unit_active_enter_timestamp_seconds"].GetMetric()); n < 300 {
		t.Fatalf("first scrape saw %d units, want >= 300", n)
	}
	for i := range 3 {
		m.Systemctl(t, "daemon-reload")
		for j := range 5 {
			if s := scrapeSource(t, src, cfg, 10*time.Second); s.success(t) != 1 {
				t.Fatalf("daemon-reload %d, scrape %d: systemd success 0", i+1, j+1)
			}
		}
	}
}

// scrapeDeadline is a scrape's deadline by default: Prometheus's default
// scrape_timeout (10 s) less the exporter's default --scrape.timeout-offset.
const scrapeDeadline = 9500 * time.Millisecond

// A connection lost under a scrape (daemon-reexec) is replaced within the
// scrape's deadline, over the bus and the private socket. Three reexecs
// back to back, as a package upgrade may do; around each, three scrapes
// with the default deadline: one started just before it, one while
// systemctl waits for it, one as systemctl returns (the old manager has
// stopped answering: that one must wait for the new manager). None
// fails, however many reexecs a scrape outlives: a busy machine makes a
// scrape outlive several (each new connection first lists and reads every
// unit, 130 here).
func TestSystemdNoFailedScrapeThroughDaemonReexec(t *testing.T) {
	m := systemdtest.Start(t)
	m.StartOneshots(t, "reexec", 100)
	bus, err := systemd.ResolveEndpoint("user", m.BusAddress(), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	for name, ep := range map[string]systemd.Endpoint{"private socket": privateEndpoint(m), "bus": bus} {
		t.Run(name, func(t *testing.T) {
			src := newTestSystemdSource(t, ep)
			cfg := &config.Config{Checks: []config.Check{{Name: "x", Unit: "reexec-1.service"}}}
			waitScrape(t, src, cfg, "first connection", func(s scraped) bool { return s.success(t) == 1 })
			type scrape struct {
				what string
				conn uint64 // the connection it was read on
				err  error
				took time.Duration
			}
			var scrapes []*scrape
			var wg sync.WaitGroup
			start := func(what string) *scrape {
				sc := &scrape{what: what}
				scrapes = append(scrapes, sc)
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), scrapeDeadline)
					defer cancel()
					began := time.Now()
					r, err := src.Snapshot(ctx, checkUnits(cfg))
					sc.took, sc.err = time.Since(began), err
					if err == nil {
						sc.conn = r.Connection()
					}
				}()
				return sc
			}
			var after []*scrape
			var before []uint64 // connections made before each reexec
			for i := range 3 {
				before = append(before, src.Connections())
				start(fmt.Sprintf("reexec %d: started before", i+1))
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, "systemctl", "--user", "daemon-reexec")
				cmd.Env = m.Env()
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				start(fmt.Sprintf("reexec %d: started while systemctl waits", i+1))
				if err := cmd.Wait(); err != nil {
					t.Fatalf("systemctl --user daemon-reexec: %v", err)
				}
				after = append(after, start(fmt.Sprintf("reexec %d: started as systemctl returned", i+1)))
			}
			wg.Wait()
			failed := 0
			for _, sc := range scrapes {
				t.Logf("%s: read on connection %d in %v (err %v)", sc.what, sc.conn, sc.took.Round(time.Millisecond), sc.err)
				if sc.err != nil {
					failed++
				}
			}
			if failed > 0 {
				t.Fatalf("%d of %d scrapes failed through three daemon-reexecs", failed, len(scrapes))
			}
			// The premise: systemctl returns once the old manager has dropped
			// its connections and answers nothing more, so the scrape started
			// then was read on a connection made after the reexec began.
			for i, sc := range after {
				if sc.conn <= before[i] {
					t.Errorf("%s: read on connection %d, made before the reexec (%d made by then)", sc.what, sc.conn, before[i])
				}
			}
		})
	}
}

// A check's unit's UnitFileState says whether it comes back at boot; it is
// read per scrape (enable/disable signal nothing on the unit).
func TestSystemdUnitFileState(t *testing.T) {
	m := systemdtest.Start(t)
	dir := filepath.Join(m.RuntimeDir, "config", "systemd", "user")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	unit := "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=default.target\n"
	if err := os.WriteFile(filepath.Join(dir, "fs-web.service"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	m.Systemctl(t, "daemon-reload")
	m.Systemctl(t, "start", "fs-web.service")
	m.Run(t, "fs-transient", "sleep", "infinity")
	m.Systemctl(t, "mask", "--runtime", "fs-masked.service")
	src := newTestSystemdSource(t, privateEndpoint(m))
	cfg := &config.Config{Checks: []config.Check{
		{Name: "web", Unit: "fs-web.service"},
		{Name: "transient", Unit: "fs-transient.service"},
		{Name: "masked", Unit: "fs-masked.service"},
		{Name: "missing", Unit: "fs-nothere.service"},
	}}
	fileState := func(s scraped, unit string) string { return s.activeState(t, "warden_unit_file_state", unit) }
	// More checks' units than the bus budget holds calls (2 per unit): the
	// reads go in batches (in one pipeline, 100 checks made every scrape
	// wait for the deadline).
	m.StartOneshots(t, "fsb", 40)
	for i := range 40 {
		cfg.Checks = append(cfg.Checks, config.Check{Name: fmt.Sprintf("b%d", i), Unit: fmt.Sprintf("fsb-%d.service", i)})
	}
	s := scrapeSource(t, src, cfg, 10*time.Second)
	if s.success(t) != 1 {
		t.Fatal("a scrape of 44 checks' units failed")
	}
	if got := fileState(s, "fsb-39.service"); got != "transient" {
		t.Errorf("fsb-39.service: %q", got)
	}
	for unit, want := range map[string]string{"fs-web.service": "disabled", "fs-transient.service": "transient", "fs-masked.service": "masked-runtime", "fs-nothere.service": ""} {
		if got := fileState(s, unit); got != want {
			t.Errorf("%s: warden_unit_file_state %q, want %q", unit, got, want)
		}
	}
	// The manager re-reads install state at a reload (systemctl enable
	// normally asks for one).
	m.Systemctl(t, "enable", "fs-web.service")
	m.Systemctl(t, "daemon-reload")
	waitScrape(t, src, cfg, "fs-web.service enabled", func(s scraped) bool { return fileState(s, "fs-web.service") == "enabled" })

	// Stopped, its reason says since when (StateChangeTimestamp, read with
	// the file state); the label does not (a crash loop would make a
	// series per restart).
	m.Systemctl(t, "stop", "fs-web.service")
	reason := func(s scraped) string {
		for _, mt := range s.families["warden_check_reason_info"].GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "reason" && strings.HasPrefix(l.GetValue(), "fs-web.service") {
					return l.GetValue()
				}
			}
		}
		return ""
	}
	s = waitScrape(t, src, cfg, "fs-web.service stopped", func(s scraped) bool { return reason(s) == "fs-web.service is inactive/dead" })
	// Stopped (and unloaded, nothing references it), read by name it is
	// still loaded: discovery forgets only what reads not-found.
	if got := s.activeState(t, "warden_unit_load_state", "fs-web.service"); got != "loaded" {
		t.Errorf("a stopped unit with a unit file reads %q by name, want loaded", got)
	}
	e, err := New(Options{Config: func() *config.Config { return cfg }, Systemd: src})
	if err != nil {
		t.Fatal(err)
	}
	full := verdicts(t, e)["web"].Reason
	since, err := time.Parse(time.RFC3339, strings.TrimPrefix(full, "fs-web.service is inactive/dead since "))
	if err != nil || time.Since(since) > 10*time.Minute || time.Until(since) > time.Minute {
		t.Errorf("/checks's reason %q: since %v (%v)", full, since, err)
	}
}

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

//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/enginetest"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// containerPageTimeout bounds the wait for a container incident's page:
// a crash loop pages once Docker's restart backoff (100 ms, doubling)
// leaves it down for two evaluations in a row (for: 2 s here), about its
// sixth restart, 10 s in; the rest page within 8 s.
const containerPageTimeout = 60 * time.Second

// containerScenario is one incident of one container check: the
// container runs well (ok, no page), fault makes the incident, fix ends it.
type containerScenario struct {
	name string // the check's and the container's
	// badDeploy, where set, is the incident: the container replaced by
	// one run with these changes, then by a good one again (the fix).
	badDeploy func(o *enginetest.RunOptions)
	// fault breaks the container otherwise; it returns once the fault is
	// made.
	fault func(t *testing.T)
	// during runs once the page is in, before the fix: what must not
	// page twice (a crash loop going on).
	during func(t *testing.T)
	fix    func(t *testing.T)
	// want is what the page's text says: the check's status and its
	// diagnosis (warden_check_reason_info).
	want []string
}

// TestContainerAlertsEndToEnd pages each container incident through the
// whole chain, one real dockerd: the exporter built from this tree reading
// it, Prometheus with the shipped rules, Alertmanager with the example's
// route and inhibitions, and a webhook counting what reaches a person.
// Each check pages once (WardenCheckDown, critical) with the diagnosis in
// its text, and resolves once after the fix. The incidents run at once:
// Alertmanager groups by check, so each is counted apart.
func TestContainerAlertsEndToEnd(t *testing.T) {
	eng := enginetest.Docker(t)
	eng.Image(t)
	dir := t.TempDir()
	bin := buildExporter(t, dir)

	serve := []string{"serve", ":" + strconv.Itoa(enginetest.SrvPort)}
	healthy := []string{"/srv", "check", "127.0.0.1:" + strconv.Itoa(enginetest.SrvPort)}
	ports := map[string]int{}
	// good is how each container runs when nothing is wrong: serving on
	// its published port, its health check passing.
	good := func(name string) enginetest.RunOptions {
		return enginetest.RunOptions{Cmd: serve, Publish: []string{fmt.Sprintf("127.0.0.1:%d:%d", ports[name], enginetest.SrvPort)},
			HealthCmd: healthy, HealthInterval: time.Second}
	}
	// rerun replaces a container by one run with opts under its name: a
	// deploy of a new version.
	rerun := func(t *testing.T, name string, opts enginetest.RunOptions) {
		t.Helper()
		eng.Remove(t, name)
		eng.Run(t, name, opts)
	}
	var squatter net.Listener

	scenarios := []containerScenario{
		{
			name:  "wdn-mongo",
			fault: func(t *testing.T) { eng.Stop(t, "wdn-mongo") },
			fix:   func(t *testing.T) { eng.Start(t, "wdn-mongo") },
			want:  []string{"now: service_down: container wdn-mongo (docker) exited 0"},
		},
		{
			name:      "wdn-crash",
			badDeploy: func(o *enginetest.RunOptions) { o.Restart, o.Env = "always", []string{"CRASH_AFTER=1"} },
			during: func(t *testing.T) {
				// Two more crashes and restarts after the page: each is
				// a recovery the watch and the scrapes may see, none a
				// second page.
				restarts := func() int {
					n, _ := strconv.Atoi(fmt.Sprint(eng.Inspect(t, "wdn-crash")["RestartCount"]))
					return n
				}
				from := restarts()
				systemdtest.WaitFor(t, containerPageTimeout, "two more restarts of wdn-crash", func() bool { return restarts() >= from+2 })
			},
			// service_down while it restarts; foreign_listener for the
			// moment docker-proxy holds the port again before the
			// container runs (no systemd here to say it is docker's).
			want: []string{"container wdn-crash (docker) is restarting after exit 3"},
		},
		{
			name:      "wdn-oom",
			badDeploy: func(o *enginetest.RunOptions) { o.Memory, o.Env = 50<<20, []string{"EAT_MB=200"} },
			want:      []string{"now: service_down: container wdn-oom (docker) exited 137, OOM killed"},
		},
		{
			name:      "wdn-sick",
			badDeploy: func(o *enginetest.RunOptions) { o.HealthCmd = []string{"/srv", "check", "127.0.0.1:1"} },
			want:      []string{"now: probe_failed: the health check of container wdn-sick (docker) fails (exit 1)"},
		},
		{
			name:      "wdn-deaf",
			badDeploy: func(o *enginetest.RunOptions) { o.Env, o.HealthCmd = []string{"NO_LISTEN=1"}, nil },
			want: []string{fmt.Sprintf("now: port_down: nothing listens on tcp %d inside container wdn-deaf (docker publishes 127.0.0.1:", enginetest.SrvPort),
				fmt.Sprintf(" → %d/tcp)", enginetest.SrvPort)},
		},
		{
			name: "wdn-squat",
			fault: func(t *testing.T) {
				eng.Stop(t, "wdn-squat")
				// docker-proxy lets go of the port as the container stops;
				// this test process takes it at once, before the stop
				// alone could page.
				addr := "127.0.0.1:" + strconv.Itoa(ports["wdn-squat"])
				var err error
				systemdtest.WaitFor(t, stepTimeout, "docker-proxy to let go of "+addr, func() bool {
					squatter, err = net.Listen("tcp", addr)
					return !errors.Is(err, syscall.EADDRINUSE)
				})
				if err != nil {
					t.Fatal(err)
				}
			},
			fix: func(t *testing.T) {
				squatter.Close()
				eng.Start(t, "wdn-squat")
			},
			want: []string{"now: foreign_listener: tcp 127.0.0.1:", " (docker publishes it for container wdn-squat) is held by process e2e.test while container wdn-squat (docker) exited 0"},
		},
	}

	var checks strings.Builder
	checks.WriteString("checks:\n")
	for i, sc := range scenarios {
		if sc.badDeploy != nil {
			scenarios[i].fault = func(t *testing.T) {
				opts := good(sc.name)
				sc.badDeploy(&opts)
				rerun(t, sc.name, opts)
			}
			scenarios[i].fix = func(t *testing.T) { rerun(t, sc.name, good(sc.name)) }
		}
		ports[sc.name] = testenv.FreePort(t)
		fmt.Fprintf(&checks, "  - name: %s\n    container: %s\n    engine: docker\n", sc.name, sc.name)
		// The mongo stand-in is checked as an operator would: its answer
		// too.
		if sc.name == "wdn-mongo" {
			fmt.Fprintf(&checks, "    probes: [{target: 127.0.0.1:%d}]\n", ports[sc.name])
		}
		eng.Run(t, sc.name, good(sc.name))
	}
	if err := os.WriteFile(filepath.Join(dir, "warden.yml"), []byte(checks.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	exporterAddr := testenv.FreeLoopbackAddr(t)
	start(t, "warden_exporter", "http://"+exporterAddr+"/-/ready", bin,
		"--web.listen-address="+exporterAddr, "--config.file="+filepath.Join(dir, "warden.yml"),
		"--no-collector.systemd", "--containers.docker-host="+eng.Address,
		// A path that does not exist: a podman on the machine is not read.
		"--containers.podman-host=unix://"+filepath.Join(dir, "no-podman.sock"))

	hook := &webhook{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	// keep_firing_for 10 s (10m shipped) holds the page over a crash
	// loop's runs of 1 s between its restarts; a fix resolves 10 s late.
	chain := startAlertChain(t, dir, chainOptions{receiver: hookSrv.URL, groupWait: "1s", keepFiringFor: "10s",
		scrapeConfigs: scrapeJob("warden", exporterAddr)})
	t.Cleanup(func() {
		if t.Failed() {
			chain.logTargets(t)
			t.Logf("statuses: %v", chain.query(t, `warden_check_status == 1`))
			chain.logAlertmanager(t)
		}
	})

	// Every container well, healthy, five scrapes long: no page.
	systemdtest.WaitFor(t, stepTimeout, "Prometheus to scrape every container ok and healthy five times", func() bool {
		return len(chain.query(t, `sum_over_time(warden_check_status{status="ok"}[1m]) >= 5 and on (check) warden_container_health{status="healthy"} == 1`)) == len(scenarios)
	})
	if got := hook.pages(0); len(got) != 0 {
		t.Fatalf("pages while every container is well: %v", got)
	}

	// All at once, each subtest in a goroutine of its own: t.Parallel
	// would run them GOMAXPROCS (2 here) at a time, 3 rounds.
	var wg sync.WaitGroup
	for _, sc := range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(sc.name, func(t *testing.T) { pageContainerIncident(t, chain, hook, sc) })
		}()
	}
	wg.Wait()
}

// pageContainerIncident makes sc's incident and ends it: one critical
// page, WardenCheckDown saying what is wrong, then one resolved.
func pageContainerIncident(t *testing.T, chain *alertChain, hook *webhook, sc containerScenario) {
	const alert = "WardenCheckDown"
	critical := func() []string {
		return hook.firing(0, func(a delivered) bool { return a.Labels["check"] == sc.name && a.Labels["severity"] == "critical" })
	}
	defer func() {
		if t.Failed() {
			t.Logf("%s: statuses %v; critical pages %v, %s firing %d, resolved %d", sc.name, chain.query(t, `warden_check_status{check="`+sc.name+`"} == 1`),
				critical(), alert, hook.deliveries(0, alert, sc.name, "firing"), hook.deliveries(0, alert, sc.name, "resolved"))
		}
	}()

	faulted := time.Now()
	sc.fault(t)
	systemdtest.WaitFor(t, containerPageTimeout, alert+"{check="+sc.name+"} delivered", func() bool { return hook.deliveries(0, alert, sc.name, "firing") > 0 })
	paged, _ := hook.firstAt(0, alert, sc.name, "firing")
	desc := hook.description(alert, sc.name)
	for _, w := range sc.want {
		if !strings.Contains(desc, w) {
			t.Errorf("the page does not say %q: %q", w, desc)
		}
	}
	if sc.during != nil {
		sc.during(t)
	}
	if n := hook.deliveries(0, alert, sc.name, "resolved"); n != 0 {
		t.Errorf("%d \"resolved\" delivered during the incident, want none", n)
	}

	fixed := time.Now()
	sc.fix(t)
	systemdtest.WaitFor(t, stepTimeout, alert+"{check="+sc.name+"} resolved", func() bool { return hook.deliveries(0, alert, sc.name, "resolved") > 0 })
	resolved, _ := hook.firstAt(0, alert, sc.name, "resolved")
	// Alertmanager would have sent a second notification by now
	// (group_interval 1 s).
	time.Sleep(3 * time.Second)
	firing, resolves := hook.deliveries(0, alert, sc.name, "firing"), hook.deliveries(0, alert, sc.name, "resolved")
	if firing != 1 || resolves != 1 {
		t.Errorf("%s{check=%s} delivered firing %d, resolved %d times; want once each", alert, sc.name, firing, resolves)
	}
	if got := critical(); len(got) != 1 {
		t.Errorf("critical pages for %s: %v, want exactly [%s{check=%s}]", sc.name, got, alert, sc.name)
	}
	t.Logf("%s: firing %d, resolved %d; paged %v after the fault, resolved %v after the fix; other pages %v; diagnosis: %s",
		sc.name, firing, resolves, paged.Sub(faulted).Round(100*time.Millisecond), resolved.Sub(fixed).Round(100*time.Millisecond),
		hook.firing(0, func(a delivered) bool { return a.Labels["check"] == sc.name && a.Labels["severity"] != "critical" }),
		diagnosisLine.FindString(desc))
}

// diagnosisLine is the status and diagnosis WardenCheckDown's text carries.
var diagnosisLine = regexp.MustCompile(`its status now: [^\n]*?\.(\s|$)`)

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
	"slices"
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
// leaves it down for longer than for: (4 s here), in its 6.4 s backoff
// after the seventh run, 15-20 s in; the rest page within 10 s.
const containerPageTimeout = 60 * time.Second

// containerScenario is one incident of one container check: the
// container runs well (ok, no page), fault makes the incident, fix ends it.
type containerScenario struct {
	name string // the container's, and its check's unless learned
	// learned: no check names the container; zero-config learns it as
	// the implicit check docker/NAME (it publishes a port).
	learned bool
	// hostNetwork: the container runs with --network host, serving on
	// its port in the host's namespace, which its check expects (ports:)
	// and nothing publishes.
	hostNetwork bool
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

// check is the name of the check that pages for the scenario's container.
func (sc containerScenario) check() string {
	if sc.learned {
		return "docker/" + sc.name
	}
	return sc.name
}

// TestContainerAlertsEndToEnd pages each container incident through the
// whole chain, one real dockerd: the exporter built from this tree reading
// it, Prometheus with the shipped rules, Alertmanager with the example's
// route and inhibitions, and a webhook counting what reaches a person.
// Each check pages once (WardenCheckDown, critical) with the diagnosis in
// its text, and resolves once after the fix: the configured checks' (a
// --network host container's among them) and the implicit check
// zero-config learned of a container no check names. The incidents run
// at once: Alertmanager groups by check, so each is counted apart.
func TestContainerAlertsEndToEnd(t *testing.T) {
	eng := enginetest.Docker(t)
	eng.Image(t)
	dir := t.TempDir()
	bin := buildExporter(t, dir)

	serve := []string{"serve", ":" + strconv.Itoa(enginetest.SrvPort)}
	healthy := []string{"/srv", "check", "127.0.0.1:" + strconv.Itoa(enginetest.SrvPort)}
	ports := map[string]int{}
	// good is how each container runs when nothing is wrong: serving on
	// its published port (on its port of the host's namespace with
	// --network host), its health check passing.
	good := func(sc containerScenario) enginetest.RunOptions {
		if sc.hostNetwork {
			addr := "127.0.0.1:" + strconv.Itoa(ports[sc.name])
			return enginetest.RunOptions{Network: "host", Cmd: []string{"serve", addr},
				HealthCmd: []string{"/srv", "check", addr}, HealthInterval: time.Second}
		}
		return enginetest.RunOptions{Cmd: serve, Publish: []string{fmt.Sprintf("127.0.0.1:%d:%d", ports[sc.name], enginetest.SrvPort)},
			HealthCmd: healthy, HealthInterval: time.Second}
	}
	// rerun replaces a container by one run with opts under its name: a
	// deploy of a new version. The container is removed with the whole
	// test, not at the end of the subtest that deployed it: its check,
	// still judged while the other incidents run, would page a second
	// time for the removal (3 of the 4 deployed did, unseen by each
	// subtest's own count).
	rerun := func(sub *testing.T, name string, opts enginetest.RunOptions) {
		sub.Helper()
		eng.Remove(sub, name)
		eng.Run(cleanupsOf{sub, t}, name, opts)
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
			// service_down while it restarts: docker-proxy, which holds
			// the port again before the container runs, is the engine's
			// own (by its process name: no systemd here), no squatter.
			want: []string{"now: service_down: container wdn-crash (docker) is restarting after exit 3"},
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
		{
			name:        "wdn-hostnet",
			hostNetwork: true,
			fault:       func(t *testing.T) { eng.Stop(t, "wdn-hostnet") },
			fix:         func(t *testing.T) { eng.Start(t, "wdn-hostnet") },
			want:        []string{"now: service_and_port_down: container wdn-hostnet (docker) exited 0, and nothing listens on tcp *:"},
		},
		{
			// Discovery, on beside the configured checks, learns this
			// one alone: the others are named by a check.
			name:    "wdn-learned",
			learned: true,
			fault:   func(t *testing.T) { eng.Stop(t, "wdn-learned") },
			fix:     func(t *testing.T) { eng.Start(t, "wdn-learned") },
			want:    []string{"now: service_down: container wdn-learned (docker) exited 0"},
		},
	}

	var checks strings.Builder
	// Zero-config beside the checks: discovery learns the containers that
	// publish ports and that no check names (no systemd here: no unit).
	checks.WriteString("discovery: {enabled: true}\nchecks:\n")
	var learned []string
	for i, sc := range scenarios {
		if sc.badDeploy != nil {
			scenarios[i].fault = func(t *testing.T) {
				opts := good(sc)
				sc.badDeploy(&opts)
				rerun(t, sc.name, opts)
			}
			scenarios[i].fix = func(t *testing.T) { rerun(t, sc.name, good(sc)) }
		}
		ports[sc.name] = testenv.FreePort(t)
		eng.Run(t, sc.name, good(sc))
		if sc.learned {
			learned = append(learned, sc.check())
			continue
		}
		fmt.Fprintf(&checks, "  - name: %s\n    container: %s\n    engine: docker\n", sc.name, sc.name)
		switch {
		case sc.name == "wdn-mongo":
			// The mongo stand-in is checked as an operator would: its
			// answer too.
			fmt.Fprintf(&checks, "    probes: [{target: 127.0.0.1:%d}]\n", ports[sc.name])
		case sc.hostNetwork:
			// Nothing published: the port it serves on the host is
			// the check's to name.
			fmt.Fprintf(&checks, "    ports: [{port: %d}]\n", ports[sc.name])
		}
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
	// for: 4 s (not 2): a bad deploy's own gap — the old container
	// killed and removed, the new one created and started — runs
	// straight into its incident (an OOM kill, a crash), and it measured
	// up to 1.6 s at a load of 4-7 here, too near 2 s: a page fired in
	// the gap says the gap ("exited 137"), not the incident.
	// keep_firing_for 10 s (10m shipped) holds the page over a crash
	// loop's runs of 1 s between its restarts; a fix resolves 10 s late.
	chain := startAlertChain(t, dir, chainOptions{receiver: hookSrv.URL, groupWait: "1s", pendingFor: "4s", keepFiringFor: "10s",
		scrapeConfigs: scrapeJob("warden", exporterAddr)})
	t.Cleanup(func() {
		if t.Failed() {
			chain.logTargets(t)
			t.Logf("statuses: %v", chain.query(t, `warden_check_status == 1`))
			chain.logAlertmanager(t)
		}
	})

	// Every container well, healthy, five scrapes long: no page. (At
	// least as many checks as scenarios: a check learned beside them is
	// named below.)
	systemdtest.WaitFor(t, stepTimeout, "Prometheus to scrape every container ok and healthy five times", func() bool {
		return len(chain.query(t, `sum_over_time(warden_check_status{status="ok"}[1m]) >= 5 and on (check) warden_container_health{status="healthy"} == 1`)) >= len(scenarios)
	})
	if got := hook.pages(0); len(got) != 0 {
		t.Fatalf("pages while every container is well: %v", got)
	}
	// What discovery learned is the unnamed container's implicit check
	// alone: no configured container a second time, and no docker-proxy
	// port as docker.service's (or anyone's).
	if got := labelValues(chain.query(t, `warden_check_learned == 1`), "check"); !slices.Equal(got, learned) {
		t.Fatalf("learned checks %q, want %q", got, learned)
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

	// Over the whole test, one check paged per incident, once: its own
	// (the learned container's as docker/NAME, not docker.service).
	var want []string
	for _, sc := range scenarios {
		want = append(want, "WardenCheckDown{check="+sc.check()+"}")
		firing, resolves := hook.deliveries(0, "WardenCheckDown", sc.check(), "firing"), hook.deliveries(0, "WardenCheckDown", sc.check(), "resolved")
		if firing != 1 || resolves != 1 {
			t.Errorf("over the whole test WardenCheckDown{check=%s} delivered firing %d, resolved %d times; want once each", sc.check(), firing, resolves)
		}
	}
	slices.Sort(want)
	got := hook.firing(0, func(a delivered) bool { return a.Labels["severity"] == "critical" })
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("critical pages of the whole test: %q, want %q", got, want)
	}
}

// cleanupsOf is a subtest whose cleanups are its parent's: what it
// makes outlives it.
type cleanupsOf struct {
	*testing.T
	parent *testing.T
}

func (c cleanupsOf) Cleanup(f func()) { c.parent.Cleanup(f) }

// labelValues returns the sorted values of label in a query's vector.
func labelValues(vector []map[string]any, label string) []string {
	var out []string
	for _, s := range vector {
		if m, ok := s["metric"].(map[string]any); ok {
			out = append(out, fmt.Sprint(m[label]))
		}
	}
	slices.Sort(out)
	return out
}

// pageContainerIncident makes sc's incident and ends it: one critical
// page, WardenCheckDown saying what is wrong, then one resolved.
func pageContainerIncident(t *testing.T, chain *alertChain, hook *webhook, sc containerScenario) {
	const alert = "WardenCheckDown"
	check := sc.check()
	critical := func() []string {
		return hook.firing(0, func(a delivered) bool { return a.Labels["check"] == check && a.Labels["severity"] == "critical" })
	}
	defer func() {
		if t.Failed() {
			t.Logf("%s: statuses %v; critical pages %v, %s firing %d, resolved %d", check, chain.query(t, `warden_check_status{check="`+check+`"} == 1`),
				critical(), alert, hook.deliveries(0, alert, check, "firing"), hook.deliveries(0, alert, check, "resolved"))
		}
	}()

	faulted := time.Now()
	sc.fault(t)
	systemdtest.WaitFor(t, containerPageTimeout, alert+"{check="+check+"} delivered", func() bool { return hook.deliveries(0, alert, check, "firing") > 0 })
	paged, _ := hook.firstAt(0, alert, check, "firing")
	desc := hook.description(alert, check)
	for _, w := range sc.want {
		if !strings.Contains(desc, w) {
			t.Errorf("the page does not say %q: %q", w, desc)
		}
	}
	if sc.during != nil {
		sc.during(t)
	}
	if n := hook.deliveries(0, alert, check, "resolved"); n != 0 {
		t.Errorf("%d \"resolved\" delivered during the incident, want none", n)
	}

	fixed := time.Now()
	sc.fix(t)
	systemdtest.WaitFor(t, stepTimeout, alert+"{check="+check+"} resolved", func() bool { return hook.deliveries(0, alert, check, "resolved") > 0 })
	resolved, _ := hook.firstAt(0, alert, check, "resolved")
	// Alertmanager would have sent a second notification by now
	// (group_interval 1 s).
	time.Sleep(3 * time.Second)
	firing, resolves := hook.deliveries(0, alert, check, "firing"), hook.deliveries(0, alert, check, "resolved")
	if firing != 1 || resolves != 1 {
		t.Errorf("%s{check=%s} delivered firing %d, resolved %d times; want once each", alert, check, firing, resolves)
	}
	if got := critical(); len(got) != 1 {
		t.Errorf("critical pages for %s: %v, want exactly [%s{check=%s}]", check, got, alert, check)
	}
	t.Logf("%s: firing %d, resolved %d; paged %v after the fault, resolved %v after the fix; other pages %v; diagnosis: %s",
		check, firing, resolves, paged.Sub(faulted).Round(100*time.Millisecond), resolved.Sub(fixed).Round(100*time.Millisecond),
		hook.firing(0, func(a delivered) bool { return a.Labels["check"] == check && a.Labels["severity"] != "critical" }),
		diagnosisLine.FindString(desc))
}

// diagnosisLine is the status and diagnosis WardenCheckDown's text carries.
var diagnosisLine = regexp.MustCompile(`its status now: [^\n]*?\.(\s|$)`)

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

package main

import (
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/collector"
	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// countingServer accepts on loopback and answers with answer, once
// release is closed (nil: at once), counting the connections: how many
// times the exporter dialed it.
func countingServer(t *testing.T, dials *atomic.Int64, answer string, release <-chan struct{}) string {
	t.Helper()
	return testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		dials.Add(1)
		if release != nil {
			select {
			case <-release:
			case <-time.After(30 * time.Second):
			}
		}
		io.WriteString(c, answer)
	})
}

// The landing page is rendered on the server from the last evaluation:
// curl sees the checks, the reason, the probe's error and the time; a view
// dials nothing while the last evaluation is recent; every link answers.
func TestLandingPageRendersTheLastEvaluation(t *testing.T) {
	var okDials, badDials atomic.Int64
	expect := []config.Step{{Expect: &config.Regexp{Regexp: regexp.MustCompile(`^\+PONG`)}}}
	cfg := &config.Config{Checks: []config.Check{
		{Name: "cache", Probes: []config.Probe{{Target: countingServer(t, &okDials, "+PONG\r\n", nil), Timeout: model.Duration(2 * time.Second), IPProtocol: "auto", QueryResponse: expect}}},
		{Name: `<script>alert(1)</script>`, Probes: []config.Probe{{Target: countingServer(t, &badDials, "-NOAUTH Authentication required.\r\n", nil), Timeout: model.Duration(2 * time.Second), IPProtocol: "auto", QueryResponse: expect}}},
	}}
	srv, _ := newHandlerServer(t, serverOptions{maxRequests: 4}, cfg, collector.Options{Probes: probe.New(probe.Options{})})

	code, page := get(t, srv.URL+"/")
	if code != 200 {
		t.Fatalf("GET /: %d", code)
	}
	for _, want := range []string{
		`<td>cache</td><td class="status">ok</td>`,
		`ok, `, // the healthy probe's latency
		`class="status">probe_failed</td>`,
		`expect: step 0 (expect &#34;^\\&#43;PONG&#34;): connection closed, got &#34;-NOAUTH Authentication required.\r\n&#34;`,
		`&lt;script&gt;alert(1)&lt;/script&gt;`,
		`id="evaluated">Evaluated at `,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the landing page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "loading") {
		t.Errorf("the landing page needs a script, or is a shell:\n%s", page)
	}
	if okDials.Load() != 1 {
		t.Fatalf("the first view dialed the probe %d times, want 1 (no evaluation yet)", okDials.Load())
	}
	// More views, and a scrape between them: the views show the last
	// evaluation and dial nothing themselves.
	for range 5 {
		get(t, srv.URL+"/")
	}
	get(t, srv.URL+"/metrics")
	for range 5 {
		get(t, srv.URL+"/")
	}
	if n := okDials.Load(); n != 2 {
		t.Errorf("the probe was dialed %d times for 11 views and one scrape, want 2 (the first view's, the scrape's)", n)
	}
	// No dead links.
	for _, m := range regexp.MustCompile(`href="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if code, _ := get(t, srv.URL+m[1]); code != 200 {
			t.Errorf("the landing page links %s, which answers %d", m[1], code)
		}
	}
}

// A stranger's short deadline never shapes the landing page: three clients
// scrape with X-Prometheus-Scrape-Timeout-Seconds 0.6 (a 0.1 s deadline)
// a service that answers in 200 ms, and every view of the page shows the
// check ok. (Before: the page showed the newest evaluation, theirs, cut
// short: probe_failed.)
func TestShortScrapeTimeoutsDoNotFailTheLandingPage(t *testing.T) {
	var dials atomic.Int64
	cfg := &config.Config{Checks: []config.Check{pongCheck("slow", slowPong(t, &dials, 200*time.Millisecond))}}
	srv, _ := newHandlerServer(t, serverOptions{maxRequests: 40}, cfg, collector.Options{Probes: probe.New(probe.Options{})})
	attack := hurryingClients(t, srv.URL+"/metrics", "slow")

	const ok = `<td>slow</td><td class="status">ok</td>`
	for i := range 20 {
		// Each view after a short-timeout scrape more: the newest
		// evaluation is theirs.
		before := attack.scrapes.Load()
		systemdtest.WaitFor(t, 20*time.Second, "a short-timeout scrape", func() bool { return attack.scrapes.Load() > before })
		code, page := get(t, srv.URL+"/")
		if code != http.StatusOK || !strings.Contains(page, ok) {
			t.Errorf("view %d of / beside clients sending 0.6: %d, lacks %s:\n%s", i, code, ok, page)
		}
	}
	attack.stop()
	// The premise: the short clients' evaluations were cut short.
	if attack.failures.Load() == 0 {
		t.Fatalf("the premise failed: %d short-timeout scrapes, %d saw the check fail", attack.scrapes.Load(), attack.failures.Load())
	}
	t.Logf("%d short-timeout scrapes (%d saw the check fail), %d dials", attack.scrapes.Load(), attack.failures.Load(), dials.Load())
}

// The page's own evaluation, cut short by the page's timeout (a probe's
// timeout longer than it), is not the exporter's Last; the page shows it
// all the same, and a view within a minute of it dials nothing.
func TestTheLandingPageKeepsItsOwnCutShortEvaluation(t *testing.T) {
	var dials atomic.Int64
	release := make(chan struct{})
	defer close(release)
	cfg := &config.Config{Checks: []config.Check{pongCheck("held", countingServer(t, &dials, "+PONG\r\n", release))}}
	cfg.Checks[0].Probes[0].Timeout = model.Duration(20 * time.Second)
	srv, _ := newHandlerServer(t, serverOptions{defaultTimeout: time.Second}, cfg, collector.Options{Probes: probe.New(probe.Options{})})
	for i := range 3 {
		code, page := get(t, srv.URL+"/")
		if code != http.StatusOK || !strings.Contains(page, "cut short by the request&#39;s deadline") {
			t.Errorf("view %d: %d, the held probe not shown cut short:\n%s", i, code, page)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("3 views within a minute dialed the probe %d times, want 1 (the first view's)", n)
	}
}

// A port has one wording: the landing page names it as the reasons do
// (before: "tcp ::1:443" on the page, "tcp [::1]:443" in the reason).
func TestTheLandingPageNamesPortsAsTheReasonsDo(t *testing.T) {
	v := verdict.Verdict{Check: "web", Status: verdict.PortDown, Reason: "nothing listens on tcp [::1]:443",
		Ports: []verdict.PortVerdict{{Proto: "tcp", Address: "::1", Port: 443, Known: true, Owned: verdict.OwnerUnknown}}}
	row := rowOf(v)
	if len(row.Ports) != 1 || !strings.HasPrefix(row.Ports[0].Text, "tcp [::1]:443 ") || !strings.Contains(v.Reason, "tcp [::1]:443") {
		t.Errorf("the page says %+v, the reason %q", row.Ports, v.Reason)
	}
}

// Where a port's expectation comes from is on the page, and so is a
// daemon's configuration not applied, with the ports it asks for.
func TestTheLandingPageSaysWhereAPortComesFrom(t *testing.T) {
	v := verdict.Verdict{Check: "nginx.service", Status: verdict.PortDown,
		Ports: []verdict.PortVerdict{
			{Proto: "tcp", Address: "0.0.0.0", Port: 8443, Known: true, Owned: verdict.OwnerUnknown, Source: "nginx: /etc/nginx/sites-enabled/default:24"},
			{Proto: "tcp", Port: 9000, Known: true, Listening: true, Owned: verdict.OwnedByUnit, Source: verdict.SourceLearned},
			{Proto: "tcp", Port: 9001, Known: true, Listening: true, Owned: verdict.OwnedByUnit, Source: verdict.SourceConfigured},
		},
		DaemonConfig: &verdict.DaemonConfig{Daemon: "nginx", NotApplied: true, Configured: []string{"tcp 0.0.0.0:8080 (nginx: /etc/nginx/sites-enabled/default:22)"}}}
	row := rowOf(v)
	want := []string{
		"tcp 0.0.0.0:8443 not listening (nginx: /etc/nginx/sites-enabled/default:24)",
		"tcp *:9000 listening (learned)",
		"tcp *:9001 listening",
		"nginx's configuration changed, not applied: it asks for tcp 0.0.0.0:8080 (nginx: /etc/nginx/sites-enabled/default:22)",
	}
	if len(row.Ports) != len(want) {
		t.Fatalf("ports cells %+v, want %q", row.Ports, want)
	}
	for i, w := range want {
		if row.Ports[i].Text != w {
			t.Errorf("cell %d: %q, want %q", i, row.Ports[i].Text, w)
		}
	}
}

// A container check's row says its state, each published port on the host
// and inside, and its health check.
func TestTheLandingPageShowsAContainer(t *testing.T) {
	v := verdict.Verdict{Check: "mongo", Status: verdict.PortDown,
		Container: &verdict.ContainerVerdict{Name: "mongo", Engine: "docker", Known: true, State: "running", Up: true,
			Health: "unhealthy", HealthFailingStreak: 3, HealthOutput: "refused"},
		Ports: []verdict.PortVerdict{{Proto: "tcp", Address: "127.0.0.1", Port: 27017, ContainerPort: 27017, Known: true,
			ListeningOnHost: true, Owned: verdict.OwnerUnknown, Source: "docker: published → 27017"}}}
	row := rowOf(v)
	if row.Service != "container mongo (docker): running" {
		t.Errorf("service %q", row.Service)
	}
	if len(row.Ports) != 1 || row.Ports[0].Text != "tcp 127.0.0.1:27017 → 27017 inside not listening inside the container (docker: published → 27017)" || !row.Ports[0].Bad {
		t.Errorf("ports %+v", row.Ports)
	}
	if len(row.Probes) != 1 || row.Probes[0].Text != "health check: unhealthy (3 in a row): refused" {
		t.Errorf("probes %+v", row.Probes)
	}
	v.Container = &verdict.ContainerVerdict{Name: "mongo", Engine: "docker", Known: true, State: "exited", ExitCode: 137, OOMKilled: true, RestartCount: 5}
	if got := rowOf(v).Service; got != "container mongo (docker): exited 137, OOM killed, restarted 5 times" {
		t.Errorf("service %q", got)
	}
}

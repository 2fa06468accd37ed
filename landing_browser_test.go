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
	"bytes"
	"context"
	"errors"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/collector"
	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// browserTimeout bounds one chromium run: start, load, dump, exit.
const browserTimeout = 60 * time.Second

// dumpDOM loads url in a headless Debian chromium, scripts run, and
// returns the DOM it ends with. Each run has a throwaway profile and home
// under t.TempDir(), no proxy and no host name resolution (only the
// loopback address the test serves on), and no background traffic of its
// own. Chromium's helper processes are in its process group, which is
// killed when the run ends or times out (its crash handler, in a session
// of its own, exits with it).
func dumpDOM(t *testing.T, chromium, url string) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", // chromium refuses root with its sandbox on
		"--user-data-dir="+filepath.Join(dir, "profile"),
		"--no-proxy-server",
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--disable-breakpad",
		"--no-first-run", "--no-default-browser-check", "--disable-gpu",
		"--dump-dom", url)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	killGroup := func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.Cancel = killGroup
	cmd.WaitDelay = 10 * time.Second // a helper still holding stdout
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if kerr := killGroup(); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
		t.Logf("killing chromium's process group: %v", kerr)
	}
	if ctx.Err() != nil {
		t.Fatalf("chromium --dump-dom %s did not finish within %v; stderr:\n%s", url, browserTimeout, stderr.String())
	}
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v; stderr:\n%s", url, err, stderr.String())
	}
	if stdout.Len() == 0 { // a failed load exits 0 and dumps nothing
		t.Fatalf("chromium --dump-dom %s dumped nothing; stderr:\n%s", url, stderr.String())
	}
	return stdout.String()
}

// browserRow is one row of the checks table as the browser has it: each
// cell's text, tags stripped and entities decoded.
type browserRow struct {
	class string
	cells []string
}

var (
	checksTableRe = regexp.MustCompile(`(?s)<table id="warden-checks">(.*?)</table>`)
	bodyRowRe     = regexp.MustCompile(`(?s)<tr class="([^"]*)">(.*?)</tr>`)
	cellRe        = regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)
	tagRe         = regexp.MustCompile(`<[^>]*>`)
	evaluatedRe   = regexp.MustCompile(`<p id="evaluated">Evaluated at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC) \(([^)]+) ago\)\.</p>`)
)

// checksTable reads the checks table's body rows out of a dumped DOM,
// keyed by the check's name.
func checksTable(t *testing.T, dom string) map[string]browserRow {
	t.Helper()
	m := checksTableRe.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the page in the browser has no checks table:\n%s", dom)
	}
	rows := map[string]browserRow{}
	for _, r := range bodyRowRe.FindAllStringSubmatch(m[1], -1) {
		var row browserRow
		row.class = r[1]
		for _, c := range cellRe.FindAllStringSubmatch(r[2], -1) {
			text := html.UnescapeString(tagRe.ReplaceAllString(strings.ReplaceAll(c[1], "<br>", "\n"), ""))
			row.cells = append(row.cells, strings.TrimSpace(text))
		}
		if len(row.cells) != 6 {
			t.Fatalf("a row of the checks table has %d cells, want 6 (check, status, why, service, ports, probes): %s", len(row.cells), r[0])
		}
		rows[row.cells[0]] = row
	}
	return rows
}

// The landing page as a user's browser shows it (Debian's chromium,
// headless, on loopback): each check's name and status, the failing
// check's reason and probe error, and the time of the evaluation shown.
// Views in the browser show the last evaluation, a scrape's: five of them
// dial the probe target not once.
func TestLandingPageInARealBrowser(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium", "apt-get install chromium")

	var dials atomic.Int64
	closed := testenv.FreeLoopbackAddr(t) // nothing listens: the probe is refused
	expect := []config.Step{{Expect: &config.Regexp{Regexp: regexp.MustCompile(`^\+PONG`)}}}
	cfg := &config.Config{Checks: []config.Check{
		{Name: "cache", Probes: []config.Probe{{Target: countingServer(t, &dials, "+PONG\r\n", nil), Timeout: model.Duration(2 * time.Second), IPProtocol: "auto", QueryResponse: expect}}},
		{Name: "queue", Probes: []config.Probe{{Target: closed, Timeout: model.Duration(2 * time.Second), IPProtocol: "auto"}}},
	}}
	srv, _ := newHandlerServer(t, serverOptions{maxRequests: 4}, cfg, collector.Options{Probes: probe.New(probe.Options{})})
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("the exporter serves on %s, not loopback", srv.URL)
	}

	// One scrape evaluates the checks: one dial of the healthy target.
	before := time.Now().UTC().Truncate(time.Second)
	if code, _ := get(t, srv.URL+"/metrics"); code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	scraped := time.Now()
	if n := dials.Load(); n != 1 {
		t.Fatalf("the scrape dialed the probe target %d times, want 1", n)
	}

	const views = 5
	var shown string // the evaluation time the first view shows
	for i := range views {
		start := time.Now()
		dom := dumpDOM(t, chromium, srv.URL+"/")
		if i == 0 {
			t.Logf("one chromium --dump-dom run took %v", time.Since(start).Round(time.Millisecond))
		}
		// The page shows the scrape's evaluation and runs none of its
		// own while that is younger than landingMaxAge; a machine so slow
		// that it no longer is cannot check that.
		if age := time.Since(scraped); age >= landingMaxAge {
			t.Fatalf("view %d ended %v after the scrape, past landingMaxAge (%v): the page rightly evaluates again, and this test cannot tell", i, age.Round(time.Second), landingMaxAge)
		}

		if !strings.Contains(dom, "<title>warden_exporter</title>") {
			t.Fatalf("view %d: the browser did not show the landing page:\n%s", i, dom)
		}
		if strings.Contains(dom, "<script") {
			t.Errorf("view %d: the page in the browser has a script:\n%s", i, dom)
		}
		m := evaluatedRe.FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("view %d: the page in the browser does not say when the checks were evaluated:\n%s", i, dom)
		}
		if i == 0 {
			shown = m[1]
			at, err := time.Parse("2006-01-02 15:04:05 MST", m[1])
			if err != nil {
				t.Fatalf("the evaluation time %q: %v", m[1], err)
			}
			if at.Before(before) || at.After(scraped) {
				t.Errorf("the page shows an evaluation at %s, not the scrape's (between %s and %s)", m[1], before.Format(time.DateTime), scraped.UTC().Format(time.DateTime))
			}
		} else if m[1] != shown {
			t.Errorf("view %d shows an evaluation at %s, view 0 at %s: a view evaluated again", i, m[1], shown)
		}

		rows := checksTable(t, dom)
		if len(rows) != 2 {
			t.Errorf("view %d: the checks table has %d rows, want 2 (cache, queue):\n%s", i, len(rows), dom)
		}
		cache, queue := rows["cache"], rows["queue"]
		if cache.cells == nil || queue.cells == nil {
			t.Fatalf("view %d: the checks table lacks cache or queue: %v\n%s", i, rows, dom)
		}
		if cache.class != "ok" || cache.cells[1] != "ok" || !strings.Contains(cache.cells[5], " ok, ") {
			t.Errorf("view %d: cache is shown as %q %q, probe %q; want ok, with the probe's latency", i, cache.class, cache.cells[1], cache.cells[5])
		}
		if queue.class != "probe_failed" || queue.cells[1] != "probe_failed" {
			t.Errorf("view %d: queue's status is shown as %q (class %q), want probe_failed", i, queue.cells[1], queue.class)
		}
		if !strings.Contains(queue.cells[2], closed) || !strings.Contains(queue.cells[2], "refused") {
			t.Errorf("view %d: queue's reason %q does not name the refused probe %s", i, queue.cells[2], closed)
		}
		if want := closed + " refused: "; !strings.HasPrefix(queue.cells[5], want) || !strings.Contains(queue.cells[5], "connection refused") {
			t.Errorf("view %d: queue's probe is shown as %q, want %q and the dial's error", i, queue.cells[5], want+"…connection refused")
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("the probe target was dialed %d times for one scrape and %d browser views, want 1 (the scrape's): a view dialed", n, views)
	}
}

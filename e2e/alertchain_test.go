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

package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// chainOptions shape an alert chain (startAlertChain).
type chainOptions struct {
	// receiver is the URL Alertmanager's receiver posts to (the example's
	// webhook, its chat below it).
	receiver string
	// groupWait replaces the example's group_wait (30s); group_interval is
	// 1 s, so a group's change is delivered at once.
	groupWait string
	// pendingFor replaces every for: of the shipped alerts (2s when "").
	pendingFor string
	// keepFiringFor replaces every keep_firing_for: of the shipped alerts.
	keepFiringFor string
	// recordingRules loads mixin/rules.yml beside the alerts.
	recordingRules bool
	// scrapeConfigs are Prometheus's scrape_configs entries (YAML, indented
	// by two spaces); the global interval is 1 s.
	scrapeConfigs string
}

// alertChain is a real Alertmanager with examples/alertmanager.yml (its
// route, receivers and inhibit rules; its timers shortened) and a real
// Prometheus evaluating the shipped alerts every second, for: at 2 s
// unless chainOptions say otherwise.
type alertChain struct {
	amAddr, promAddr string
}

// alertChainTools returns the Prometheus and Alertmanager binaries, or
// skips the test: one with minutes of setup before its chain calls it
// first.
func alertChainTools(t *testing.T) (prometheus, alertmanager string) {
	t.Helper()
	return testenv.LookPath(t, "prometheus", "apt-get install prometheus"),
		testenv.LookPath(t, "prometheus-alertmanager", "apt-get install prometheus-alertmanager")
}

// startAlertChain starts Alertmanager, then Prometheus, both with their
// state in dir, both ended with the test.
func startAlertChain(t *testing.T, dir string, o chainOptions) *alertChain {
	t.Helper()
	prometheus, alertmanager := alertChainTools(t)
	writeAlertmanagerConfig(t, dir, strings.NewReplacer(
		"http://127.0.0.1:5001/warden", o.receiver,
		"group_wait: 30s", "group_wait: "+o.groupWait,
		"group_interval: 5m", "group_interval: 1s",
	))
	c := &alertChain{amAddr: startAlertmanager(t, alertmanager, dir)}

	writeShortenedAlerts(t, dir, o.pendingFor, o.keepFiringFor)
	ruleFiles := "[alerts.yml]"
	if o.recordingRules {
		rules, err := os.ReadFile("../mixin/rules.yml")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "rules.yml"), rules, 0o644); err != nil {
			t.Fatal(err)
		}
		ruleFiles = "[alerts.yml, rules.yml]"
	}
	promCfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: %s
alerting:
  alertmanagers:
    - static_configs: [{targets: [%q]}]
scrape_configs:
%s`, ruleFiles, c.amAddr, o.scrapeConfigs)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c.promAddr = testenv.FreeLoopbackAddr(t)
	start(t, "prometheus", "http://"+c.promAddr+"/-/ready", prometheus,
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+c.promAddr)
	return c
}

// scrapeJob is one scrape_configs entry: job scraping targets at the
// global interval.
func scrapeJob(job string, targets ...string) string {
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	return fmt.Sprintf("  - job_name: %s\n    static_configs: [{targets: [%s]}]\n", job, strings.Join(quoted, ", "))
}

// query runs an instant query and returns its vector; a query error fails
// the test.
func (c *alertChain) query(t *testing.T, expr string) []map[string]any {
	t.Helper()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []map[string]any `json:"result"`
		} `json:"data"`
	}
	getJSON(t, "http://"+c.promAddr+"/api/v1/query?query="+url.QueryEscape(expr), &r)
	if r.Status != "success" {
		t.Fatalf("query %s: %s", expr, r.Error)
	}
	return r.Data.Result
}

// firing reports whether Prometheus has alertname for check firing.
func (c *alertChain) firing(t *testing.T, alertname, check string) bool {
	t.Helper()
	var r struct {
		Data struct {
			Alerts []struct {
				State  string            `json:"state"`
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		} `json:"data"`
	}
	getJSON(t, "http://"+c.promAddr+"/api/v1/alerts", &r)
	for _, a := range r.Data.Alerts {
		if a.Labels["alertname"] == alertname && a.Labels["check"] == check && a.State == "firing" {
			return true
		}
	}
	return false
}

// inAlertmanager reports whether Alertmanager holds alertname for check
// as active.
func (c *alertChain) inAlertmanager(t *testing.T, alertname, check string) bool {
	t.Helper()
	var r []struct {
		Labels map[string]string `json:"labels"`
	}
	getJSON(t, "http://"+c.amAddr+"/api/v2/alerts?active=true", &r)
	for _, a := range r {
		if a.Labels["alertname"] == alertname && a.Labels["check"] == check {
			return true
		}
	}
	return false
}

// logAlertmanager logs every alert Alertmanager holds, for a failure.
func (c *alertChain) logAlertmanager(t *testing.T) {
	t.Helper()
	var am []map[string]any
	getJSON(t, "http://"+c.amAddr+"/api/v2/alerts", &am)
	t.Logf("in Alertmanager: %v", am)
}

// logTargets logs how Prometheus's scrapes went, for a failure: each
// target's health, last error and how long its last scrape took.
func (c *alertChain) logTargets(t *testing.T) {
	t.Helper()
	var r struct {
		Data struct {
			ActiveTargets []struct {
				ScrapeURL          string  `json:"scrapeUrl"`
				Health             string  `json:"health"`
				LastError          string  `json:"lastError"`
				LastScrapeDuration float64 `json:"lastScrapeDuration"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	getJSON(t, "http://"+c.promAddr+"/api/v1/targets", &r)
	for _, tg := range r.Data.ActiveTargets {
		t.Logf("target %s: %s, last scrape %.3fs, last error %q", tg.ScrapeURL, tg.Health, tg.LastScrapeDuration, tg.LastError)
	}
}

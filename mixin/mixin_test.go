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

// Package mixin holds the tests of the shipped Prometheus rules,
// Alertmanager inhibit rules and Grafana dashboard (the files beside).
package mixin

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestRulesCheckAndUnitTests(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool", "apt-get install prometheus")
	run(t, promtool, "check", "rules", "alerts.yml", "rules.yml")
	out := run(t, promtool, "test", "rules", "tests.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
}

// Every alert the runbook (docs/alerts.md) documents is in alerts.yml, and every
// alert has a severity, a summary, a description and a runbook link.
func TestAlertsAreDocumented(t *testing.T) {
	data, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	runbook, err := os.ReadFile("../docs/alerts.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range strings.Split(string(data), "- alert: ")[1:] {
		name := strings.Fields(block)[0]
		for _, field := range []string{"severity:", "summary:", "description:"} {
			if !strings.Contains(block, field) {
				t.Errorf("%s has no %s", name, field)
			}
		}
		// Each alert links to its own runbook entry: GitHub's anchor of
		// "### Name" is "#name".
		if name != "WardenDependencyDown" && !strings.Contains(block, `/docs/alerts.md#`+strings.ToLower(name)+`"`) {
			t.Errorf("%s has no runbook_url to docs/alerts.md#%s", name, strings.ToLower(name))
		}
		if !strings.Contains(string(runbook), "\n### "+name+"\n") {
			t.Errorf("docs/alerts.md has no runbook section for %s", name)
		}
	}
}

func TestInhibitRulesLoadInAlertmanager(t *testing.T) {
	amtool := testenv.LookPath(t, "amtool", "apt-get install prometheus-alertmanager")
	inhibit, err := os.ReadFile("alertmanager-inhibit.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := "route:\n  receiver: default\nreceivers:\n  - name: default\n" + string(inhibit)
	path := filepath.Join(t.TempDir(), "alertmanager.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, amtool, "check-config", path)
	if !strings.Contains(out, "SUCCESS") || !strings.Contains(out, "7 inhibit rules") {
		t.Errorf("amtool check-config:\n%s", out)
	}
}

// examples/alertmanager.yml is a complete config amtool accepts, and its
// inhibit rules are the mixin's, to the byte.
func TestExampleAlertmanagerConfig(t *testing.T) {
	amtool := testenv.LookPath(t, "amtool", "apt-get install prometheus-alertmanager")
	out := run(t, amtool, "check-config", "../examples/alertmanager.yml")
	if !strings.Contains(out, "SUCCESS") || !strings.Contains(out, "7 inhibit rules") || !strings.Contains(out, "3 receivers") {
		t.Errorf("amtool check-config examples/alertmanager.yml:\n%s", out)
	}
	example, err := os.ReadFile("../examples/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	inhibit, err := os.ReadFile("alertmanager-inhibit.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, exampleRules, _ := strings.Cut(string(example), "\ninhibit_rules:")
	_, mixinRules, _ := strings.Cut(string(inhibit), "\ninhibit_rules:")
	if exampleRules == "" || exampleRules != mixinRules {
		t.Errorf("examples/alertmanager.yml's inhibit_rules differ from mixin/alertmanager-inhibit.yml's: copy them over")
	}
	for _, want := range []string{"group_by: [instance, check, severity]", "severity = none", `receiver: "null"`} {
		if !strings.Contains(string(example), want) {
			t.Errorf("examples/alertmanager.yml lacks %q", want)
		}
	}
}

// With 500 hosts on one dashboard, a legend without the instance names
// nothing: every per-series legend carries it, and the fleet panels come
// first.
func TestDashboardLegendsNameTheInstance(t *testing.T) {
	data, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr, LegendFormat string
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	titles := map[string]bool{}
	for _, p := range d.Panels {
		titles[p.Title] = true
		for _, tg := range p.Targets {
			if tg.LegendFormat != "" && !strings.Contains(tg.LegendFormat, "{{instance}}") && !strings.HasPrefix(tg.Expr, "sum by (status)") {
				t.Errorf("panel %q: legend %q does not name the instance", p.Title, tg.LegendFormat)
			}
		}
	}
	for _, want := range []string{"Failing checks now, with the diagnosis", "Hosts with the most checks not ok", "Checks down the longest (24h)", "Outages by host (24h)", "Failed units", "Units that will not come back", "Listener inventory", "Containers", "Container engines up", "Container checks", "Container restarts and exits per hour, by class"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}

// noErrors accepts the SDK's way of saying "valid": a nil error, or an
// empty list of errors.
func noErrors(err error) bool {
	if err == nil {
		return true
	}
	var list cog.BuildErrors
	return errors.As(err, &list) && len(list) == 0
}

func TestDashboardValidates(t *testing.T) {
	data, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard.Dashboard
	if err := d.UnmarshalJSONStrict(data); !noErrors(err) {
		t.Fatalf("strict unmarshal: %v", err)
	}
	if err := d.Validate(); !noErrors(err) {
		t.Fatalf("validate: %v", err)
	}
	if d.Uid == nil || *d.Uid != "warden-exporter" {
		t.Error("the dashboard needs a fixed uid")
	}
	var raw map[string]any
	json.Unmarshal(data, &raw)
	if _, ok := raw["__inputs"]; ok {
		t.Error("import-ready dashboards use a datasource variable, not __inputs")
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	for _, want := range []string{"datasource", "instance", "check"} {
		if !vars[want] {
			t.Errorf("no $%s variable", want)
		}
	}
	queries, err := PanelQueries(data)
	if err != nil || len(queries) < 11 {
		t.Errorf("panel queries: %d (%v)", len(queries), err)
	}
}

// The example unit is as hardened as systemd-analyze can tell offline.
func TestExampleUnitIsHardened(t *testing.T) {
	analyze := testenv.LookPath(t, "systemd-analyze", "apt-get install systemd")
	out, err := exec.Command(analyze, "security", "--offline=true", "--no-pager", "--threshold=20", "../examples/systemd/warden_exporter.service").CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v (exposure above 2.0?)\n%s", err, out)
	}
	if !strings.Contains(string(out), "Overall exposure level for warden_exporter.service: 1.") {
		t.Errorf("exposure level:\n%s", out)
	}
}

// The example Prometheus configuration loads, with the shipped rules.
func TestExamplePrometheusConfig(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool", "apt-get install prometheus")
	data, err := os.ReadFile("../examples/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(".")
	cfg := strings.NewReplacer("/etc/prometheus/warden/alerts.yml", filepath.Join(abs, "alerts.yml"), "/etc/prometheus/warden/rules.yml", filepath.Join(abs, "rules.yml")).Replace(string(data))
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	os.WriteFile(path, []byte(cfg), 0o644)
	out := run(t, promtool, "check", "config", path)
	if !strings.Contains(out, "is valid prometheus config file syntax") || !strings.Contains(out, "SUCCESS: 20 rules found") || !strings.Contains(out, "SUCCESS: 5 rules found") {
		t.Errorf("promtool check config:\n%s", out)
	}
}

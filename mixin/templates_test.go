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

package mixin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// notification is Alertmanager's template data (template.Data), as
// amtool template render --template.data reads it.
type notification struct {
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []alert           `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
}

type alert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

// TestNotificationTemplates renders examples/warden.tmpl with
// Alertmanager's own template code (amtool template render) for the
// groups a check's incident makes under the example's group_by:
// [instance, check, severity]: firing, each alert in full; resolved, one
// line per alert, "resolved after X", without the firing text. Before, a
// resolved notification repeated the firing text. The alerts
// WardenCheckDown inhibits are warnings, never in its (critical) group;
// Alertmanager sends no resolved for their group when it never notified
// it, and the template cannot tell them apart when it did (the last
// case).
func TestNotificationTemplates(t *testing.T) {
	amtool := testenv.LookPath(t, "amtool", "apt-get install prometheus-alertmanager")
	start := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	checkDown := func(status string, end time.Time) alert {
		return alert{
			Status: status,
			Labels: map[string]string{"alertname": "WardenCheckDown", "instance": "h1:9863", "job": "warden", "check": "redis", "severity": "critical"},
			Annotations: map[string]string{
				"summary":     "redis on h1:9863 is service_down",
				"description": "Check redis on h1:9863 has been failing for 2 minutes; its status now: service_down: redis-server.service is failed/failed (result exit-code).",
				"runbook_url": "https://github.com/warden-exporter/warden_exporter/blob/main/docs/alerts.md#wardencheckdown",
			},
			StartsAt: start, EndsAt: end,
		}
	}
	// A warning group that notified before the check went down: the unit
	// disabled, sent firing; then the unit failed, inhibited by
	// WardenCheckDown (never sent firing), resolved with the check.
	notEnabled := alert{
		Status:      "firing",
		Labels:      map[string]string{"alertname": "WardenUnitNotEnabled", "instance": "h1:9863", "job": "warden", "check": "redis", "unit": "redis-server.service", "severity": "warning"},
		Annotations: map[string]string{"summary": "redis-server.service (redis) on h1:9863 will not start at boot", "description": "the unit's description"},
		StartsAt:    start.Add(-time.Hour),
	}
	unitFailed := alert{
		Status:      "resolved",
		Labels:      map[string]string{"alertname": "WardenUnitFailed", "instance": "h1:9863", "job": "warden", "check": "redis", "unit": "redis-server.service", "severity": "warning"},
		Annotations: map[string]string{"summary": "redis-server.service (redis) on h1:9863 is failed", "description": "the unit's description"},
		StartsAt:    start.Add(3 * time.Minute), EndsAt: start.Add(12*time.Minute + 31*time.Second),
	}
	ticket := alert{
		Status:      "resolved",
		Labels:      map[string]string{"alertname": "WardenUnitFailedOutsideChecks", "instance": "h1:9863", "job": "warden", "unit": "broken.service", "state": "failed", "severity": "ticket"},
		Annotations: map[string]string{"summary": "broken.service on h1:9863 is failed (no check watches it)", "description": "the ticket's description"},
		StartsAt:    start, EndsAt: start.Add(time.Hour),
	}
	critical := map[string]string{"instance": "h1:9863", "check": "redis", "severity": "critical"}
	warning := map[string]string{"instance": "h1:9863", "check": "redis", "severity": "warning"}
	for _, tc := range []struct {
		name        string
		data        notification
		title, text string // the whole rendering
	}{
		{
			name:  "firing",
			data:  notification{Receiver: "oncall", Status: "firing", Alerts: []alert{checkDown("firing", time.Time{})}, GroupLabels: critical, CommonLabels: checkDown("firing", time.Time{}).Labels},
			title: "[FIRING:1] redis on h1:9863",
			text: "*WardenCheckDown* (critical): redis on h1:9863 is service_down\n" +
				"Check redis on h1:9863 has been failing for 2 minutes; its status now: service_down: redis-server.service is failed/failed (result exit-code).\n" +
				"Runbook: https://github.com/warden-exporter/warden_exporter/blob/main/docs/alerts.md#wardencheckdown\n\n",
		},
		{
			name: "the page resolved",
			data: notification{Receiver: "oncall", Status: "resolved", Alerts: []alert{checkDown("resolved", start.Add(12*time.Minute+31*time.Second))}, GroupLabels: critical,
				CommonLabels: checkDown("resolved", time.Time{}).Labels},
			title: "[RESOLVED] redis on h1:9863",
			text:  "WardenCheckDown redis on h1:9863: resolved after 12m31s\n",
		},
		{
			name: "a warning group that notified before the check went down",
			data: notification{Receiver: "oncall", Status: "firing", Alerts: []alert{notEnabled, unitFailed}, GroupLabels: warning,
				CommonLabels: map[string]string{"instance": "h1:9863", "job": "warden", "check": "redis", "unit": "redis-server.service", "severity": "warning"}},
			title: "[FIRING:1] redis on h1:9863",
			text: "*WardenUnitNotEnabled* (warning): redis-server.service (redis) on h1:9863 will not start at boot\n" +
				"the unit's description\n\n" +
				"WardenUnitFailed redis on h1:9863: resolved after 9m31s\n",
		},
		{
			name: "a ticket resolved",
			data: notification{Receiver: "tickets", Status: "resolved", Alerts: []alert{ticket}, GroupLabels: map[string]string{"instance": "h1:9863"},
				CommonLabels: ticket.Labels},
			title: "[RESOLVED] h1:9863",
			text:  "WardenUnitFailedOutsideChecks broken.service on h1:9863: resolved after 1h0m0s\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "data.json")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			render := func(name string) string {
				return run(t, amtool, "template", "render", "--template.glob=../examples/warden.tmpl",
					"--template.data="+path, `--template.text={{ template "`+name+`" . }}`)
			}
			// Trailing newlines are amtool's and the chat's to drop.
			if got := strings.TrimRight(render("warden.title"), "\n"); got != tc.title {
				t.Errorf("title:\n got: %q\nwant: %q", got, tc.title)
			}
			if got := strings.TrimRight(render("warden.text"), "\n"); got != strings.TrimRight(tc.text, "\n") {
				t.Errorf("text:\n got: %q\nwant: %q", got, tc.text)
			}
		})
	}
}

// The premise of examples/warden.tmpl having no filter of its own: every
// alert WardenCheckDown inhibits has another severity than it, so under
// group_by: [instance, check, severity] none is ever in its group (a
// filter that looked for WardenCheckDown in the group never applied).
func TestCheckDownInhibitsOnlyOtherSeverities(t *testing.T) {
	data, err := os.ReadFile("alertmanager-inhibit.yml")
	if err != nil {
		t.Fatal(err)
	}
	var inhibit struct {
		Rules []struct {
			Source []string `yaml:"source_matchers"`
			Target []string `yaml:"target_matchers"`
		} `yaml:"inhibit_rules"`
	}
	if err := yaml.Unmarshal(data, &inhibit); err != nil {
		t.Fatal(err)
	}
	alerts := shippedAlerts(t)
	pageSeverity := ""
	for _, a := range alerts {
		if a.name == "WardenCheckDown" {
			pageSeverity = a.severity
		}
	}
	targets := 0
	for _, r := range inhibit.Rules {
		if !slices.Equal(r.Source, []string{"alertname = WardenCheckDown"}) {
			continue
		}
		for _, m := range r.Target {
			pattern, ok := strings.CutPrefix(m, "alertname =~ ")
			if !ok {
				t.Fatalf("WardenCheckDown's target matcher %q: this test reads only alertname =~", m)
			}
			re := regexp.MustCompile("^(?:" + strings.Trim(pattern, `"`) + ")$")
			for _, a := range alerts {
				if re.MatchString(a.name) {
					targets++
					if a.severity == pageSeverity {
						t.Errorf("WardenCheckDown inhibits %s, of its own severity %s: they share a group, and a resolved notification lists it", a.name, a.severity)
					}
				}
			}
		}
	}
	if targets == 0 {
		t.Fatal("premise: no alert of alerts.yml is a target of WardenCheckDown's inhibit rule")
	}
}

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
	"strings"
	"testing"
	"time"

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
// groups a check's incident makes: firing, each alert in full; resolved,
// one line per alert that was sent firing, "resolved after X", without the
// firing text. Before, a resolved notification repeated the firing text
// and listed the alerts WardenCheckDown had inhibited, never sent firing.
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
	// Inhibited by WardenCheckDown all along: never sent firing.
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
	group := map[string]string{"instance": "h1:9863", "check": "redis"}
	for _, tc := range []struct {
		name        string
		data        notification
		title, text string // the whole rendering
	}{
		{
			name:  "firing",
			data:  notification{Receiver: "oncall", Status: "firing", Alerts: []alert{checkDown("firing", time.Time{})}, GroupLabels: group, CommonLabels: checkDown("firing", time.Time{}).Labels},
			title: "[FIRING:1] redis on h1:9863",
			text: "*WardenCheckDown* (critical): redis on h1:9863 is service_down\n" +
				"Check redis on h1:9863 has been failing for 2 minutes; its status now: service_down: redis-server.service is failed/failed (result exit-code).\n" +
				"Runbook: https://github.com/warden-exporter/warden_exporter/blob/main/docs/alerts.md#wardencheckdown\n\n",
		},
		{
			name: "resolved, with an alert it inhibited",
			data: notification{Receiver: "oncall", Status: "resolved", Alerts: []alert{checkDown("resolved", start.Add(12*time.Minute+31*time.Second)), unitFailed}, GroupLabels: group,
				CommonLabels: map[string]string{"instance": "h1:9863", "job": "warden", "check": "redis"}},
			title: "[RESOLVED] redis on h1:9863",
			text:  "WardenCheckDown redis on h1:9863: resolved after 12m31s\n",
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

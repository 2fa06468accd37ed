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
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// Every alert of alerts.yml, by its name and severity, reaches in
// examples/alertmanager.yml the receiver its severity is for, as
// Alertmanager's own router (amtool config routes test) resolves it: a
// ticket (WardenUnitFailedOutsideChecks, a failed unit no check names)
// the tickets receiver alone, never the pager; critical and warning the
// pager (oncall); none (an inhibition source) nobody.
func TestExampleAlertmanagerRoutesBySeverity(t *testing.T) {
	amtool := testenv.LookPath(t, "amtool", "apt-get install prometheus-alertmanager")
	receiverFor := map[string]string{"critical": "oncall", "warning": "oncall", "ticket": "tickets", "none": "null"}
	severities := map[string][]string{}
	for _, a := range shippedAlerts(t) {
		severities[a.name] = append(severities[a.name], a.severity)
		want, ok := receiverFor[a.severity]
		if !ok {
			t.Errorf("%s: severity %q, for which this test knows no receiver", a.name, a.severity)
			continue
		}
		args := []string{"config", "routes", "test", "--config.file=../examples/alertmanager.yml",
			"alertname=" + a.name, "severity=" + a.severity, "instance=h1:9863", "job=warden", "check=redis", "unit=redis.service"}
		if got := amtoolRoute(t, amtool, args...); got != want {
			t.Errorf("%s (severity %s) is routed to %q, want %q alone", a.name, a.severity, got, want)
		}
	}
	// The premise: the alerts the routes are for exist with these
	// severities.
	for alert, severity := range map[string]string{"WardenUnitFailedOutsideChecks": "ticket", "WardenCheckDown": "critical", "WardenDependencyDown": "none"} {
		if !slices.Equal(severities[alert], []string{severity}) {
			t.Errorf("alerts.yml: %s has severities %q, want %q", alert, severities[alert], severity)
		}
	}
}

// shippedAlert is one alerting rule of alerts.yml: its name and severity
// (WardenCertificateExpiringSoon is two rules, warning and critical).
type shippedAlert struct{ name, severity string }

// shippedAlerts reads alerts.yml's alerting rules.
func shippedAlerts(t *testing.T) []shippedAlert {
	t.Helper()
	data, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert  string
				Labels map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	var alerts []shippedAlert
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts = append(alerts, shippedAlert{r.Alert, r.Labels["severity"]})
			}
		}
	}
	return alerts
}

// amtoolRoute returns the receivers amtool resolves the labels to, comma
// separated in the routing tree's order (its warnings, on stderr, apart).
func amtoolRoute(t *testing.T, amtool string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(amtool, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("amtool %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

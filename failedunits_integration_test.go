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
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
)

// TestFailedUnitsAreShown: units in ActiveState failed under a real
// manager — one no check names (`exit 3`), one a check names, and enough
// more to pass the list's bound — are on /checks (failed_units: unit,
// Result, since when, the check naming it; clipped, with a count) and on
// the landing page, and the unchecked one has the warden_unit_state series
// WardenUnitFailedOutsideChecks reads. Before: neither page listed any
// failed unit (a service that fails before it ever listened is not even
// learned by discovery).
func TestFailedUnitsAreShown(t *testing.T) {
	m := systemdtest.Start(t)
	began := time.Now().Add(-time.Second) // systemd's clock, in µs, against ours
	m.Run(t, "fu-web", "sleep", "infinity")
	// Sorted by name: fu-broken, fu-db, then the fu-z-* ones, so the two
	// above are among the listed.
	failing := []string{"fu-broken", "fu-db"}
	for i := range systemd.FailedListed + 2 {
		failing = append(failing, fmt.Sprintf("fu-z-%02d", i))
	}
	for _, name := range failing {
		m.Run(t, name, "/bin/sh", "-c", "exit 3")
	}
	for _, name := range failing {
		systemdtest.WaitFor(t, 30*time.Second, name+" to fail", func() bool {
			return m.Show(t, name+".service", "ActiveState") == "failed"
		})
	}
	// The premise: systemd says exit-code.
	if r := m.Show(t, "fu-broken.service", "Result"); r != "exit-code" {
		t.Fatalf("premise: fu-broken.service Result=%s, want exit-code", r)
	}

	cfgPath := filepath.Join(t.TempDir(), "warden.yml")
	writeFile(t, cfgPath, "checks:\n  - {name: web, unit: fu-web.service}\n  - {name: db, unit: fu-db.service}\n")
	p := startExporter(t, "--config.file="+cfgPath, "--systemd.address="+m.PrivateAddress())

	code, body := get(t, p.url("/checks"))
	var checks struct {
		FailedUnits *struct {
			Known bool `json:"known"`
			Units []struct {
				Unit, Result, Since, Check string
			} `json:"units"`
			More int `json:"more"`
		} `json:"failed_units"`
	}
	if err := json.Unmarshal([]byte(body), &checks); code != 200 || err != nil {
		t.Fatalf("/checks: %d %v\n%s", code, err, body)
	}
	fu := checks.FailedUnits
	if fu == nil || !fu.Known {
		t.Fatalf("/checks has no known failed_units section:\n%s", body)
	}
	if len(fu.Units) != systemd.FailedListed || fu.More != len(failing)-systemd.FailedListed {
		t.Fatalf("failed_units lists %d and %d more, want %d and %d", len(fu.Units), fu.More, systemd.FailedListed, len(failing)-systemd.FailedListed)
	}
	for i, want := range []struct{ unit, check string }{{"fu-broken.service", ""}, {"fu-db.service", "db"}} {
		u := fu.Units[i]
		since, err := time.Parse(time.RFC3339, u.Since)
		if u.Unit != want.unit || u.Result != "exit-code" || u.Check != want.check || err != nil || since.Before(began.Truncate(time.Second)) || since.After(time.Now()) {
			t.Errorf("failed_units[%d] = %+v (since: %v), want %s, exit-code, check %q, since between %s and now", i, u, err, want.unit, want.check, began.UTC().Format(time.RFC3339))
		}
	}

	_, page := get(t, p.url("/"))
	for _, want := range []string{
		`<h2>Failed units</h2>`,
		`<tr><td>fu-broken.service</td><td>exit-code</td><td>` + fu.Units[0].Since + `</td><td><i>none</i></td></tr>`,
		`<tr><td>fu-db.service</td><td>exit-code</td>`,
		`and 4 more failed units`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the landing page lacks %s", want)
		}
	}
	if strings.Contains(page, "fu-web.service</td><td>") {
		t.Error("the landing page lists fu-web.service, which runs, as failed")
	}

	_, metrics := get(t, p.url("/metrics"))
	if !strings.Contains(metrics, `warden_unit_state{state="failed",unit="fu-broken.service"} 1`) {
		t.Error(`/metrics lacks warden_unit_state{state="failed",unit="fu-broken.service"} 1, which the ticket alert reads`)
	}
}

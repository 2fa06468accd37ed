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
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// A check's warning notified first (its unit masked while it runs), then
// the check goes down: Alertmanager with examples/alertmanager.yml, every
// duration divided by ten (group_wait 3 s, group_interval 30 s), delivers
// WardenCheckDown after group_wait. Grouped by instance and check alone it
// was held for group_interval behind the warning: 29 s here, up to 5
// minutes shipped (a crash loop's warning made the critical page 6m17s
// late).
func TestCriticalPageIsNotHeldBehindAWarning(t *testing.T) {
	alertmanager := testenv.LookPath(t, "prometheus-alertmanager", "apt-get install prometheus-alertmanager")
	hook := &webhook{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	const groupWait, groupInterval = 3 * time.Second, 30 * time.Second
	r := strings.NewReplacer(
		"http://127.0.0.1:5001/warden", hookSrv.URL,
		"group_wait: 30s", "group_wait: 3s",
		"group_interval: 5m", "group_interval: 30s",
		"repeat_interval: 4h", "repeat_interval: 24m",
	)
	dir := t.TempDir()
	cfg := writeAlertmanagerConfig(t, dir, r)
	for _, want := range []string{"group_wait: 3s", "group_interval: 30s", "repeat_interval: 24m"} {
		if !strings.Contains(cfg, want) {
			t.Fatalf("examples/alertmanager.yml's route timings changed: %q not derived", want)
		}
	}
	amAddr := startAlertmanager(t, alertmanager, dir)

	post := func(labels map[string]string) { postAlert(t, amAddr, labels) }
	post(map[string]string{"alertname": "WardenUnitMasked", "severity": "warning", "instance": "h1:9863", "job": "warden", "check": "redis", "unit": "redis-server.service"})
	systemdtest.WaitFor(t, groupWait+10*time.Second, "the warning delivered", func() bool { return hook.received("WardenUnitMasked", "redis", "firing") })
	sent := time.Now()
	post(map[string]string{"alertname": "WardenCheckDown", "severity": "critical", "instance": "h1:9863", "job": "warden", "check": "redis"})
	systemdtest.WaitFor(t, groupInterval/2, "WardenCheckDown delivered within half of group_interval", func() bool {
		return hook.received("WardenCheckDown", "redis", "firing")
	})
	t.Logf("WardenCheckDown delivered %s after it reached Alertmanager (group_wait %s, group_interval %s)", time.Since(sent).Round(100*time.Millisecond), groupWait, groupInterval)
}

// postAlert sends one alert to the Alertmanager at amAddr, as Prometheus
// would, firing for ten minutes.
func postAlert(t *testing.T, amAddr string, labels map[string]string) {
	t.Helper()
	now := time.Now().UTC()
	body, _ := json.Marshal([]map[string]any{{
		"labels":   labels,
		"startsAt": now.Format(time.RFC3339),
		"endsAt":   now.Add(10 * time.Minute).Format(time.RFC3339),
	}})
	resp, err := http.Post("http://"+amAddr+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("posting %v: %s", labels, resp.Status)
	}
}

// A crash loop every scrape saw as ok: the watch's WardenCheckFlapping
// fires at the third recovery, WardenServiceCrashLooping minutes later
// (more than 3 restarts, for: 2m). Alertmanager with
// examples/alertmanager.yml delivers the first and never the second: one
// page per incident (before the inhibit rule: both, two pages).
func TestACrashLoopTheScrapesSawOkIsOnePage(t *testing.T) {
	alertmanager := testenv.LookPath(t, "prometheus-alertmanager", "apt-get install prometheus-alertmanager")
	hook := &webhook{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	const groupWait, groupInterval = time.Second, 2 * time.Second
	dir := t.TempDir()
	writeAlertmanagerConfig(t, dir, strings.NewReplacer(
		"http://127.0.0.1:5001/warden", hookSrv.URL,
		"group_wait: 30s", "group_wait: 1s",
		"group_interval: 5m", "group_interval: 2s",
	))
	amAddr := startAlertmanager(t, alertmanager, dir)

	labels := func(alertname string) map[string]string {
		return map[string]string{"alertname": alertname, "severity": "warning", "instance": "h1:9863", "job": "warden", "check": "loop", "unit": "loop.service"}
	}
	postAlert(t, amAddr, labels("WardenCheckFlapping"))
	systemdtest.WaitFor(t, groupWait+10*time.Second, "WardenCheckFlapping delivered", func() bool { return hook.received("WardenCheckFlapping", "loop", "firing") })
	postAlert(t, amAddr, labels("WardenServiceCrashLooping"))
	// The group notifies again every group_interval while an alert in it
	// is new: three of them without the crash loop say it is inhibited.
	time.Sleep(3 * groupInterval)
	if got := hook.pages(0); len(got) != 1 {
		t.Errorf("pages delivered: %v, want only WardenCheckFlapping", got)
	}
}

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

// Package e2e runs the whole chain for real: the exporter watching nginx
// and redis-server units under a systemd manager, Prometheus scraping it
// every second with the shipped rules, Alertmanager with the shipped
// inhibit rules, and a webhook receiver.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/servicestest"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
	"github.com/warden-exporter/warden_exporter/mixin"
)

// stepTimeout bounds each wait: Prometheus needs a few seconds after ready
// before its first scrape, then alerts need their (shortened) for:.
const stepTimeout = 45 * time.Second

// start runs a program killed by pid when the test ends, its output kept
// for failures, and waits until url answers 200.
func start(t *testing.T, name string, url string, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var logs bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("%s output:\n%s", name, logs.String())
			mu.Unlock()
		}
	})
	systemdtest.WaitFor(t, stepTimeout, name+" to be ready", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: %v\n%s", u, err, body)
	}
}

// webhook records what Alertmanager sends.
type webhook struct {
	mu     sync.Mutex
	alerts []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	}
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Alerts []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	json.NewDecoder(r.Body).Decode(&msg)
	h.mu.Lock()
	h.alerts = append(h.alerts, msg.Alerts...)
	h.mu.Unlock()
}

func (h *webhook) received(alertname, check, status string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.alerts {
		if a.Labels["alertname"] == alertname && a.Labels["check"] == check && a.Status == status {
			return true
		}
	}
	return false
}

var forRe = regexp.MustCompile(`(?m)^(\s+)for: \S+$`)

func TestAlertsEndToEnd(t *testing.T) {
	prometheus := testenv.LookPath(t, "prometheus", "apt-get install prometheus")
	alertmanager := testenv.LookPath(t, "prometheus-alertmanager", "apt-get install prometheus-alertmanager")
	s := servicestest.Start(t)
	dir := t.TempDir()

	// The exporter, built from this tree.
	bin := filepath.Join(dir, "warden_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cfg := fmt.Sprintf(`checks:
  - name: nginx
    unit: %s
    ports: [{port: %d, address: 127.0.0.1}]
    probes:
      - target: 127.0.0.1:%d
        query_response: [{send: "HEAD / HTTP/1.0\r\n\r\n"}, {expect: "^HTTP/1\\.[01] [23]"}]
  - name: redis
    unit: %s
    depends_on: [nginx]
    ports: [{port: %d}]
    probes:
      - target: 127.0.0.1:%d
        query_response: [{send: "PING\r\n"}, {expect: "^\\+PONG"}]
`, servicestest.NginxUnit, s.NginxPort, s.NginxPort, servicestest.RedisUnit, s.RedisPort, s.RedisPort)
	os.WriteFile(filepath.Join(dir, "warden.yml"), []byte(cfg), 0o644)
	exporterAddr := testenv.FreeLoopbackAddr(t)
	start(t, "warden_exporter", "http://"+exporterAddr+"/-/ready", bin,
		"--web.listen-address="+exporterAddr, "--config.file="+filepath.Join(dir, "warden.yml"), "--systemd.address="+s.M.PrivateAddress())

	// Alertmanager with the shipped inhibit rules and a webhook.
	hook := &webhook{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	inhibit, err := os.ReadFile("../mixin/alertmanager-inhibit.yml")
	if err != nil {
		t.Fatal(err)
	}
	amCfg := fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname, check]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{url: %q, send_resolved: true}]
%s`, hookSrv.URL, inhibit)
	os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(amCfg), 0o644)
	amAddr := testenv.FreeLoopbackAddr(t)
	start(t, "alertmanager", "http://"+amAddr+"/-/ready", alertmanager,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")

	// Prometheus scraping every second, with the shipped rules and short
	// for: durations.
	alerts, err := os.ReadFile("../mixin/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "alerts.yml"), forRe.ReplaceAll(alerts, []byte("${1}for: 2s")), 0o644)
	rules, _ := os.ReadFile("../mixin/rules.yml")
	os.WriteFile(filepath.Join(dir, "rules.yml"), rules, 0o644)
	promCfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml, rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: [%q]}]
scrape_configs:
  - job_name: warden
    static_configs: [{targets: [%q]}]
`, amAddr, exporterAddr)
	os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promCfg), 0o644)
	promAddr := testenv.FreeLoopbackAddr(t)
	start(t, "prometheus", "http://"+promAddr+"/-/ready", prometheus,
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)

	query := func(expr string) []map[string]any {
		var r struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []map[string]any `json:"result"`
			} `json:"data"`
		}
		getJSON(t, "http://"+promAddr+"/api/v1/query?query="+url.QueryEscape(expr), &r)
		if r.Status != "success" {
			t.Fatalf("query %s: %s", expr, r.Error)
		}
		return r.Data.Result
	}
	firing := func(alertname, check string) bool {
		var r struct {
			Data struct {
				Alerts []struct {
					State  string            `json:"state"`
					Labels map[string]string `json:"labels"`
				} `json:"alerts"`
			} `json:"data"`
		}
		getJSON(t, "http://"+promAddr+"/api/v1/alerts", &r)
		for _, a := range r.Data.Alerts {
			if a.Labels["alertname"] == alertname && a.Labels["check"] == check && a.State == "firing" {
				return true
			}
		}
		return false
	}
	inAlertmanager := func(alertname, check string) bool {
		var r []struct {
			Labels map[string]string `json:"labels"`
		}
		getJSON(t, "http://"+amAddr+"/api/v2/alerts?active=true", &r)
		for _, a := range r {
			if a.Labels["alertname"] == alertname && a.Labels["check"] == check {
				return true
			}
		}
		return false
	}

	systemdtest.WaitFor(t, stepTimeout, "Prometheus to scrape both checks as up", func() bool {
		return len(query(`warden_check_up == 1`)) == 2
	})

	// Every panel of the dashboard runs on the real Prometheus.
	dashboard, err := os.ReadFile("../mixin/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$instance", ".*", "$check", ".*")
	queries, err := mixin.PanelQueries(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range queries {
		query(vars.Replace(expr)) // fails the test on a query error
	}
	if len(query(vars.Replace(`warden_check_status{instance=~"$instance", check=~"$check"} == 1`))) != 2 {
		t.Error("the status table's query returns no rows")
	}

	t.Run("redis stopped: WardenCheckDown fires, reaches Alertmanager and the webhook", func(t *testing.T) {
		s.M.Systemctl(t, "stop", servicestest.RedisUnit)
		systemdtest.WaitFor(t, stepTimeout, "WardenCheckDown{check=redis} firing in Prometheus", func() bool { return firing("WardenCheckDown", "redis") })
		systemdtest.WaitFor(t, stepTimeout, "WardenCheckDown{check=redis} in Alertmanager", func() bool { return inAlertmanager("WardenCheckDown", "redis") })
		systemdtest.WaitFor(t, stepTimeout, "the webhook to receive it", func() bool { return hook.received("WardenCheckDown", "redis", "firing") })
		if got := query(`warden_check_status{check="redis",status="service_and_port_down"} == 1`); len(got) != 1 {
			t.Errorf("redis status: %v", got)
		}
	})
	t.Run("redis started again: the alert resolves", func(t *testing.T) {
		s.StartRedis(t)
		systemdtest.WaitFor(t, stepTimeout, "WardenCheckDown{check=redis} to resolve", func() bool {
			return !firing("WardenCheckDown", "redis") && hook.received("WardenCheckDown", "redis", "resolved")
		})
	})
	t.Run("nginx moved to another port: the port alert fires", func(t *testing.T) {
		s.MoveNginx(t, testenv.FreePort(t))
		systemdtest.WaitFor(t, stepTimeout, "WardenServicePortDown{check=nginx} firing", func() bool { return firing("WardenServicePortDown", "nginx") })
		// redis depends on nginx: the inhibition source fires with it.
		systemdtest.WaitFor(t, stepTimeout, "WardenDependencyDown to be computed", func() bool {
			return len(query(`warden_check_dependency_info{check="redis",depends_on="nginx"}`)) == 1
		})
	})

}

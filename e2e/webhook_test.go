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
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// delivered is one alert of a notification Alertmanager sent.
type delivered struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// at is when the webhook received it: a page's latency.
	at time.Time
}

// webhook records what Alertmanager sends.
type webhook struct {
	mu     sync.Mutex
	alerts []delivered
	// apart is a host whose alerts pages leaves out: its scenarios run
	// beside the others' and count their own (pagesOf).
	apart string
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Alerts []delivered `json:"alerts"`
	}
	// A notification of a few alerts is a few KiB.
	json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&msg)
	now := time.Now()
	for i := range msg.Alerts {
		msg.Alerts[i].at = now
	}
	h.mu.Lock()
	h.alerts = append(h.alerts, msg.Alerts...)
	h.mu.Unlock()
}

// pages returns the distinct alerts delivered as firing since the n-th
// alert the webhook received: what reached a person. The host apart is
// left out.
func (h *webhook) pages(since int) []string {
	return h.firing(since, func(a delivered) bool { return h.apart == "" || a.Labels["instance"] != h.apart })
}

// pagesOf is pages for one host's alerts alone.
func (h *webhook) pagesOf(since int, instance string) []string {
	return h.firing(since, func(a delivered) bool { return a.Labels["instance"] == instance })
}

func (h *webhook) firing(since int, keep func(delivered) bool) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, a := range h.alerts[min(since, len(h.alerts)):] {
		key := a.Labels["alertname"] + "{check=" + a.Labels["check"] + "}"
		if a.Status == "firing" && keep(a) && !seen[key] {
			seen[key] = true
			out = append(out, key)
		}
	}
	return out
}

// deliveries counts the notifications of alertname for check with status
// delivered after the n-th alert the webhook received.
func (h *webhook) deliveries(since int, alertname, check, status string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, a := range h.alerts[min(since, len(h.alerts)):] {
		if a.Status == status && a.Labels["alertname"] == alertname && a.Labels["check"] == check {
			n++
		}
	}
	return n
}

// firstAt returns when the first notification of alertname for check
// with status arrived after the n-th alert the webhook received.
func (h *webhook) firstAt(since int, alertname, check, status string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.alerts[min(since, len(h.alerts)):] {
		if a.Status == status && a.Labels["alertname"] == alertname && a.Labels["check"] == check {
			return a.at, true
		}
	}
	return time.Time{}, false
}

// resolvedSince reports whether a "resolved" for alertname of check was
// delivered after the n-th alert the webhook received.
func (h *webhook) resolvedSince(since int, alertname, check string) bool {
	return h.deliveries(since, alertname, check, "resolved") > 0
}

// description returns the description of the last firing notification of
// alertname for check.
func (h *webhook) description(alertname, check string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.alerts) - 1; i >= 0; i-- {
		a := h.alerts[i]
		if a.Status == "firing" && a.Labels["alertname"] == alertname && a.Labels["check"] == check {
			return a.Annotations["description"]
		}
	}
	return ""
}

func (h *webhook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.alerts)
}

func (h *webhook) received(alertname, check, status string) bool {
	return h.deliveries(0, alertname, check, status) > 0
}

// writeAlertmanagerConfig writes examples/alertmanager.yml, rewritten by
// r, into dir with the template file it names (examples/warden.tmpl):
// without it Alertmanager cannot render its chat notifications. It returns
// the rewritten config.
func writeAlertmanagerConfig(t *testing.T, dir string, r *strings.Replacer) string {
	t.Helper()
	example, err := os.ReadFile("../examples/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile("../examples/warden.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.Replace(string(example))
	for name, data := range map[string][]byte{"warden.tmpl": tmpl, "alertmanager.yml": []byte(cfg)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// startAlertmanager runs the Alertmanager binary bin on the config in dir
// (writeAlertmanagerConfig), on a free loopback port, for the test's
// length, and returns its address once it is ready.
func startAlertmanager(t *testing.T, bin, dir string) string {
	t.Helper()
	addr := testenv.FreeLoopbackAddr(t)
	start(t, "alertmanager", "http://"+addr+"/-/ready", bin,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+addr, "--cluster.listen-address=")
	return addr
}

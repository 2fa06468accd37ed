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
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// chat records the Slack-style messages Alertmanager posts (the example's
// slack_configs, rendered with examples/warden.tmpl), by path.
type chat struct {
	mu       sync.Mutex
	messages []chatMessage
}

type chatMessage struct {
	path, title, text string
}

func (c *chat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Attachments []struct {
			Title string `json:"title"`
			Text  string `json:"text"`
		} `json:"attachments"`
	}
	// The example's webhook posts to "/", the slack_configs below it.
	if r.URL.Path != "/" && json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&msg) == nil {
		c.mu.Lock()
		for _, a := range msg.Attachments {
			c.messages = append(c.messages, chatMessage{r.URL.Path, a.Title, a.Text})
		}
		c.mu.Unlock()
	}
}

// find returns the first message to path whose title starts with prefix.
func (c *chat) find(path, prefix string) (chatMessage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.messages {
		if m.path == path && strings.HasPrefix(m.title, prefix) {
			return m, true
		}
	}
	return chatMessage{}, false
}

// TestNotificationsEndToEnd: the real exporter, Prometheus with the
// shipped rules and Alertmanager with examples/alertmanager.yml and
// examples/warden.tmpl. A check whose dependency is only unknown (the
// exporter cannot reach systemd) pages: before, WardenDependencyDown
// (warden_check_up == 0) fired for an unknown dependency and inhibited the
// page, which never came. Its chat message reads well both ways: firing
// with the diagnosis, resolved as one line "resolved after X" without the
// firing text.
func TestNotificationsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	bin := buildExporter(t, dir)

	// app listens on a port nobody holds yet (port_down, known); db names a
	// unit of a systemd the exporter cannot reach (unknown).
	appPort := testenv.FreePort(t)
	os.WriteFile(filepath.Join(dir, "warden.yml"), []byte(fmt.Sprintf(`checks:
  - name: db
    unit: db.service
  - name: app
    depends_on: [db]
    ports: [{port: %d, address: 127.0.0.1}]
`, appPort)), 0o644)
	exporterAddr := testenv.FreeLoopbackAddr(t)
	start(t, "warden_exporter", "http://"+exporterAddr+"/-/ready", bin,
		"--web.listen-address="+exporterAddr, "--config.file="+filepath.Join(dir, "warden.yml"),
		"--systemd.address=unix:path="+filepath.Join(dir, "no-such-manager"), "--no-collector.probes")

	messages := &chat{}
	srv := httptest.NewServer(messages)
	t.Cleanup(srv.Close)
	startAlertChain(t, dir, chainOptions{receiver: srv.URL, groupWait: "1s", keepFiringFor: "3s", scrapeConfigs: scrapeJob("warden", exporterAddr)})

	// The premise: db is unknown, app known down.
	resp, err := http.Get("http://" + exporterAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	for _, want := range []string{`warden_check_status{check="db",status="unknown"} 1`, `warden_check_status{check="app",status="port_down"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("premise: /metrics lacks %s", want)
		}
	}

	title := "[FIRING:1] app on " + exporterAddr
	systemdtest.WaitFor(t, stepTimeout, "app's page while db is only unknown", func() bool {
		_, ok := messages.find("/chat", title)
		return ok
	})
	firing, _ := messages.find("/chat", title)
	for _, want := range []string{"*WardenCheckDown* (critical): app on " + exporterAddr + " is port_down", "nothing listens on tcp 127.0.0.1:", "Runbook: "} {
		if !strings.Contains(firing.text, want) {
			t.Errorf("the firing message lacks %q:\n%s", want, firing.text)
		}
	}

	// app recovers: the resolved message is one line per alert.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", appPort))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	systemdtest.WaitFor(t, stepTimeout, "app's resolved message", func() bool {
		_, ok := messages.find("/chat", "[RESOLVED] app on "+exporterAddr)
		return ok
	})
	resolved, _ := messages.find("/chat", "[RESOLVED] app on "+exporterAddr)
	lines := strings.Split(strings.TrimSpace(resolved.text), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "WardenCheckDown app on "+exporterAddr+": resolved after ") || strings.Contains(resolved.text, "Runbook") {
		t.Errorf("the resolved message is not one line \"WardenCheckDown app on %s: resolved after X\":\n%s", exporterAddr, resolved.text)
	}
}

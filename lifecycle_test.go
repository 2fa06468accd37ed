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
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/collector"
	"github.com/warden-exporter/warden_exporter/internal/discovery"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// The lifecycle endpoints were on by default, on every interface the
// exporter listens on: anyone who could reach it could reload it or make
// it forget a check. Now they need --web.enable-lifecycle (Prometheus's
// flag and answer); SIGHUP still reloads without it.
func TestLifecycleEndpointsNeedTheFlag(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "warden.yml")
	writeFile(t, cfgPath, "checks:\n  - name: first\n    ports: [{port: 22}]\n")
	p := startExporter(t, "--config.file="+cfgPath, "--no-collector.systemd", "--no-collector.probes")
	for _, path := range []string{"/-/reload", "/-/forget?check=first"} {
		code, body := post(t, p.url(path))
		if code != http.StatusForbidden || !strings.Contains(body, "Lifecycle API is not enabled") || !strings.Contains(body, "--web.enable-lifecycle") {
			t.Errorf("POST %s without --web.enable-lifecycle: %d %q, want 403 naming the flag", path, code, body)
		}
	}
	if code, _ := get(t, p.url("/-/reload")); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d, want 405", code)
	}
	// SIGHUP (what `systemctl reload` sends) needs no flag.
	writeFile(t, cfgPath, "checks:\n  - name: second\n    ports: [{port: 22}]\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, body := get(t, p.url("/config")); strings.Contains(body, "name: second") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload without --web.enable-lifecycle")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A page on a name its owner rebinds to the exporter's address (DNS
// rebinding) sends a same-origin POST: the cross-origin check lets it
// through, and it reloaded the exporter. Its Host is the page's name.
func TestLifecycleRefusesForeignHosts(t *testing.T) {
	hostname, err := os.Hostname()
	if err != nil || hostname == "" {
		t.Fatalf("this machine has no hostname to test with: %v", err)
	}
	p := startExporter(t, "--no-collector.systemd", "--no-collector.probes", "--web.enable-lifecycle", "--web.lifecycle-allowed-host=Prom.Example.org")
	_, port, _ := strings.Cut(p.addr, ":")
	for _, tc := range []struct {
		name, host string
		want       int
	}{
		{"a rebinding page's name", "rebind.attacker.example:" + port, http.StatusForbidden},
		{"a rebinding page's name without a port", "rebind.attacker.example", http.StatusForbidden},
		{"a name that ends like an allowed one", "evil-prom.example.org:" + port, http.StatusForbidden},
		{"the address asked (curl, a config manager)", p.addr, http.StatusOK},
		{"an IPv6 address", "[::1]:" + port, http.StatusOK},
		{"localhost", "localhost:" + port, http.StatusOK},
		{"localhost, upper case, the root's dot", "LOCALHOST.:" + port, http.StatusOK},
		{"this machine's hostname", hostname + ":" + port, http.StatusOK},
		{"a name --web.lifecycle-allowed-host adds", "prom.example.org.:" + port, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, p.url("/-/reload"), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tc.host
			// What a browser on the rebound name sends: same-origin.
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("Host %q: %d %q, want %d", tc.host, resp.StatusCode, body, tc.want)
			}
			if tc.want == http.StatusForbidden && !strings.Contains(string(body), "--web.lifecycle-allowed-host") {
				t.Errorf("the refusal does not say how to allow a name: %q", body)
			}
		})
	}
}

// The names accepted besides addresses and localhost: the hostname, its
// names in /etc/hosts (Debian's "127.0.1.1 FQDN short" line), the listen
// addresses' names and the flag's.
func TestLifecycleHosts(t *testing.T) {
	hostname, err := os.Hostname()
	if err != nil || hostname == "" {
		t.Fatalf("this machine has no hostname to test with: %v", err)
	}
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, "127.0.0.1 localhost\n# 10.0.0.9 commented.example "+hostname+"\n127.0.1.1\tweb1.fleet.example "+strings.ToUpper(hostname)+"  # installer\n10.0.0.2 other.example\n")
	got := lifecycleHosts(hosts, []string{"exporter.internal:9863", "[::1]:9863", ":9863", "192.0.2.1:9863"}, []string{"Scraper.Example."})
	want := []string{strings.ToLower(hostname), "web1.fleet.example", "exporter.internal", "scraper.example"}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%q is not accepted: %q", w, got)
		}
	}
	for _, n := range []string{"other.example", "commented.example", "::1", "192.0.2.1", ""} {
		if slices.Contains(got, n) {
			t.Errorf("%q is accepted: %q", n, got)
		}
	}
}

// unitsOf is a UnitReader serving fixed units.
type unitsOf []systemd.Unit

func (u unitsOf) Snapshot(context.Context, []string) (*systemd.Snapshot, error) {
	return systemd.SnapshotOf(u...), nil
}

// learnedState is a state file in which each unit learned one port.
func learnedState(units ...string) string {
	seen := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	var entries []string
	for i, u := range units {
		port := 20000 + i
		entries = append(entries, fmt.Sprintf(`%q: {"last_loaded": %q, "ports": {"tcp 127.0.0.1 %d": {"proto": "tcp", "address": "127.0.0.1", "port": %d, "first_seen": %q, "last_seen": %q, "learned": true}}}`,
			u, seen, port, port, seen, seen))
	}
	return `{"version": 1, "units": {` + strings.Join(entries, ", ") + `}}`
}

// Forgetting a unit systemd still has loaded drops the check of a service
// that is there: it needs force=true, or it is a 409 that says so.
func TestForgetNeedsForceForALoadedUnit(t *testing.T) {
	state := filepath.Join(t.TempDir(), "learned.json")
	writeFile(t, state, learnedState("db.service", "retired.service"))
	srv, _ := newHandlerServer(t, serverOptions{maxRequests: 4, lifecycle: lifecycleOptions{enabled: true}}, nil, collector.Options{
		Systemd: unitsOf{
			{Name: "db.service", LoadState: "loaded", ActiveState: "active", SubState: "running"},
			{Name: "retired.service", LoadState: "not-found", ActiveState: "inactive", SubState: "dead"},
		},
		Discovery: discovery.Options{StateFile: state},
	})
	for _, step := range []struct {
		query string
		want  int
		says  string
	}{
		{"check=db.service", http.StatusConflict, "force=true"},
		{"check=db.service&force=false", http.StatusConflict, "active/running"},
		{"check=db.service&force=maybe", http.StatusBadRequest, "force"},
		{"check=retired.service", http.StatusOK, "Forgotten"},
		{"check=db.service&force=true", http.StatusOK, "Forgotten"},
		{"check=db.service&force=true", http.StatusNotFound, "No learned check"},
	} {
		code, body := post(t, srv.URL+"/-/forget?"+step.query)
		if code != step.want || !strings.Contains(body, step.says) {
			t.Errorf("POST /-/forget?%s: %d %q, want %d saying %q", step.query, code, body, step.want, step.says)
		}
	}
}

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

package verdict

import (
	"strings"
	"testing"

	"github.com/warden-exporter/warden_exporter/config"
)

// A port from a daemon's configuration says where it comes from, and one
// that is down names the file and line; a configuration not applied is said
// for a human, never in the label, and shows both sides.
func TestDaemonConfiguredPorts(t *testing.T) {
	nginx := sdv(sd{Name: "nginx.service", LoadState: "loaded", ActiveState: "active", SubState: "running"})
	in := &Input{
		Units:      unitsOf(nginx),
		Host:       NewNamespace([]Listener{lst("tcp", "0.0.0.0", 80, false)}, []Owner{{Unit: "nginx.service"}}),
		KnownUnits: map[string]bool{"nginx.service": true},
		ProbesRead: true,
		DaemonConfigs: map[string]DaemonConfig{
			"nginx.service": {Daemon: "nginx", File: "/etc/nginx/nginx.conf",
				Configured: []string{"tcp 0.0.0.0:80 (nginx: /etc/nginx/sites-enabled/default:22)", "tcp 0.0.0.0:8443 (nginx: /etc/nginx/sites-enabled/default:23)"}},
			"moved": {Daemon: "nginx", NotApplied: true, Configured: []string{"tcp 0.0.0.0:8080 (nginx: /etc/nginx/sites-enabled/default:22)"}},
		},
	}
	src := func(line string) string { return "nginx: /etc/nginx/sites-enabled/default:" + line }
	checks := []config.Check{
		{Name: "nginx.service", Unit: "nginx.service", Ports: []config.Port{
			{Proto: "tcp", Address: "0.0.0.0", Port: 80, Source: src("22")},
			{Proto: "tcp", Address: "0.0.0.0", Port: 8443, Source: src("23")},
		}},
		{Name: "moved", Unit: "nginx.service", Ports: []config.Port{{Proto: "tcp", Address: "0.0.0.0", Port: 80, Source: src("22")}}},
		{Name: "learned", Unit: "nginx.service", Ports: []config.Port{{Proto: "tcp", Port: 81, Source: config.SourceLearned}}},
		{Name: "configured", Unit: "nginx.service", Ports: []config.Port{{Proto: "tcp", Port: 82}}},
	}
	vs := Evaluate(checks, map[string]bool{"nginx.service": true, "learned": true}, in)

	v := vs[0]
	if v.Status != PortDown {
		t.Fatalf("8443 configured, not bound: %s (%s)", v.Status, v.Reason)
	}
	want := "nothing listens on tcp 0.0.0.0:8443 (" + src("23") + ") while nginx.service is active/running"
	if !strings.HasPrefix(v.Reason, want) || !strings.HasPrefix(v.Diagnosis, want) {
		t.Errorf("reason %q, label %q: want both to start %q", v.Reason, v.Diagnosis, want)
	}
	if v.Ports[0].Source != src("22") || v.Ports[1].Source != src("23") {
		t.Errorf("sources %q, %q", v.Ports[0].Source, v.Ports[1].Source)
	}
	if v.DaemonConfig == nil || v.DaemonConfig.Daemon != "nginx" || len(v.DaemonConfig.Configured) != 2 {
		t.Errorf("daemon_config %+v", v.DaemonConfig)
	}

	moved := vs[1]
	if moved.Status != OK || moved.Diagnosis != "every layer is healthy" {
		t.Errorf("not applied is no failure: %s, label %q", moved.Status, moved.Diagnosis)
	}
	if !strings.Contains(moved.Reason, "nginx's configuration changed after nginx.service last (re)started or reloaded: it asks for tcp 0.0.0.0:8080") ||
		!strings.Contains(moved.Reason, "nginx.service listens on tcp 0.0.0.0:80") {
		t.Errorf("not applied, reason %q: want both sides", moved.Reason)
	}
	if got := moved.DaemonConfig.Listening; len(got) != 1 || got[0] != "tcp 0.0.0.0:80" {
		t.Errorf("not applied: listening %q, want where it listens now", got)
	}

	if vs[2].Ports[0].Source != SourceLearned || vs[2].DaemonConfig != nil {
		t.Errorf("a learned port: source %q, daemon_config %+v", vs[2].Ports[0].Source, vs[2].DaemonConfig)
	}
	if vs[3].Ports[0].Source != SourceConfigured {
		t.Errorf("a port of the exporter's configuration: source %q", vs[3].Ports[0].Source)
	}
	// A learned port down is worded as before: no source in the label.
	if strings.Contains(vs[2].Diagnosis, "learned") {
		t.Errorf("a learned port down: %q names its source", vs[2].Diagnosis)
	}
}

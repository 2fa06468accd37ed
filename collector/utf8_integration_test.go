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

package collector

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/servicestest"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// A process any local user renamed to bytes that are not UTF-8 holds a
// check's port. Its name reached the reason label, building that series
// panicked, client_golang recovered and Collect stopped there: the check
// lost the rest of its series, every later check and warden_listener_info
// vanished, and the scrape still answered 200. Now every check and the
// inventory are served, the name is valid UTF-8 wherever it shows, and no
// series is left out.
func TestRenamedProcessOnACheckPortLosesNoSeries(t *testing.T) {
	m := systemdtest.Start(t)
	pWeb, pEvil := strconv.Itoa(testenv.FreePort(t)), strconv.Itoa(testenv.FreePort(t))
	runListenerUnit(t, m, "u8-web", "tcp", "127.0.0.1:"+pWeb)
	evil := testenv.StartRenamedListener(t, "\xff\xfeevil", "tcp", "127.0.0.1:"+pEvil)
	servicestest.WaitDial(t, "127.0.0.1:"+pWeb)

	tcp := func(p string) []config.Port { n, _ := strconv.Atoi(p); return []config.Port{{Port: n, Proto: "tcp"}} }
	cfg := &config.Config{Checks: []config.Check{
		{Name: "a-web", Unit: "u8-web.service", Ports: tcp(pWeb)},
		{Name: "b-squatted", Unit: "u8-web.service", Ports: tcp(pEvil)},
		{Name: "c-later", Unit: "u8-web.service", Ports: tcp(pWeb)},
		{Name: "d-gone", Unit: "u8-gone.service"},
	}}
	e := newPortExporter(t, m, "netlink", cfg)
	handlerErrors := prometheus.NewRegistry()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		// As the exporter's /metrics does (server.go): the rest of a
		// scrape is served past an error, which promhttp counts.
		promhttp.HandlerFor(e.Gatherer(ctx), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Registry: handlerErrors}).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	var body []byte
	systemdtest.WaitFor(t, 20*time.Second, "b-squatted to be foreign_listener", func() bool {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape: %s", resp.Status)
		}
		return bytes.Contains(body, []byte(`warden_check_status{check="b-squatted",status="foreign_listener"} 1`))
	})

	if !utf8.Valid(body) {
		t.Error("the scrape is not valid UTF-8")
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	s := scraped{families: families}
	for _, c := range cfg.Checks {
		for _, family := range []string{"warden_check_up", "warden_check_status_changes_total", "warden_check_down_seconds_total", "warden_service_up"} {
			if _, ok := s.value(family, "check="+c.Name); !ok {
				t.Errorf("%s{check=%q} is missing", family, c.Name)
			}
		}
	}
	if _, ok := s.value("warden_port_listening", "check=b-squatted"); !ok {
		t.Error("b-squatted lost its port series")
	}
	if _, ok := s.value("warden_listener_info", "port="+pEvil, "unit="); !ok {
		t.Error("warden_listener_info lacks the renamed process's listener")
	}
	if _, ok := s.value("warden_listener_info", "port="+pWeb, "unit=u8-web.service"); !ok {
		t.Error("warden_listener_info lacks u8-web's listener")
	}
	var reason string
	for _, r := range s.series("warden_check_reason_info", "check=b-squatted") {
		reason = r.labels["reason"]
	}
	if reason == "" || !utf8.ValidString(reason) || strings.Contains(reason, "evil") && !strings.Contains(reason, "\uFFFDevil") {
		t.Errorf("b-squatted's reason label %q: want one, valid UTF-8 (the name with U+FFFD)", reason)
	}
	if v, ok := s.value("warden_series_errors_total"); !ok || v != 0 {
		t.Errorf("warden_series_errors_total %v (present %v), want 0", v, ok)
	}
	if mfs, _ := handlerErrors.Gather(); len(mfs) > 0 {
		for _, m := range indexFamilies(mfs).families["promhttp_metric_handler_errors_total"].GetMetric() {
			if m.GetCounter().GetValue() != 0 {
				t.Errorf("promhttp_metric_handler_errors_total %v", m)
			}
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}

	// What /checks shows: the name, valid, with the pid.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	verdicts, err := e.Verdicts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "\uFFFDevil (pid " + strconv.Itoa(evil.PID) + ")"
	v := verdictOf(verdicts, "b-squatted")
	if v == nil || len(v.Ports) != 1 || len(v.Ports[0].Seen) == 0 || !strings.HasPrefix(v.Ports[0].Seen[0].Owner, want) {
		t.Fatalf("b-squatted's verdict %+v: want its port seen held by %q", v, want)
	}
	if !utf8.ValidString(v.Reason) || !strings.Contains(v.Reason, "\uFFFDevil") {
		t.Errorf("b-squatted's reason %q: want the name, valid UTF-8", v.Reason)
	}
}

func verdictOf(vs []verdict.Verdict, check string) *verdict.Verdict {
	for i := range vs {
		if vs[i].Check == check {
			return &vs[i]
		}
	}
	return nil
}

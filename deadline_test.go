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
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/collector"
	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// slowPong answers +PONG after delay on every connection, counting them.
func slowPong(t *testing.T, dials *atomic.Int64, delay time.Duration) string {
	t.Helper()
	return testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		dials.Add(1)
		time.Sleep(delay)
		io.WriteString(c, "+PONG\r\n")
	})
}

// pongCheck is a check whose one probe expects +PONG from target.
func pongCheck(name, target string) config.Check {
	return config.Check{Name: name, Probes: []config.Probe{{
		Target: target, Timeout: model.Duration(2 * time.Second), IPProtocol: "auto",
		QueryResponse: []config.Step{{Expect: &config.Regexp{Regexp: regexp.MustCompile(`^\+PONG`)}}},
	}}}
}

// scrapeWith scrapes url with Prometheus's timeout header (seconds; ""
// for none) and returns the status code and the parsed families (nil
// unless 200).
func scrapeWith(t *testing.T, url, timeout string) (int, map[string]sampleSet) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if timeout != "" {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", timeout)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Errorf("scrape: %v", err)
		return 0, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Errorf("parsing a scrape: %v", err)
		return resp.StatusCode, nil
	}
	out := map[string]sampleSet{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[name] = append(out[name], sample{labels, v})
		}
	}
	return resp.StatusCode, out
}

type sample struct {
	labels map[string]string
	value  float64
}

type sampleSet []sample

// sum adds the samples whose labels include every pair of match.
func (s sampleSet) sum(match ...string) float64 {
	total := 0.0
	for _, smp := range s {
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			ok = ok && smp.labels[match[i]] == match[i+1]
		}
		if ok {
			total += smp.value
		}
	}
	return total
}

// A client's short X-Prometheus-Scrape-Timeout-Seconds must not shorten
// anyone else's scrape. Three clients loop sending 0.6 (a 0.1 s deadline
// after the 0.5 s offset) against a service that answers in 200 ms, while
// Prometheus-like scrapes send 10. (Before: every 10 s scrape joined the
// short evaluation in progress and saw probe_failed, 20 of 20; 213
// timeouts counted in warden_probe_failures_total.)
func TestShortScrapeTimeoutsDoNotFailOtherScrapes(t *testing.T) {
	var dials atomic.Int64
	cfg := &config.Config{Checks: []config.Check{pongCheck("slow", slowPong(t, &dials, 200*time.Millisecond))}}
	srv, _ := newHandlerServer(t, serverOptions{maxRequests: 40}, cfg, collector.Options{Probes: probe.New(probe.Options{})})
	attack := hurryingClients(t, srv.URL+"/metrics", "slow")

	for i := range 20 {
		code, m := scrapeWith(t, srv.URL+"/metrics", "10")
		if code != http.StatusOK || m["warden_check_up"].sum("check", "slow") != 1 {
			t.Errorf("scrape %d with a 10 s timeout beside clients sending 0.6: %d, warden_check_up %v, failures %v", i, code, m["warden_check_up"], m["warden_probe_failure"])
		}
	}
	attack.stop()
	// The premise: the short clients' own evaluations were cut short (a
	// 0.1 s deadline against a 200 ms service), so they did press.
	_, m := scrapeWith(t, srv.URL+"/metrics", "10")
	if attack.failures.Load() == 0 || m["warden_probe_runs_cut_short_total"].sum() == 0 {
		t.Fatalf("the premise failed: %d short-timeout scrapes, %d saw the check fail, %v runs cut short", attack.scrapes.Load(), attack.failures.Load(), m["warden_probe_runs_cut_short_total"])
	}
	// And what every requester shares did not count their deadline as
	// the service failing.
	if n := m["warden_probe_failures_total"].sum(); n != 0 {
		t.Errorf("warden_probe_failures_total is %v after %d short-timeout scrapes: a client's deadline counted as the service's failure", n, attack.scrapes.Load())
	}
	if n := m["warden_check_status_changes_total"].sum(); n != 0 {
		t.Errorf("warden_check_status_changes_total is %v: a client's deadline counted as an outage", n)
	}
	if n := m["warden_check_down_seconds_total"].sum(); n != 0 {
		t.Errorf("warden_check_down_seconds_total is %v: a client's deadline counted as time down", n)
	}
	t.Logf("%d short-timeout scrapes (%d saw the check fail), %v probe runs cut short, %d dials", attack.scrapes.Load(), attack.failures.Load(), m["warden_probe_runs_cut_short_total"].sum(), dials.Load())
}

// hurryingClients are three clients scraping url in a loop with
// X-Prometheus-Scrape-Timeout-Seconds 0.6 (a 0.1 s deadline after the
// 0.5 s offset), counting their scrapes and those that saw check fail. It
// returns once they have had 3 answers: the attack is under way before
// the requests that must not feel it.
func hurryingClients(t *testing.T, url, check string) *hurry {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &hurry{}
	h.stop = func() { cancel(); h.wg.Wait() }
	t.Cleanup(h.stop)
	for range 3 {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "0.6")
				resp, err := httpClient.Do(req)
				if err != nil {
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				h.scrapes.Add(1)
				if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `warden_check_up{check="`+check+`"} 0`) {
					h.failures.Add(1)
				}
			}
		}()
	}
	systemdtest.WaitFor(t, 20*time.Second, "the short-timeout clients' first answers", func() bool { return h.scrapes.Load() >= 3 })
	return h
}

// hurry is hurryingClients' clients.
type hurry struct {
	wg                sync.WaitGroup
	scrapes, failures atomic.Int64
	// stop stops the clients and waits for them; more calls do nothing.
	stop func()
}

// Requests whose deadlines step by 80 ms, down or up, arriving together:
// at most two evaluations exist at once (the running one and the next),
// so one probe target is dialed about twice, not once per request.
// (Before: 100 requests stepping down made 90 dials of one target.)
func TestEvaluationsInFlightAreBounded(t *testing.T) {
	for _, tc := range []struct {
		name string
		step float64 // seconds between one request's timeout and the next's
	}{
		{name: "deadlines stepping down", step: -0.08},
		{name: "deadlines stepping up", step: 0.08},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const requests = 100
			var dials atomic.Int64
			release := make(chan struct{})
			cfg := &config.Config{Checks: []config.Check{pongCheck("held", countingServer(t, &dials, "+PONG\r\n", release))}}
			cfg.Checks[0].Probes[0].Timeout = model.Duration(20 * time.Second)
			srv, reg := newHandlerServer(t, serverOptions{}, cfg, collector.Options{Probes: probe.New(probe.Options{})})
			codes := make(chan int, requests)
			var wg sync.WaitGroup
			for i := range requests {
				timeout := 10.0 + tc.step*float64(i)
				if tc.step < 0 {
					timeout = 10.0 + tc.step*float64(i) + 0.08*requests // 18 s stepping down to ~10 s
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, _ := scrapeWith(t, srv.URL+"/metrics", strconv.FormatFloat(timeout, 'f', 2, 64))
					codes <- code
				}()
				// In order: each request reaches the exporter before the
				// next is sent, so the deadlines arrive stepping.
				systemdtest.WaitFor(t, 10*time.Second, fmt.Sprintf("request %d in flight", i), func() bool { return inFlight(reg) >= float64(i+1) })
			}
			// Every request is waiting on an evaluation whose probe is
			// held: the number of evaluations is fixed now.
			close(release)
			wg.Wait()
			close(codes)
			for c := range codes {
				if c != http.StatusOK {
					t.Errorf("a request got %d", c)
				}
			}
			if n := dials.Load(); n > 2 {
				t.Errorf("%d dials of one target for %d requests with stepping deadlines: want at most 2 (the running evaluation and the next)", n, requests)
			}
		})
	}
}

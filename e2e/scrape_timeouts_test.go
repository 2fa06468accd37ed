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
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// Two real Prometheus scrape jobs of one exporter, with different
// scrape_timeouts (0.6 s and 2 s), and three clients looping with a
// 0.6 s header as well, against a service that answers in 200 ms: the
// 2 s job never sees the check fail, nothing is counted as a failure of
// the service, and the probe target is dialed at most once per request
// (Prometheus's scrapes and the loops' requests: an evaluation dials once
// and requests share them; 395 dials for 1,274 requests on the 2-core
// VM). The 0.6 s job's own scrapes may say what they like: it asked for
// 0.1 s (0.6 less the 0.5 s offset).
func TestTwoScrapeJobsWithDifferentTimeouts(t *testing.T) {
	prometheus := testenv.LookPath(t, "prometheus", "apt-get install prometheus")
	dir := t.TempDir()
	var dials atomic.Int64
	target := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		dials.Add(1)
		time.Sleep(200 * time.Millisecond)
		io.WriteString(c, "+PONG\r\n")
	})
	bin := buildExporter(t, dir)
	cfg := fmt.Sprintf("checks:\n  - name: slow\n    probes:\n      - target: %s\n        timeout: 2s\n        query_response: [{expect: \"^\\\\+PONG\"}]\n", target)
	os.WriteFile(filepath.Join(dir, "warden.yml"), []byte(cfg), 0o644)
	exporterAddr := testenv.FreeLoopbackAddr(t)
	start(t, "warden_exporter", "http://"+exporterAddr+"/-/ready", bin,
		"--web.listen-address="+exporterAddr, "--config.file="+filepath.Join(dir, "warden.yml"),
		"--no-collector.systemd", "--no-collector.listeners")

	promCfg := fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: short
    scrape_timeout: 600ms
    static_configs: [{targets: [%q]}]
  - job_name: normal
    scrape_interval: 2s
    scrape_timeout: 2s
    static_configs: [{targets: [%q]}]
`, exporterAddr, exporterAddr)
	os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promCfg), 0o644)
	promAddr := testenv.FreeLoopbackAddr(t)
	start(t, "prometheus", "http://"+promAddr+"/-/ready", prometheus,
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)

	// Three clients that keep an evaluation with a 0.1 s deadline running
	// nearly all the time, so the normal job's scrapes meet one.
	ctx, stop := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	var sent atomic.Int64
	for range 3 {
		loops.Add(1)
		go func() {
			defer loops.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+exporterAddr+"/metrics", nil)
				req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "0.6")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					sent.Add(1)
				}
			}
		}()
	}
	defer func() { stop(); loops.Wait() }()

	scalar := func(expr string) float64 {
		var r struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		getJSON(t, "http://"+promAddr+"/api/v1/query?query="+url.QueryEscape(expr), &r)
		if r.Status != "success" {
			t.Fatalf("query %s: %s", expr, r.Error)
		}
		if len(r.Data.Result) == 0 {
			return -1
		}
		v, _ := strconv.ParseFloat(r.Data.Result[0].Value[1].(string), 64)
		return v
	}
	// A count of scrapes, not a stretch of wall-clock time: however slow
	// the machine, both jobs have scraped 15 times.
	const scrapes = 15
	systemdtest.WaitFor(t, 120*time.Second, fmt.Sprintf("%d scrapes of each job", scrapes), func() bool {
		return scalar(`min(count_over_time(up[10m]))`) >= scrapes && scalar(`count(count_over_time(up[10m]))`) == 2
	})
	stop()
	loops.Wait()
	dialed := dials.Load()

	// Every sample counted, by range vectors: a subquery without a step
	// ([10m:]) takes one sample per evaluation interval (1m), not one per
	// scrape. up and warden_check_up are 0 or 1, so count less sum is the
	// samples that were 0.
	zeros := func(series string) float64 {
		return scalar(`count_over_time(` + series + `[10m]) - sum_over_time(` + series + `[10m])`)
	}
	normal := scalar(`count_over_time(up{job="normal"}[10m])`)
	if bad := zeros(`up{job="normal"}`); bad != 0 {
		t.Errorf("the 2 s job's scrape failed %v times of %v", bad, normal)
	}
	if n := scalar(`count_over_time(warden_check_up{job="normal"}[10m])`); n != normal {
		t.Errorf("the 2 s job has warden_check_up in %v of its %v scrapes", n, normal)
	}
	if down := zeros(`warden_check_up{job="normal"}`); down != 0 {
		t.Errorf("the 2 s job saw the check down in %v of %v scrapes: a client's short deadline shortened its probe", down, normal)
	}
	// The premise of those counts: they see a scrape that saw the check
	// down, as the 0.6 s job's, cut short, did.
	if down := zeros(`warden_check_up{job="short"}`); down <= 0 {
		t.Fatalf("the 0.6 s job saw the check down in %v scrapes: the count of zeros sees none, or the short deadlines never pressed", down)
	}
	// At most one dial per request: the scrapes of both jobs, the loops'
	// counted requests, and 5 more (3 loops' requests cut off by stop, so
	// not counted in sent, and one scrape of each job in flight when the
	// counts were read).
	short := scalar(`count_over_time(up{job="short"}[10m])`)
	if requests := normal + short + float64(sent.Load()); float64(dialed) > requests+5 {
		t.Errorf("%d dials for %v requests (%v and %v scrapes, %d looped): more than one per request, the evaluations were not shared", dialed, requests, normal, short, sent.Load())
	}
	if n := scalar(`max(warden_probe_failures_total)`); n != 0 {
		t.Errorf("warden_probe_failures_total is %v: short deadlines counted as the service failing", n)
	}
	if n := scalar(`sum by (job) (warden_check_status_changes_total{job="normal"})`); n != 0 {
		t.Errorf("warden_check_status_changes_total is %v: short deadlines counted as outages", n)
	}
	// The premise: the short ones did cut probes short.
	if n := scalar(`max(warden_probe_runs_cut_short_total)`); n <= 0 {
		t.Fatalf("no probe run was cut short (%v): the short deadlines never pressed; %d looping requests", n, sent.Load())
	}
	t.Logf("normal job: %v scrapes, all up; short job %v scrapes (%v saw the check down); %d looping requests; %d dials; %v runs cut short",
		normal, short, zeros(`warden_check_up{job="short"}`), sent.Load(), dialed, scalar(`max(warden_probe_runs_cut_short_total)`))
}

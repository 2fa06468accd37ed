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

//go:build bench

package bench

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// peakRSS is VmHWM of pid, in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// TestLoad scrapes an exporter with 100 checks (real units under a real
// manager, real listeners, 10 probes of which 2 time out at 1 s) with 50
// concurrent clients for WARDEN_LOAD_DURATION (default 60s). It fails only
// on an error other than the 503s documented beyond --web.max-requests;
// the figures are printed.
func TestLoad(t *testing.T) {
	duration := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("WARDEN_LOAD_DURATION")); err == nil {
		duration = d
	}
	const checks, clients, maxRequests = 100, 50, 40
	m := systemdtest.Start(t)
	m.StartOneshots(t, "load", checks)

	// The checks' ports: real listeners (accepting and closing), and two
	// silent servers whose probes time out.
	var dials atomic.Int64 // of the 8 healthy probe targets (the others are only listened on)
	targets := loopbackServers(t, checks, func(net.Conn) { dials.Add(1) })
	silent := loopbackServers(t, 2, func(c net.Conn) { time.Sleep(3 * time.Second) })
	var yml strings.Builder
	yml.WriteString("checks:\n")
	for i := range checks {
		_, port, _ := net.SplitHostPort(targets[i])
		fmt.Fprintf(&yml, "  - name: c%03d\n    unit: load-%d.service\n    ports: [{port: %s}]\n", i, i, port)
		switch {
		case i < 2:
			fmt.Fprintf(&yml, "    probes: [{target: '%s', timeout: 1s, query_response: [{expect: never}]}]\n", silent[i])
		case i < 10:
			fmt.Fprintf(&yml, "    probes: [{target: '%s', timeout: 1s}]\n", targets[i])
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "warden.yml"), []byte(yml.String()), 0o644)
	bin := filepath.Join(dir, "warden_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	addr := testenv.FreeLoopbackAddr(t)
	exporter := exec.Command(bin, "--web.listen-address="+addr, "--config.file="+filepath.Join(dir, "warden.yml"),
		"--systemd.address="+m.PrivateAddress(), "--web.max-requests="+strconv.Itoa(maxRequests), "--log.level=warn",
		"--web.write-timeout="+slowReaderWriteTimeout.String(),
		// Every unit's series: the slow-reader phase needs a large response.
		"--systemd.unit-series=full")
	startServer(t, "warden_exporter", exporter, "http://"+addr+"/-/ready")
	url := "http://" + addr + "/metrics"
	warm, _ := http.Get(url)
	body, _ := io.ReadAll(warm.Body)
	warm.Body.Close()
	if !strings.Contains(string(body), `warden_collector_success{collector="systemd"} 1`) || strings.Count(string(body), "warden_check_status{") != checks*7 {
		t.Fatalf("the exporter is not scraping all 100 checks:\n%s", body)
	}

	pid := exporter.Process.Pid
	cpu0 := cpuTicks(t, pid)
	var mu sync.Mutex
	var latencies []time.Duration
	codes := map[int]int{}
	var otherErrs []string
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				t0 := time.Now()
				resp, err := client.Get(url)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					otherErrs = append(otherErrs, err.Error())
					mu.Unlock()
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes[resp.StatusCode]++
				if resp.StatusCode == 200 {
					latencies = append(latencies, d)
				}
				mu.Unlock()
				if resp.StatusCode == 503 {
					time.Sleep(10 * time.Millisecond) // a refused client retries, as Prometheus would next interval
				}
			}
		}()
	}
	wg.Wait()
	cpu := time.Duration(cpuTicks(t, pid)-cpu0) * 10 * time.Millisecond
	rss := peakRSS(t, pid)
	slices.Sort(latencies)
	if len(latencies) == 0 {
		t.Fatal("no successful scrape")
	}
	p := func(q float64) time.Duration { return latencies[int(q*float64(len(latencies)-1))] }
	fmt.Printf("\nload: %d clients for %v, 100 checks, 10 probes (2 time out at 1s), --web.max-requests=%d\n", clients, duration, maxRequests)
	fmt.Printf("scrapes served %d (%.1f/s), 503 %d, other errors %d\n", codes[200], float64(codes[200])/duration.Seconds(), codes[503], len(otherErrs)+len(codes)-len(pick(codes, 200, 503)))
	fmt.Printf("latency p50 %v, p99 %v (target p99 < 1.1s: slowest probe timeout + 100ms), max %v\n", p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
	fmt.Printf("peak RSS %.1f MiB (target <= 30 MiB), CPU per scrape %v\n", float64(rss)/(1<<20), (cpu / time.Duration(max(codes[200], 1))).Round(10*time.Microsecond))
	fmt.Printf("SUMMARY|load (%d clients, %v): scrape latency p50 / p99|%v / %v|-|-|p99 < 1.1s\n", clients, duration, p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond))
	fmt.Printf("SUMMARY|load: peak RSS|%.1f MiB|-|-|<= 30 MiB\n", float64(rss)/(1<<20))
	fmt.Printf("SUMMARY|load: CPU per scrape, errors besides 503|%v, %d|-|-|no errors\n", (cpu / time.Duration(max(codes[200], 1))).Round(10*time.Microsecond), len(otherErrs))
	for code, n := range codes {
		if code != 200 && code != 503 {
			t.Errorf("%d responses with status %d", n, code)
		}
	}
	if len(otherErrs) > 0 {
		t.Errorf("%d client errors, e.g. %s", len(otherErrs), otherErrs[0])
	}

	shortTimeoutClients(t, url, duration, &dials)
	slowReaders(t, m, url, addr, duration, maxRequests)
}

// shortTimeoutClients is TestLoad's header-attack phase (issue #20): three
// clients loop sending X-Prometheus-Scrape-Timeout-Seconds: 0.6 (a 0.1 s
// deadline) beside ten scrapers sending 10, as Prometheus would. The ten
// must see exactly the two checks whose probes time out as failing, in
// every scrape (before: a request joined any evaluation with an earlier
// deadline, and the short ones' timed out every probe), with no failure
// counted for the healthy probes, and the probe targets dialed at most
// twice a round of the ten scrapers (the running evaluation and the next).
func shortTimeoutClients(t *testing.T, url string, duration time.Duration, dials *atomic.Int64) {
	const attackers, scrapers, healthyTargets = 3, 10, 8
	var mu sync.Mutex
	codes, attackCodes := map[int]int{}, map[int]int{}
	falseFailures := 0
	var otherErrs []string
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: attackers + scrapers}}
	scrape := func(timeout string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", timeout)
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body), nil
	}
	dials.Store(0)
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for i := range attackers + scrapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if i < attackers {
					code, _, err := scrape("0.6")
					mu.Lock()
					if err == nil {
						attackCodes[code]++
					}
					mu.Unlock()
					continue
				}
				code, body, err := scrape("10")
				mu.Lock()
				switch {
				case err != nil:
					otherErrs = append(otherErrs, err.Error())
				case code != 200:
					codes[code]++
				default:
					codes[code]++
					// c000 and c001 time out for real; every other check is up.
					down := downChecks.FindAllStringSubmatch(body, -1)
					if strings.Count(body, "warden_check_up{") != 100 || len(down) != 2 || down[0][1] != "c000" || down[1][1] != "c001" {
						falseFailures++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	_, body, err := scrape("10")
	if err != nil {
		t.Fatal(err)
	}
	healthyFailures := 0
	for _, m := range healthyFailuresRe.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[1])
		healthyFailures += n
	}
	rounds := codes[200] / scrapers
	perTarget := float64(dials.Load()) / healthyTargets
	fmt.Printf("\nshort scrape timeouts: %d clients sending 0.6 beside %d scrapers sending 10, for %v\n", attackers, scrapers, duration)
	fmt.Printf("normal scrapes served %d, other statuses %v, errors %d, false failures %d; short-timeout requests %v\n", codes[200], pick(codes, 503, 500), len(otherErrs), falseFailures, attackCodes)
	fmt.Printf("dials per healthy target %.0f (%.1f/s) over %d rounds of the %d scrapers: %.2f a round; failures counted for healthy probes %d\n",
		perTarget, perTarget/duration.Seconds(), rounds, scrapers, perTarget/float64(max(rounds, 1)), healthyFailures)
	fmt.Printf("SUMMARY|load: 3 clients sending a 0.6 s timeout beside 10 scrapers: false failures, dials a round|%d, %.2f|-|-|0, <= 2\n", falseFailures, perTarget/float64(max(rounds, 1)))
	if falseFailures > 0 || healthyFailures > 0 {
		t.Errorf("%d of %d normal scrapes saw a healthy check fail, %d failures counted for healthy probes, beside clients sending a 0.6 s timeout", falseFailures, codes[200], healthyFailures)
	}
	if codes[200] == 0 || len(pick(codes, 200)) != len(codes) || len(otherErrs) > 0 {
		t.Errorf("the normal scrapers: %v, %d errors", codes, len(otherErrs))
	}
	if perTarget > 2*float64(rounds)+2 {
		t.Errorf("%.0f dials per healthy target over %d rounds of the scrapers: more than the running evaluation and the next", perTarget, rounds)
	}
}

var (
	// downChecks finds the checks a scrape says are not up.
	downChecks = regexp.MustCompile(`(?m)^warden_check_up\{check="(c\d+)"\} 0$`)
	// healthyFailuresRe finds the failure counts of the healthy probes.
	healthyFailuresRe = regexp.MustCompile(`(?m)^warden_probe_failures_total\{check="c00[2-9]",reason="[a-z]+",target="[^"]+"\} (\d+)$`)
)

// slowReaderWriteTimeout is the exporter's --web.write-timeout in TestLoad:
// shorter than the default 30 s so the non-reading clients cycle several
// times in a short run.
const slowReaderWriteTimeout = 5 * time.Second

// slowReaders is TestLoad's second phase (issue #12): 2,000 more units
// make a 1.3 MiB response; 40 clients (the default --web.max-requests)
// each send 6 pipelined GET /metrics with a small receive window and never
// read, so the exporter's writes block once the socket buffers are full;
// then 10 normal clients scrape. Before, each blocked write held its
// in-flight slot and every normal scrape got 503 for as long as the
// non-readers stayed. Now a slot is held only while a response is
// produced: once the non-readers are blocked in their writes, a normal
// scrape gets no 503 at all, and each non-reader is cut off after
// --web.write-timeout.
func slowReaders(t *testing.T, m *systemdtest.Manager, url, addr string, duration time.Duration, maxRequests int) {
	const nonReaders, pipelined, scrapers, bulk = 40, 6, 10, 2000
	m.StartOneshots(t, "bulk", bulk)
	size := 0
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			size = len(body)
			if strings.Count(string(body), `warden_unit_state{state="active",unit="bulk-`) == bulk {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exporter did not pick up the %d bulk units within 60 s", bulk)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var conns []net.Conn
	for range nonReaders {
		c := testenv.DialNonReader(t, addr)
		fmt.Fprint(c, strings.Repeat("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n", pipelined))
		conns = append(conns, c)
	}
	// The first responses are produced (an evaluation takes ~1 s: two
	// probes time out) and the writes fill the buffers and block.
	time.Sleep(5 * time.Second)
	var mu sync.Mutex
	codes := map[int]int{}
	var otherErrs []string
	client := &http.Client{Timeout: 30 * time.Second}
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for range scrapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				resp, err := client.Get(url)
				if err != nil {
					mu.Lock()
					otherErrs = append(otherErrs, err.Error())
					mu.Unlock()
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	// Meanwhile, each non-reader is cut off: draining ends (bounded) with
	// less than the responses it asked for.
	var cut atomic.Int64
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(duration + 30*time.Second))
			time.Sleep(slowReaderWriteTimeout + 2*time.Second) // still not reading
			n, err := io.Copy(io.Discard, c)
			if !isTimeoutErr(err) && n < int64(pipelined*size) {
				cut.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("\nslow readers: %d clients x %d pipelined requests that never read (response %.1f MiB, --web.write-timeout=%v) beside %d scrapers for %v\n",
		nonReaders, pipelined, float64(size)/(1<<20), slowReaderWriteTimeout, scrapers, duration)
	fmt.Printf("normal scrapes served %d, 503 %d, other errors %d; non-readers cut off %d of %d\n", codes[200], codes[503], len(otherErrs), cut.Load(), nonReaders)
	fmt.Printf("SUMMARY|load: %d non-readers beside %d scrapers: scrapes served, 503|%d, %d|-|-|no 503\n", nonReaders, scrapers, codes[200], codes[503])
	if codes[200] == 0 || codes[503] > 0 {
		t.Errorf("the normal scrapers got %d 503s and %d 200s beside %d clients blocked in their writes", codes[503], codes[200], nonReaders)
	}
	for code, n := range codes {
		if code != 200 && code != 503 {
			t.Errorf("%d normal scrapes with status %d", n, code)
		}
	}
	if len(otherErrs) > 0 {
		t.Errorf("%d normal scrapes failed, e.g. %s", len(otherErrs), otherErrs[0])
	}
	if cut.Load() < nonReaders {
		t.Errorf("%d of %d non-reading clients were not cut off", nonReaders-cut.Load(), nonReaders)
	}
}

func isTimeoutErr(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func pick(m map[int]int, keys ...int) map[int]int {
	out := map[int]int{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

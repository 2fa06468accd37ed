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

// Package bench runs warden_exporter side by side with its peers on the
// same real systems and prints the ratios. Run it with bench/systemd.sh.
package bench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/internal/metrictest"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// buildExporter builds the exporter as it ships (static) and returns the
// binary's path.
func buildExporter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "warden_exporter")
	build := exec.Command("go", "build", "-o", bin, "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startServer runs cmd (killed by pid at the end) and waits until url answers.
func startServer(t *testing.T, name string, cmd *exec.Cmd, url string) {
	t.Helper()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer at %s within 30s:\n%s", name, url, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSettled waits until the process pid is idle: at most one clock tick
// (10 ms) of CPU in half a second. The exporter answers as soon as it has
// listed the units, and then reads every unit's properties in the
// background, ~3 s for 2,000 units on the 2-core VM; each read changes
// the unit view, which every scrape in those seconds indexed anew. The
// scrape benches measured those seconds (bench/scrape.sh's 40 turns took
// 0.2 s): a start, not the scrapes that follow for as long as it runs.
func waitSettled(t *testing.T, name string, pid int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		before := cpuTicks(t, pid)
		time.Sleep(500 * time.Millisecond)
		if cpuTicks(t, pid)-before <= 1 {
			return
		}
	}
	t.Fatalf("%s still busy after 60 s (over 2%% of a core)", name)
}

// cpuTicks is utime+stime of pid, in clock ticks (1/100 s on Linux).
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
}

type result struct {
	name           string
	median, mean   time.Duration
	series         int
	systemdCPUPerS time.Duration // manager CPU per scrape
}

func measure(t *testing.T, name, url string, scrapes, managerPID int, countPrefix string) result {
	t.Helper()
	// Prometheus asks for gzip; so does Go's client by default.
	client := &http.Client{Timeout: 60 * time.Second}
	if strings.HasSuffix(name, "(identity)") {
		client.Transport = &http.Transport{DisableCompression: true}
	}
	get := func() []byte {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", name, resp.StatusCode)
		}
		return body
	}
	var body []byte
	for range 3 {
		body = get() // warm up: connections, caches
	}
	series := 0
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, countPrefix) {
			series++
		}
	}
	cpu0 := cpuTicks(t, managerPID)
	durations := make([]time.Duration, scrapes)
	for i := range scrapes {
		t0 := time.Now()
		get()
		durations[i] = time.Since(t0)
	}
	cpu1 := cpuTicks(t, managerPID)
	slices.Sort(durations)
	var sum time.Duration
	for _, d := range durations {
		sum += d
	}
	return result{
		name:           name,
		median:         durations[len(durations)/2],
		mean:           sum / time.Duration(len(durations)),
		series:         series,
		systemdCPUPerS: time.Duration(cpu1-cpu0) * 10 * time.Millisecond / time.Duration(scrapes),
	}
}

// memoryServer serves the warden families parsed from body from a registry
// of plain gauges and counters: what encoding the same series costs when
// reading them costs nothing.
func memoryServer(t *testing.T, body []byte) *httptest.Server {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var warden []*dto.MetricFamily
	for name, mf := range families {
		if strings.HasPrefix(name, "warden_") {
			warden = append(warden, mf)
		}
	}
	srv := httptest.NewServer(promhttp.HandlerFor(metrictest.RegistryOf(t, warden), promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSystemdVsNodeExporter scrapes, against one real manager with
// WARDEN_BENCH_UNITS units (default 2000): warden_exporter's systemd
// source, node_exporter's systemd collector with restarts and start times
// on, and the same series served from memory.
func TestSystemdVsNodeExporter(t *testing.T) {
	units := envInt("WARDEN_BENCH_UNITS", 2000)
	scrapes := envInt("WARDEN_BENCH_SCRAPES", 30)
	if _, err := exec.LookPath("prometheus-node-exporter"); err != nil {
		t.Fatal("prometheus-node-exporter not found: apt-get install prometheus-node-exporter (bench/systemd.sh does)")
	}

	bin := buildExporter(t)
	m := systemdtest.Start(t)
	t0 := time.Now()
	m.StartOneshots(t, "bench", units)
	t.Logf("started %d units in %v", units, time.Since(t0).Round(time.Millisecond))

	wardenAddr := testenv.FreeLoopbackAddr(t)
	warden := exec.Command(bin, "--web.listen-address="+wardenAddr, "--systemd.address="+m.PrivateAddress(), "--log.level=warn", "--systemd.unit-series=full")
	startServer(t, "warden_exporter", warden, "http://"+wardenAddr+"/-/healthy")
	waitSettled(t, "warden_exporter", warden.Process.Pid)

	nodeAddr := m.StartNodeExporter(t)

	resp, err := http.Get("http://" + wardenAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mem := memoryServer(t, body)

	pid := m.PID()
	results := []result{
		measure(t, "warden_exporter (systemd source)", "http://"+wardenAddr+"/metrics", scrapes, pid, "warden_unit_state{"),
		measure(t, "node_exporter 1.5.0 (systemd, restarts + start time)", "http://"+nodeAddr+"/metrics", scrapes, pid, "node_systemd_unit_state{"),
		measure(t, "same warden series from memory", mem.URL, scrapes, pid, "warden_unit_state{"),
		measure(t, "warden_exporter (identity)", "http://"+wardenAddr+"/metrics", scrapes, pid, "warden_unit_state{"),
		measure(t, "node_exporter (identity)", "http://"+nodeAddr+"/metrics", scrapes, pid, "node_systemd_unit_state{"),
		measure(t, "from memory (identity)", mem.URL, scrapes, pid, "warden_unit_state{"),
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%d units, %d scrapes each, same manager, same run\n", units, scrapes)
	fmt.Fprintf(&out, "%-55s %12s %12s %14s %18s\n", "target", "median", "mean", "unit_state", "systemd CPU/scrape")
	for _, r := range results {
		fmt.Fprintf(&out, "%-55s %12v %12v %14d %18v\n", r.name, r.median.Round(10*time.Microsecond), r.mean.Round(10*time.Microsecond), r.series, r.systemdCPUPerS)
	}
	w, n, mm := results[0], results[1], results[2]
	fmt.Fprintf(&out, "speed-up over node_exporter (median): %.1fx   (target >= 20x)\n", float64(n.median)/float64(w.median))
	fmt.Fprintf(&out, "cost vs encoding from memory (median): %.2fx   (target <= 1.5x)\n", float64(w.median)/float64(mm.median))
	fmt.Fprintf(&out, "systemd CPU per scrape: warden %v, node_exporter %v\n", w.systemdCPUPerS, n.systemdCPUPerS)
	fmt.Fprintf(&out, "SUMMARY|systemd source, %d units: median scrape|%v|node_exporter %v|%.1fx faster|>= 20x\n", units, w.median.Round(100*time.Microsecond), n.median.Round(time.Millisecond), float64(n.median)/float64(w.median))
	fmt.Fprintf(&out, "SUMMARY|systemd source vs the same series from memory|%v|%v|%.2fx|<= 1.5x\n", w.median.Round(100*time.Microsecond), mm.median.Round(100*time.Microsecond), float64(w.median)/float64(mm.median))
	fmt.Fprintf(&out, "SUMMARY|systemd's CPU per scrape|%v|node_exporter %v|lower|lower than node_exporter\n", w.systemdCPUPerS, n.systemdCPUPerS)
	fmt.Print(out.String())
	if w.series == 0 || n.series == 0 {
		t.Errorf("a target served no unit state series: warden %d, node_exporter %d", w.series, n.series)
	}
}

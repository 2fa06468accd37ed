//go:build bench

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

package bench

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// selfMetric reads one of the exporter's own gauges from its /metrics.
func selfMetric(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for line := range strings.SplitSeq(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, _ := strconv.ParseFloat(rest, 64)
			return v
		}
	}
	t.Fatalf("no %s in %s", name, url)
	return 0
}

// TestWatchCost runs two exporters side by side on the same 300 units and
// 100 checks, one with the watch (--watch.interval=1s) and one without:
// the watch's CPU over WARDEN_WATCH_IDLE (60s) of an idle host, the
// scrape latency with and without it, and its goroutines, fds and RSS
// over WARDEN_WATCH_SOAK (10m) of scrapes every 15 s.
func TestWatchCost(t *testing.T) {
	idle, soak := 60*time.Second, 10*time.Minute
	if d, err := time.ParseDuration(os.Getenv("WARDEN_WATCH_IDLE")); err == nil {
		idle = d
	}
	if d, err := time.ParseDuration(os.Getenv("WARDEN_WATCH_SOAK")); err == nil {
		soak = d
	}
	const units, checks = 300, 100
	m := systemdtest.Start(t)
	m.StartOneshots(t, "watch", units)
	targets := loopbackServers(t, checks, func(net.Conn) {})
	var yml strings.Builder
	yml.WriteString("checks:\n")
	for i := range checks {
		_, port, _ := net.SplitHostPort(targets[i])
		fmt.Fprintf(&yml, "  - name: c%03d\n    unit: watch-%d.service\n    ports: [{port: %s}]\n", i, i, port)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "warden.yml"), []byte(yml.String()), 0o644)
	bin := filepath.Join(dir, "warden_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	type exporter struct {
		name, url string
		pid       int
	}
	var exporters []exporter
	for _, watch := range []string{"1s", "0"} {
		addr := testenv.FreeLoopbackAddr(t)
		cmd := exec.Command(bin, "--web.listen-address="+addr, "--config.file="+filepath.Join(dir, "warden.yml"),
			"--systemd.address="+m.PrivateAddress(), "--log.level=warn", "--watch.interval="+watch)
		startServer(t, "warden_exporter --watch.interval="+watch, cmd, "http://"+addr+"/-/ready")
		exporters = append(exporters, exporter{"watch " + watch, "http://" + addr + "/metrics", cmd.Process.Pid})
	}
	scrape := func(url string) time.Duration {
		t0 := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if !strings.Contains(string(body), `warden_collector_success{collector="systemd"} 1`) || strings.Count(string(body), "warden_check_status{") != checks*7 {
			t.Fatalf("%s is not scraping all %d checks", url, checks)
		}
		return d
	}
	for _, e := range exporters {
		scrape(e.url) // connected, units read by name, the watch's first view
	}
	time.Sleep(5 * time.Second)

	// Idle: no scrapes, the watch alone.
	var ticks [2]int64
	for i, e := range exporters {
		ticks[i] = cpuTicks(t, e.pid)
	}
	time.Sleep(idle)
	on := float64(cpuTicks(t, exporters[0].pid)-ticks[0]) / 100 / idle.Seconds()
	off := float64(cpuTicks(t, exporters[1].pid)-ticks[1]) / 100 / idle.Seconds()
	fmt.Printf("idle %v, %d checks, %d units: CPU with the watch %.3f%% of a core, without %.3f%%: the watch costs %.3f%%\n",
		idle, checks, units, on*100, off*100, (on-off)*100)
	fmt.Printf("SUMMARY|watch: CPU on an idle host, %d checks, %d units (on - off)|%.2f%% of a core|%.2f%% - %.2f%%|-|<= 0.5%%\n", checks, units, (on-off)*100, on*100, off*100)

	// Scrape latency, on and off, interleaved.
	var lat [2][]time.Duration
	for range 50 {
		for i, e := range exporters {
			lat[i] = append(lat[i], scrape(e.url))
		}
	}
	for i := range lat {
		slices.Sort(lat[i])
	}
	medOn, medOff := lat[0][len(lat[0])/2], lat[1][len(lat[1])/2]
	fmt.Printf("SUMMARY|watch: median scrape, %d checks, watch on vs off|%v|%v|%.2fx|<= 1.1x\n", checks, medOn.Round(time.Microsecond), medOff.Round(time.Microsecond), float64(medOn)/float64(medOff))

	// Soak: a scrape every 15 s; goroutines, fds and RSS at the start and
	// the end.
	w := exporters[0]
	g0, f0, r0 := selfMetric(t, w.url, "go_goroutines"), selfMetric(t, w.url, "process_open_fds"), selfMetric(t, w.url, "process_resident_memory_bytes")
	for end := time.Now().Add(soak); time.Now().Before(end); time.Sleep(15 * time.Second) {
		scrape(w.url)
	}
	g1, f1, r1 := selfMetric(t, w.url, "go_goroutines"), selfMetric(t, w.url, "process_open_fds"), selfMetric(t, w.url, "process_resident_memory_bytes")
	fmt.Printf("soak %v with the watch: goroutines %v -> %v, fds %v -> %v, RSS %.1f -> %.1f MiB\n", soak, g0, g1, f0, f1, r0/(1<<20), r1/(1<<20))
	fmt.Printf("SUMMARY|watch: %v soak, goroutines / fds / RSS growth|%+v / %+v / %+.1f MiB|-|-|no growth\n", soak, g1-g0, f1-f0, (r1-r0)/(1<<20))
	if g1 > g0 || f1 > f0 {
		t.Errorf("the watch grew goroutines (%v -> %v) or fds (%v -> %v) over %v", g0, g1, f0, f1, soak)
	}
}

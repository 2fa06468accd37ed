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
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// failuresCounted sums warden_probe_failures_total over every probe in
// one scrape of url.
func failuresCounted(t *testing.T, url string) float64 {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "warden_probe_failures_total{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// TestIntervalProbesAgainstAHangingTarget runs 500 `interval: 1s` probes
// (timeout 1s) against one target that accepts and never answers, in the
// exporter's own process, and measures the runs a second from
// warden_probe_failures_total (every run fails) and from the target's
// accepts. Each probe can run at most once per timeout, and at most
// --probe.interval-concurrency at once: min(500, limit) / 1 s runs a
// second — 256 with the default, 500 with a limit of 500.
func TestIntervalProbesAgainstAHangingTarget(t *testing.T) {
	const probes, window = 500, 20 * time.Second
	var accepted atomic.Int64
	target := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		accepted.Add(1)
		io.Copy(io.Discard, io.LimitReader(c, 1<<10))
	})
	dir := t.TempDir()
	bin := filepath.Join(dir, "warden_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var yml strings.Builder
	yml.WriteString("checks:\n")
	for i := range probes {
		fmt.Fprintf(&yml, "  - {name: h%03d, probes: [{target: '%s', timeout: 1s, interval: 1s, query_response: [{expect: '^never'}]}]}\n", i, target)
	}
	if err := os.WriteFile(filepath.Join(dir, "warden.yml"), []byte(yml.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, probes} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			addr := testenv.FreeLoopbackAddr(t)
			args := []string{"--web.listen-address=" + addr, "--config.file=" + filepath.Join(dir, "warden.yml"),
				"--no-collector.systemd", "--no-collector.listeners", "--watch.interval=0", "--log.level=warn"}
			if limit > 0 {
				args = append(args, "--probe.interval-concurrency="+strconv.Itoa(limit))
			}
			cmd := exec.Command(bin, args...)
			startServer(t, "warden_exporter", cmd, "http://"+addr+"/-/healthy")
			// Every probe's first run is within its first interval, and
			// the first scrape runs those with no result yet (once): the
			// steady state begins after a few seconds.
			time.Sleep(5 * time.Second)
			url := "http://" + addr + "/metrics"
			f0, a0, t0 := failuresCounted(t, url), accepted.Load(), time.Now()
			time.Sleep(window)
			f1, a1, elapsed := failuresCounted(t, url), accepted.Load(), time.Since(t0)
			runs, dials := (f1-f0)/elapsed.Seconds(), float64(a1-a0)/elapsed.Seconds()
			name := "default limit"
			want := min(probes, 256)
			if limit > 0 {
				name, want = fmt.Sprintf("--probe.interval-concurrency=%d", limit), min(probes, limit)
			}
			fmt.Printf("%d probes at interval 1s, timeout 1s, hanging target, %s: %.0f failures counted a second, %.0f dials a second (expected %d)\n", probes, name, runs, dials, want)
			fmt.Printf("SUMMARY|interval probes: %d at 1s against a hanging target, %s: runs a second|%.0f|dials %.0f|%.2f of expected|~%d\n", probes, name, runs, dials, runs/float64(want), want)
		})
	}
}

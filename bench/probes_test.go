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
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// loopbackServers starts n accepting servers (each closes what it accepts)
// and returns their addresses.
func loopbackServers(t *testing.T, n int, handle func(net.Conn)) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = testenv.Serve(t, "tcp4", "127.0.0.1:0", handle)
	}
	return addrs
}

func probesConfig(targets []string, timeout time.Duration, expectSilent map[string]bool) *config.Config {
	cfg := &config.Config{}
	for i, target := range targets {
		p := config.Probe{Target: target, Timeout: model.Duration(timeout), IPProtocol: "auto"}
		if expectSilent[target] {
			p.QueryResponse = []config.Step{{Expect: &config.Regexp{Regexp: mustRegexp("^never")}}}
		}
		cfg.Checks = append(cfg.Checks, config.Check{Name: fmt.Sprintf("c%03d", i), Probes: []config.Probe{p}})
	}
	return cfg
}

// bareDials dials and closes every target with workers goroutines: the
// floor a probe scrape is measured against.
func bareDials(targets []string, workers int) error {
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, target := range targets {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := net.Dial("tcp", target)
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			c.Close()
		}()
	}
	wg.Wait()
	return firstErr
}

func medianOf(n int, f func() time.Duration) time.Duration {
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = f()
	}
	slices.Sort(ds)
	return ds[n/2]
}

// TestProbesVsBareDialsAndBlackbox measures, on 100 loopback targets: a
// scrape's 100 probes against 100 bare dials (16 workers each), a scrape
// with 10 probes timing out at 1 s, and the exporter's whole scrape against
// blackbox_exporter 0.23 probing the same targets one /probe each.
func TestProbesVsBareDialsAndBlackbox(t *testing.T) {
	blackbox := testenv.LookPath(t, "prometheus-blackbox-exporter", "apt-get install prometheus-blackbox-exporter")
	targets := loopbackServers(t, 100, func(net.Conn) {})
	src := probe.New(probe.Options{Concurrency: 16})
	cfg := probesConfig(targets, 2*time.Second, nil)
	ctx := context.Background()

	probes := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			src.Run(ctx, probe.Jobs(cfg))
		}
	})
	dials := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			if err := bareDials(targets, 16); err != nil {
				b.Fatal(err)
			}
		}
	})

	silent := loopbackServers(t, 10, func(c net.Conn) { time.Sleep(3 * time.Second) })
	silentSet := map[string]bool{}
	for _, s := range silent {
		silentSet[s] = true
	}
	mixed := probesConfig(append(slices.Clone(targets[:90]), silent...), time.Second, silentSet)
	withTimeouts := medianOf(5, func() time.Duration {
		t0 := time.Now()
		src.Run(ctx, probe.Jobs(mixed))
		return time.Since(t0)
	})

	// The whole exporter against blackbox_exporter, each its own process.
	dir := t.TempDir()
	bin := filepath.Join(dir, "warden_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var yml strings.Builder
	yml.WriteString("checks:\n")
	for i, target := range targets {
		fmt.Fprintf(&yml, "  - {name: c%03d, probes: [{target: '%s'}]}\n", i, target)
	}
	os.WriteFile(filepath.Join(dir, "warden.yml"), []byte(yml.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "blackbox.yml"), []byte("modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 2s\n"), 0o644)
	wardenAddr, bbAddr := testenv.FreeLoopbackAddr(t), testenv.FreeLoopbackAddr(t)
	warden := exec.Command(bin, "--web.listen-address="+wardenAddr, "--config.file="+filepath.Join(dir, "warden.yml"),
		"--no-collector.systemd", "--no-collector.listeners", "--log.level=warn")
	startServer(t, "warden_exporter", warden, "http://"+wardenAddr+"/-/healthy")
	bb := exec.Command(blackbox, "--config.file="+filepath.Join(dir, "blackbox.yml"), "--web.listen-address="+bbAddr, "--log.level=warn")
	startServer(t, "blackbox_exporter", bb, "http://"+bbAddr+"/-/healthy")

	client := &http.Client{Timeout: 30 * time.Second}
	get := func(url string) string {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := get("http://" + wardenAddr + "/metrics"); strings.Count(body, "warden_probe_success{") != 100 || strings.Contains(body, "warden_probe_success{check=\"c000\",target=\""+targets[0]+"\"} 0") {
		t.Fatal("warden did not probe the 100 targets successfully")
	}
	if body := get("http://" + bbAddr + "/probe?module=tcp_connect&target=" + targets[0]); !strings.Contains(body, "probe_success 1") {
		t.Fatalf("blackbox probe failed:\n%s", body)
	}
	const rounds = 20
	wardenCPU0 := cpuTicks(t, warden.Process.Pid)
	wardenWall := medianOf(rounds, func() time.Duration {
		t0 := time.Now()
		get("http://" + wardenAddr + "/metrics")
		return time.Since(t0)
	})
	wardenCPU := time.Duration(cpuTicks(t, warden.Process.Pid)-wardenCPU0) * 10 * time.Millisecond / rounds
	bbCPU0 := cpuTicks(t, bb.Process.Pid)
	bbWall := medianOf(rounds, func() time.Duration {
		t0 := time.Now()
		sem := make(chan struct{}, 16) // Prometheus scrapes targets concurrently
		var wg sync.WaitGroup
		for _, target := range targets {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				get("http://" + bbAddr + "/probe?module=tcp_connect&target=" + target)
			}()
		}
		wg.Wait()
		return time.Since(t0)
	})
	bbCPU := time.Duration(cpuTicks(t, bb.Process.Pid)-bbCPU0) * 10 * time.Millisecond / rounds

	p, d := time.Duration(probes.NsPerOp()), time.Duration(dials.NsPerOp())
	fmt.Printf("\n100 loopback targets, 16 at a time, same run\n")
	fmt.Printf("%-60s %12v\n", "probe source, 100 healthy probes (one scrape)", p)
	fmt.Printf("%-60s %12v\n", "100 bare dials + close, tight Go loop", d)
	fmt.Printf("%-60s %12.2fx   (target <= 2x)\n", "probes / bare dials", float64(p)/float64(d))
	fmt.Printf("%-60s %12v   (target <= 1.2s)\n", "90 healthy + 10 timing out at 1s (median of 5)", withTimeouts.Round(time.Millisecond))
	fmt.Printf("%-60s %12v %10s %v\n", "warden_exporter: one scrape of /metrics (median of 20)", wardenWall.Round(10*time.Microsecond), "CPU", wardenCPU)
	fmt.Printf("%-60s %12v %10s %v\n", "blackbox_exporter 0.23: 100 /probe requests (median of 20)", bbWall.Round(10*time.Microsecond), "CPU", bbCPU)
	fmt.Printf("SUMMARY|100 healthy probes vs 100 bare dials|%v|%v|%.2fx|<= 2x\n", p.Round(10*time.Microsecond), d.Round(10*time.Microsecond), float64(p)/float64(d))
	fmt.Printf("SUMMARY|90 healthy + 10 probes timing out at 1s|%v|-|-|<= 1.2s\n", withTimeouts.Round(time.Millisecond))
	fmt.Printf("SUMMARY|one scrape of 100 probes vs blackbox_exporter (wall)|%v|%v|%.1fx faster|report\n", wardenWall.Round(10*time.Microsecond), bbWall.Round(10*time.Microsecond), float64(bbWall)/float64(wardenWall))
	fmt.Printf("SUMMARY|one scrape of 100 probes vs blackbox_exporter (CPU)|%v|%v|%.1fx less|report\n", wardenCPU, bbCPU, float64(bbCPU)/float64(max(wardenCPU, time.Millisecond)))
	fmt.Printf("%-60s %12.2fx %10s %.2fx\n", "blackbox / warden", float64(bbWall)/float64(wardenWall), "CPU", float64(bbCPU)/float64(max(wardenCPU, time.Millisecond)))
}

func mustRegexp(expr string) *regexp.Regexp { return regexp.MustCompile(expr) }

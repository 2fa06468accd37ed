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
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
)

func metricValue(t *testing.T, body, prefix string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(metricLine(t, body, prefix), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The manager killed and restarted 100 times while Prometheus-like scrapes
// run continuously: the exporter does not crash, its fds and goroutines
// (from its own /metrics) do not grow, systemd's success is 0 only while
// the manager is gone, and the first scrape after it is back succeeds.
func TestManagerRestartsWhileScraping(t *testing.T) {
	m := systemdtest.Start(t)
	p := startExporter(t, "--systemd.address="+m.PrivateAddress(), "--no-collector.probes")
	const success = `warden_collector_success{collector="systemd"}`
	scrape := func() string { _, body := get(t, p.url("/metrics")); return body }
	systemdtest.WaitFor(t, 20*time.Second, "the first connection", func() bool { return metricValue(t, scrape(), success) == 1 })
	settle := func() (float64, float64) {
		time.Sleep(300 * time.Millisecond)
		body := scrape()
		return metricValue(t, body, "process_open_fds"), metricValue(t, body, "go_goroutines")
	}
	fds0, gor0 := settle()

	// Continuous scraping in the background.
	var mu sync.Mutex
	wrong := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := httpClient.Get(p.url("/metrics"))
			if err != nil {
				mu.Lock()
				wrong++
				mu.Unlock()
				continue
			}
			resp.Body.Close()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	cycles := 100
	if testing.Short() {
		cycles = 5
	}
	for i := range cycles {
		m.Kill(t, syscall.SIGKILL)
		if v := metricValue(t, scrape(), success); v != 0 {
			t.Fatalf("cycle %d: systemd success %v while the manager is gone", i, v)
		}
		m.Restart(t)
		if v := metricValue(t, scrape(), success); v != 1 {
			t.Fatalf("cycle %d: the first scrape after the manager returned has success %v", i, v)
		}
	}
	close(stop)
	wg.Wait()
	if wrong > 0 {
		t.Errorf("%d background scrapes failed at the HTTP level", wrong)
	}

	fds1, gor1 := settle()
	t.Logf("after %d cycles: open fds %v -> %v, goroutines %v -> %v", cycles, fds0, fds1, gor0, gor1)
	if fds1 > fds0+3 || gor1 > gor0+5 {
		t.Errorf("growth over %d cycles: fds %v -> %v, goroutines %v -> %v", cycles, fds0, fds1, gor0, gor1)
	}
}

// SIGTERM lets an in-flight scrape finish (bounded), then exits 0.
func TestGracefulShutdownFinishesInFlightScrape(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close() // accepts nothing: the probe's expect waits out its timeout
	dir := t.TempDir()
	cfg := filepath.Join(dir, "warden.yml")
	writeFile(t, cfg, "checks:\n  - name: slow\n    probes: [{target: '"+silent.Addr().String()+"', timeout: 2s, query_response: [{expect: never}]}]\n")
	p := startExporter(t, "--config.file="+cfg, "--no-collector.systemd")
	result := make(chan string, 1)
	go func() {
		resp, err := httpClient.Get(p.url("/metrics"))
		if err != nil {
			result <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), `warden_probe_failure{check="slow",reason="timeout"`) {
				result <- fmt.Sprintf("%d %s", resp.StatusCode, sc.Text())
				return
			}
		}
		result <- fmt.Sprintf("%d without the probe", resp.StatusCode)
	}()
	time.Sleep(500 * time.Millisecond) // the scrape is waiting on its probe
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case r := <-result:
		if !strings.HasPrefix(r, "200 ") || !strings.HasSuffix(r, " 1") {
			t.Errorf("the in-flight scrape: %s", r)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the in-flight scrape did not finish")
	}
	if code := p.waitExit(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// Slow clients (slowloris) cannot pin the server: others are served while
// they dribble, and each is cut off after --web.read-header-timeout.
func TestSlowClientsCannotPinTheServer(t *testing.T) {
	p := startExporter(t, "--web.read-header-timeout=1s", "--no-collector.systemd")
	var conns []net.Conn
	for range 200 {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n") // and never the end
		conns = append(conns, c)
	}
	if code, _ := get(t, p.url("/-/healthy")); code != 200 {
		t.Errorf("a normal client got %d while 200 slow ones wait", code)
	}
	// Each slow connection is closed by the server within the timeout
	// (plus a margin for a loaded machine).
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 512)
		if _, err := c.Read(buf); err != nil && !strings.Contains(err.Error(), "reset") && err.Error() != "EOF" {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("slow connection %d is still open after 10s", i)
			}
		}
	}
}

func TestSecurityHeadersAndNoCallerChosenTargets(t *testing.T) {
	p := startExporter(t, "--no-collector.systemd")
	for _, path := range []string{"/", "/metrics", "/checks", "/config"} {
		resp, err := httpClient.Get(p.url(path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
	}
	// No parameter makes the exporter dial or read something of the
	// caller's choosing.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dialed := make(chan bool, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
			dialed <- true
		}
	}()
	for _, path := range []string{"/metrics?target=" + l.Addr().String(), "/probe?target=" + l.Addr().String(), "/checks?target=" + l.Addr().String(), "/config?file=/etc/shadow"} {
		_, body := get(t, p.url(path))
		if strings.Contains(body, "root:") {
			t.Errorf("%s leaked a file", path)
		}
	}
	select {
	case <-dialed:
		t.Error("a request made the exporter dial a target of the caller's choosing")
	case <-time.After(500 * time.Millisecond):
	}

}

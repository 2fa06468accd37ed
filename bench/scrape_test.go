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
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// prometheusAccept is the Accept header of Prometheus 3's default
// scrape_protocols.
const prometheusAccept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5," +
	"application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3," +
	"text/plain;version=0.0.4;q=0.2,*/*;q=0.1"

// scrapeAsPrometheus asks url as Prometheus does (its Accept header, gzip,
// a 10 s scrape timeout) and reads the body as it does, decompressing it.
// It returns the response and the body as it travelled, and the body's
// uncompressed size.
func scrapeAsPrometheus(t *testing.T, client *http.Client, url string) (*http.Response, []byte, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", prometheusAccept)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %v", url, resp.StatusCode, err)
	}
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("%s answered %q, not gzip", url, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp, body, plain
}

// staticFloor serves the bytes an exporter's scrape answered, as they
// travelled (gzip, same Content-Type): what a scrape costs when producing
// its body costs nothing. It runs in the measuring process, as bare a Go
// handler as can be.
func staticFloor(t *testing.T, header http.Header, compressed []byte) *httptest.Server {
	t.Helper()
	contentType := header.Get("Content-Type")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(compressed)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestScrapeVsStaticFloor scrapes the real exporter (2,000 units under a
// real user manager, no config file) against the same bytes served
// pre-compressed by a bare handler, in turns, 40 of each (
// WARDEN_BENCH_SCRAPES), for --systemd.unit-series=compact (the default)
// and full: the cost of a scrape beside the cost of its bytes.
func TestScrapeVsStaticFloor(t *testing.T) {
	units := envInt("WARDEN_BENCH_UNITS", 2000)
	scrapes := envInt("WARDEN_BENCH_SCRAPES", 40)
	bin := buildExporter(t)
	m := systemdtest.Start(t)
	m.StartOneshots(t, "bench", units)

	// Compression is asked for and undone by hand, as Prometheus does, so
	// the floor's bytes can be taken as they travelled.
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	type side struct {
		series, url, floorURL string
		plain, gzipped        int // the body's size, uncompressed and as it travelled
		times, floorTimes     []time.Duration
	}
	var sides []*side
	for _, series := range []string{"compact", "full"} {
		addr := testenv.FreeLoopbackAddr(t)
		url := "http://" + addr + "/metrics"
		name := "warden_exporter --systemd.unit-series=" + series
		cmd := exec.Command(bin, "--web.listen-address="+addr, "--systemd.address="+m.PrivateAddress(), "--log.level=warn", "--systemd.unit-series="+series)
		startServer(t, name, cmd, url)
		waitSettled(t, name, cmd.Process.Pid)
		resp, body, plain := scrapeAsPrometheus(t, client, url)
		if want := `warden_collector_success{collector="systemd"} 1`; !bytes.Contains(plain, []byte(want)) {
			t.Fatalf("%s: no %s", url, want)
		}
		// Served as it travelled, gzip level and all: the floor's bytes
		// are the exporter's.
		sides = append(sides, &side{series: series, url: url, floorURL: staticFloor(t, resp.Header, body).URL, plain: len(plain), gzipped: len(body)})
	}
	for _, s := range sides {
		for range 5 { // warm up: connections, caches
			scrapeAsPrometheus(t, client, s.url)
			scrapeAsPrometheus(t, client, s.floorURL)
		}
	}
	timed := func(url string) time.Duration {
		// The measuring process's own garbage (it decompresses the full
		// side's 1.2 MB bodies, and serves the floor) is collected before
		// each timed request, both sides alike: its collections landed on
		// the compact samples, 1.46 ms with the collector running against
		// 0.92 ms with it off, for the same exporter.
		runtime.GC()
		t0 := time.Now()
		scrapeAsPrometheus(t, client, url)
		return time.Since(t0)
	}
	// The one call a scrape makes to systemd, alone, timed as the scrapes
	// are, in the compact side's turns: it confirms the unit cache is
	// current (every signal systemd sent before it is applied), so a
	// scrape waits for it, and it wakes the manager.
	var roundTrips []time.Duration
	manager := m.DialPrivate(t).Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	roundTrip := func() {
		runtime.GC()
		t0 := time.Now()
		var version dbus.Variant
		if err := manager.Call("org.freedesktop.DBus.Properties.Get", 0, "org.freedesktop.systemd1.Manager", "Version").Store(&version); err != nil {
			t.Fatal(err)
		}
		roundTrips = append(roundTrips, time.Since(t0))
	}
	// Each side on its own, the exporter and its floor interleaved in
	// turns (ABBA): what the measuring process did just before a request
	// leans on it — after the full side's 1.2 MB decompression the next
	// request finds its memory warm, after a compact one it does not. With
	// the sides interleaved and the exporter always first, the full
	// exporter came after compact requests and its floor after the full
	// exporter: 6.77 ms against 1.75 ms (3.86x), alone in turns 2.94 ms
	// against 2.43 ms (1.21x), same binaries, same minute.
	for si, s := range sides {
		for i := range scrapes {
			if si == 0 {
				roundTrip()
			}
			if i%2 == 0 {
				s.times = append(s.times, timed(s.url))
				s.floorTimes = append(s.floorTimes, timed(s.floorURL))
			} else {
				s.floorTimes = append(s.floorTimes, timed(s.floorURL))
				s.times = append(s.times, timed(s.url))
			}
		}
	}
	median := func(ds []time.Duration) time.Duration {
		ds = slices.Sorted(slices.Values(ds))
		return ds[len(ds)/2]
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%d units, no config file, %d scrapes of each interleaved, gzip asked as Prometheus does\n", units, scrapes)
	fmt.Fprintf(&out, "%-10s %12s %12s %14s %14s %8s\n", "series", "body", "gzipped", "exporter", "static floor", "ratio")
	for _, s := range sides {
		w, f := median(s.times), median(s.floorTimes)
		fmt.Fprintf(&out, "%-10s %10.1fKB %10.1fKB %14v %14v %7.2fx\n", s.series, float64(s.plain)/1000, float64(s.gzipped)/1000, w.Round(10*time.Microsecond), f.Round(10*time.Microsecond), float64(w)/float64(f))
		fmt.Fprintf(&out, "SUMMARY|scrape vs its bytes served static, %d units, %s (%.0f KB)|%v|%v|%.2fx|<= 3x\n", units, s.series, float64(s.plain)/1000, w.Round(10*time.Microsecond), f.Round(10*time.Microsecond), float64(w)/float64(f))
	}
	rt, f := median(roundTrips), median(sides[0].floorTimes)
	fmt.Fprintf(&out, "the scrape's D-Bus round trip to systemd alone: %v, %.2fx the compact floor\n", rt.Round(10*time.Microsecond), float64(rt)/float64(f))
	fmt.Print(out.String())
}

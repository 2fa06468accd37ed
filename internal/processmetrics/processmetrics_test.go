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

package processmetrics

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	return byName
}

func value(mf *dto.MetricFamily) float64 {
	m := mf.GetMetric()[0]
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// The collector serves what client_golang's serves for this process: the
// same families (names, help, types, no labels) and the same values,
// those that move read between two of client_golang's reads.
func TestSameAsClientGolang(t *testing.T) {
	theirs := collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	ours := New()
	before := gather(t, theirs)
	got := gather(t, ours)
	after := gather(t, theirs)

	if len(before) != 9 {
		t.Fatalf("client_golang's collector served %d families here, want its 9", len(before))
	}
	if len(got) != len(before) {
		t.Errorf("served %d families, client_golang's %d", len(got), len(before))
	}
	for name, want := range before {
		mf := got[name]
		if mf == nil {
			t.Errorf("%s missing", name)
			continue
		}
		if mf.GetHelp() != want.GetHelp() || mf.GetType() != want.GetType() {
			t.Errorf("%s: help %q type %v, client_golang's %q %v", name, mf.GetHelp(), mf.GetType(), want.GetHelp(), want.GetType())
		}
		if len(mf.GetMetric()) != 1 || len(mf.GetMetric()[0].GetLabel()) != 0 {
			t.Errorf("%s: %v, want one series without labels", name, mf.GetMetric())
		}
	}
	if t.Failed() {
		return
	}
	v := func(fams map[string]*dto.MetricFamily, name string) float64 { return value(fams[name]) }
	// Fixed while the test runs.
	for _, name := range []string{"process_max_fds", "process_virtual_memory_max_bytes"} {
		if v(got, name) != v(before, name) {
			t.Errorf("%s = %v, client_golang's %v", name, v(got, name), v(before, name))
		}
	}
	// The boot time /proc/stat prints is now minus the uptime, in whole
	// seconds: it can move by one between reads.
	if d := math.Abs(v(got, "process_start_time_seconds") - v(before, "process_start_time_seconds")); d > 1 {
		t.Errorf("process_start_time_seconds = %v, client_golang's %v", v(got, "process_start_time_seconds"), v(before, "process_start_time_seconds"))
	}
	// Counters: read between client_golang's two reads.
	for _, name := range []string{"process_cpu_seconds_total", "process_network_receive_bytes_total", "process_network_transmit_bytes_total"} {
		if g := v(got, name); g < v(before, name) || g > v(after, name) {
			t.Errorf("%s = %v, not within client_golang's %v .. %v", name, g, v(before, name), v(after, name))
		}
	}
	// Gauges the Go runtime moves: the same order of size.
	for _, name := range []string{"process_virtual_memory_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if g, w := v(got, name), v(before, name); g <= 0 || g > 4*w || g < w/4 {
			t.Errorf("%s = %v, client_golang's %v", name, g, w)
		}
	}
}

// Families are what a registry gathers of the collector: the same
// families, in name order, with the same help, types and series, values
// read between two gatherings; each call makes new series.
func TestFamiliesAreTheRegistrysGathering(t *testing.T) {
	c := New()
	before := gather(t, c)
	got, err := c.Families()
	if err != nil {
		t.Fatal(err)
	}
	after := gather(t, c)
	if len(got) != len(before) {
		t.Fatalf("%d families, the registry gathered %d", len(got), len(before))
	}
	for i, mf := range got {
		if i > 0 && got[i-1].GetName() >= mf.GetName() {
			t.Errorf("%s after %s: not in name order", mf.GetName(), got[i-1].GetName())
		}
		want := before[mf.GetName()]
		if want == nil || mf.GetHelp() != want.GetHelp() || mf.GetType() != want.GetType() || len(mf.GetMetric()) != 1 || len(mf.GetMetric()[0].GetLabel()) != 0 {
			t.Errorf("%v, the registry gathered %v", mf, want)
			continue
		}
		lo, hi := min(value(want), value(after[mf.GetName()])), max(value(want), value(after[mf.GetName()]))
		// The Go runtime may move memory between the reads, not 64 MiB.
		if g := value(mf); g < lo-64<<20 || g > hi+64<<20 {
			t.Errorf("%s = %v, not within the registry's %v .. %v", mf.GetName(), g, lo, hi)
		}
	}
	again, _ := c.Families()
	if again[0] == got[0] || again[0].GetMetric()[0] == got[0].GetMetric()[0] {
		t.Error("a second call returned the first call's family or series")
	}
}

// A second scrape is read through the descriptors the first opened: the
// process holds two more, not two more each scrape.
func TestDescriptorsKept(t *testing.T) {
	c := New()
	gather(t, c)
	if c.stat < 0 || c.netstat < 0 {
		t.Fatalf("descriptors not kept: stat %d netstat %d", c.stat, c.netstat)
	}
	stat, netstat := c.stat, c.netstat
	gather(t, c)
	if c.stat != stat || c.netstat != netstat {
		t.Errorf("descriptors changed: stat %d → %d, netstat %d → %d", stat, c.stat, netstat, c.netstat)
	}
}

func TestParseStat(t *testing.T) {
	// A command with spaces and a parenthesis of its own.
	text := []byte("4242 (a) b) c) S 1 4242 4242 0 -1 4194560 6000 0 0 0 250 125 0 0 20 0 9 0 7000 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")
	st, err := parseStat(text)
	if err != nil {
		t.Fatal(err)
	}
	if want := (procStat{utime: 250, stime: 125, starttime: 7000, vsize: 123456789, rss: 2048}); st != want {
		t.Errorf("parseStat = %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "4242 (a S 1", "4242 (a) S 1 2 3\n", "4242 (a) S 1 4242 4242 0 -1 4194560 6000 0 0 0 x 125 0 0 20 0 9 0 7000 1 2048 0\n"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func TestParseNetstat(t *testing.T) {
	text := []byte("TcpExt: SyncookiesSent InOctets\nTcpExt: 1 99\nIpExt: InNoRoutes InOctets OutOctets\nIpExt: 0 8152566492 7654172301\n")
	in, out, err := parseNetstat(text)
	if err != nil || in != 8152566492 || out != 7654172301 {
		t.Errorf("parseNetstat = %v %v %v, want 8152566492 7654172301", in, out, err)
	}
	if in, out, err := parseNetstat([]byte("TcpExt: A\nTcpExt: 1\n")); err != nil || in != 0 || out != 0 {
		t.Errorf("without IpExt: %v %v %v, want 0 0 nil", in, out, err)
	}
	if _, _, err := parseNetstat([]byte("IpExt: InOctets OutOctets\nIpExt: 1\n")); err == nil {
		t.Error("a short IpExt values line was taken")
	}
}

func TestParseBootTime(t *testing.T) {
	if got, err := parseBootTime([]byte("cpu  1 2 3\nintr 5\nbtime 1796343312\nprocesses 9\n")); err != nil || got != 1796343312 {
		t.Errorf("parseBootTime = %v %v", got, err)
	}
	if _, err := parseBootTime([]byte("cpu 1\n")); err == nil {
		t.Error("no btime line, no error")
	}
}

// Without /proc the families are left out, as client_golang's collector
// made without ReportErrors leaves them out; the limits, from getrlimit,
// stay.
func TestNoProc(t *testing.T) {
	got := gather(t, newAt(t.TempDir()))
	for name := range got {
		if name != "process_max_fds" && name != "process_virtual_memory_max_bytes" {
			t.Errorf("%s served without /proc", name)
		}
	}
}

// go test -bench . ./internal/processmetrics: this collector against
// client_golang's, a registry's Gather each.
func BenchmarkGather(b *testing.B) {
	for _, c := range []struct {
		name      string
		collector prometheus.Collector
	}{{"client_golang", collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}, {"processmetrics", New()}} {
		b.Run(c.name, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(c.collector)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

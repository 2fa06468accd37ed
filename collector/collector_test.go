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

package collector

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// These sources exercise the framework's contract (concurrency, deadlines,
// failure reporting); the real sources have their own tests against the
// real systems.

var fooDesc = prometheus.NewDesc("warden_test_value", "A value read by a test source.", []string{"source"}, nil)

type valueReading struct {
	source string
	value  float64
}

func (r valueReading) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(fooDesc, prometheus.GaugeValue, r.value, r.source)
}

// funcSource adapts a function to Source.
type funcSource struct {
	name   string
	update func(ctx context.Context, cfg *config.Config) (Reading, error)
}

func (s funcSource) Name() string                        { return s.name }
func (s funcSource) Describe(ch chan<- *prometheus.Desc) { ch <- fooDesc }
func (s funcSource) Update(ctx context.Context, cfg *config.Config) (Reading, error) {
	return s.update(ctx, cfg)
}

func constSource(name string, v float64) Source {
	return funcSource{name, func(context.Context, *config.Config) (Reading, error) {
		return valueReading{name, v}, nil
	}}
}

func failingSource(name string, err error) Source {
	return funcSource{name, func(context.Context, *config.Config) (Reading, error) { return nil, err }}
}

// waitForCancel honours the context: it returns only when the scrape gives up.
func waitForCancel(name string) Source {
	return funcSource{name, func(ctx context.Context, _ *config.Config) (Reading, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
}

func newTestExporter(t *testing.T, logs *bytes.Buffer, sources ...Source) *Exporter {
	t.Helper()
	var w log.Logger = log.NewNopLogger()
	if logs != nil {
		w = log.NewLogfmtLogger(log.NewSyncWriter(logs))
	}
	e, err := New(Options{Logger: w, Config: config.Default}, sources...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func gatherScrape(t *testing.T, e *Exporter, ctx context.Context) []*dto.MetricFamily {
	t.Helper()
	mfs, err := e.Gather(ctx)
	if err != nil {
		t.Fatalf("gather must not fail even when sources do: %v", err)
	}
	return mfs
}

func gauge(mfs []*dto.MetricFamily, name, collector string) (float64, bool) {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if (l.GetName() == "collector" || l.GetName() == "source") && l.GetValue() == collector {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

func TestSuccessAndFailureAreMetricsNotErrors(t *testing.T) {
	var logs bytes.Buffer
	e := newTestExporter(t, &logs,
		constSource("systemd", 42),
		failingSource("listeners", errors.New("netlink: permission denied")),
	)
	reg := e.Gatherer(context.Background())
	want := `
# HELP warden_collector_success 1 if the collector read its source successfully in this scrape, 0 if it failed or ran out of time.
# TYPE warden_collector_success gauge
warden_collector_success{collector="listeners"} 0
warden_collector_success{collector="systemd"} 1
# HELP warden_test_value A value read by a test source.
# TYPE warden_test_value gauge
warden_test_value{source="systemd"} 42
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "warden_collector_success", "warden_test_value"); err != nil {
		t.Fatal(err)
	}
	mfs, _ := reg.Gather()
	if _, ok := gauge(mfs, "warden_collector_duration_seconds", "listeners"); !ok {
		t.Error("a failed collector still reports its duration")
	}
	if !strings.Contains(logs.String(), `msg="collector failed" collector=listeners err="netlink: permission denied"`) {
		t.Errorf("the failure must be logged once with its reason, got:\n%s", logs.String())
	}

	// A second failing scrape does not repeat the warning; recovery is logged.
	logs.Reset()
	gatherScrape(t, e, context.Background())
	if strings.Contains(logs.String(), "level=warn") {
		t.Errorf("repeated failure logged again at warn:\n%s", logs.String())
	}
}

func TestRecoveryIsLogged(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	fail := true
	src := funcSource{"probes", func(context.Context, *config.Config) (Reading, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return nil, errors.New("boom")
		}
		return valueReading{"probes", 1}, nil
	}}
	e := newTestExporter(t, &logs, src)
	gatherScrape(t, e, context.Background())
	mu.Lock()
	fail = false
	mu.Unlock()
	mfs := gatherScrape(t, e, context.Background())
	if v, _ := gauge(mfs, "warden_collector_success", "probes"); v != 1 {
		t.Errorf("success after recovery: got %v", v)
	}
	if !strings.Contains(logs.String(), `msg="collector recovered" collector=probes`) {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

func TestDeadlineFailsOnlyTheSlowSource(t *testing.T) {
	e := newTestExporter(t, nil, constSource("listeners", 7), waitForCancel("systemd"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	mfs := gatherScrape(t, e, ctx)
	if v, ok := gauge(mfs, "warden_collector_success", "systemd"); !ok || v != 0 {
		t.Errorf("slow source: success %v (present %v), want 0", v, ok)
	}
	if v, _ := gauge(mfs, "warden_collector_success", "listeners"); v != 1 {
		t.Errorf("fast source: success %v, want 1", v)
	}
	if v, _ := gauge(mfs, "warden_test_value", "listeners"); v != 7 {
		t.Errorf("fast source's data must still be served, got %v", v)
	}
}

// A source that ignores its context must not hold the scrape past the
// deadline, and its late answer must not appear as fresh data.
func TestSourceIgnoringContextDoesNotHangTheScrape(t *testing.T) {
	release := make(chan struct{})
	finished := make(chan struct{})
	stuck := funcSource{"systemd", func(context.Context, *config.Config) (Reading, error) {
		defer close(finished)
		<-release
		return valueReading{"systemd", 99}, nil
	}}
	e := newTestExporter(t, nil, stuck)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	mfs := gatherScrape(t, e, ctx)
	if v, _ := gauge(mfs, "warden_collector_success", "systemd"); v != 0 {
		t.Errorf("success: got %v, want 0", v)
	}
	if _, ok := gauge(mfs, "warden_test_value", "systemd"); ok {
		t.Error("no data may be served for a source that missed the deadline")
	}
	close(release)
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the abandoned update never finished")
	}
}

func TestStuckSourceIsNotStartedWithoutBound(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	started := 0
	stuck := funcSource{"systemd", func(context.Context, *config.Config) (Reading, error) {
		mu.Lock()
		started++
		mu.Unlock()
		<-release
		return nil, errors.New("released")
	}}
	e := newTestExporter(t, nil, stuck)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	for range maxAbandonedPerSource + 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		gatherScrape(t, e, ctx)
		cancel()
	}
	// Every abandoned update is still blocked, so the count is exact.
	mu.Lock()
	defer mu.Unlock()
	if started != maxAbandonedPerSource {
		t.Errorf("updates started: got %d, want at most %d", started, maxAbandonedPerSource)
	}
	outcomes := e.update(context.Background(), config.Default())
	if !errors.Is(outcomes[0].err, ErrSourceBusy) {
		t.Errorf("want ErrSourceBusy, got %v", outcomes[0].err)
	}
	mu.Unlock()
	// Once the stuck updates return, the source is used again.
	close(release)
	released = true
	deadline := time.Now().Add(10 * time.Second)
	for e.sources[0].abandoned.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("abandoned updates still counted: %d", e.sources[0].abandoned.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	outcomes = e.update(context.Background(), config.Default())
	if errors.Is(outcomes[0].err, ErrSourceBusy) {
		t.Error("the source stays refused after its updates returned")
	}
	mu.Lock()
}

// Concurrent scrapes that are on time are not limited per source: only
// updates abandoned by their scrape count against the bound.
func TestConcurrentScrapesAreNotRefused(t *testing.T) {
	const n = 3 * maxAbandonedPerSource
	var wg sync.WaitGroup
	wg.Add(n)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	src := funcSource{"systemd", func(ctx context.Context, _ *config.Config) (Reading, error) {
		wg.Done()
		select { // every scrape's update runs at once
		case <-all:
			return valueReading{"systemd", 1}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
	e := newTestExporter(t, nil, src)
	// Updates, not Gather: concurrent Gathers share one update.
	results := make(chan error, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			results <- e.update(ctx, config.Default())[0].err
		}()
	}
	for range n {
		if err := <-results; err != nil {
			t.Errorf("a concurrent update was refused or failed: %v", err)
		}
	}
}

func TestSourcesRunConcurrently(t *testing.T) {
	// Each source waits until all have started: run one after another they
	// would deadlock until the deadline and fail.
	const n = 3
	var wg sync.WaitGroup
	wg.Add(n)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	var sources []Source
	for _, name := range []string{"systemd", "listeners", "probes"} {
		sources = append(sources, funcSource{name, func(ctx context.Context, _ *config.Config) (Reading, error) {
			wg.Done()
			select {
			case <-all:
				return valueReading{name, 1}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}})
	}
	e := newTestExporter(t, nil, sources...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mfs := gatherScrape(t, e, ctx)
	for _, name := range []string{"systemd", "listeners", "probes"} {
		if v, _ := gauge(mfs, "warden_collector_success", name); v != 1 {
			t.Errorf("%s: success %v, want 1", name, v)
		}
	}
}

func TestConfigIsReadPerScrape(t *testing.T) {
	var seen []*config.Config
	src := funcSource{"systemd", func(_ context.Context, cfg *config.Config) (Reading, error) {
		seen = append(seen, cfg)
		return valueReading{"systemd", 1}, nil
	}}
	current := config.Default()
	e, err := New(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return current }}, src)
	if err != nil {
		t.Fatal(err)
	}
	gatherScrape(t, e, context.Background())
	next := &config.Config{Checks: []config.Check{{Name: "x", Unit: "x.service"}}}
	current = next
	gatherScrape(t, e, context.Background())
	if len(seen) != 2 || seen[0] == seen[1] || seen[1] != next {
		t.Errorf("the source must see the config current at each scrape: %v", seen)
	}
}

func TestDuplicateSourceNames(t *testing.T) {
	_, err := New(Options{Config: config.Default}, constSource("systemd", 1), constSource("systemd", 2))
	if err == nil || !strings.Contains(err.Error(), `source "systemd" registered twice`) {
		t.Fatalf("got %v", err)
	}
}

func TestScrapeTimeout(t *testing.T) {
	const offset, fallback = 500 * time.Millisecond, 9 * time.Second
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", fallback},
		{"garbage", fallback},
		{"-3", fallback},
		{"0", fallback},
		{"NaN", fallback},
		{"+Inf", fallback},
		{"10", 9500 * time.Millisecond},
		{"2.5", 2 * time.Second},
		{"0.5", 50 * time.Millisecond}, // the offset would leave nothing: keep a tenth
		{"1e12", 24*time.Hour - offset},
	} {
		if got := ScrapeTimeout(tc.header, offset, fallback); got != tc.want {
			t.Errorf("ScrapeTimeout(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

// Concurrent scrapes share one gather: the sources run once for all of
// them, and each gets the whole result.
func TestConcurrentScrapesShareOneGather(t *testing.T) {
	var mu sync.Mutex
	updates := 0
	release := make(chan struct{})
	src := funcSource{"probes", func(ctx context.Context, _ *config.Config) (Reading, error) {
		mu.Lock()
		updates++
		mu.Unlock()
		<-release
		return valueReading{"probes", 3}, nil
	}}
	e := newTestExporter(t, nil, src)
	deadline := time.Now().Add(30 * time.Second)
	results := make(chan float64, 10)
	for i := range 10 {
		go func() {
			// Later arrivals have later deadlines: they may join.
			ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(time.Duration(i)*time.Millisecond))
			defer cancel()
			mfs, _ := e.Gather(ctx)
			v, _ := gauge(mfs, "warden_test_value", "probes")
			results <- v
		}()
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	for range 10 {
		if v := <-results; v != 3 {
			t.Errorf("a scrape got %v", v)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if updates >= 10 {
		t.Errorf("the source ran %d times for 10 concurrent scrapes", updates)
	}
}

func re(expr string) *config.Regexp { return &config.Regexp{Regexp: regexp.MustCompile(expr)} }

// A probe that hangs until the scrape's deadline is that probe's timeout:
// the probes source still answers in time, so the healthy probes' results
// and every probed check's verdict stand (issue #12: with a 2 s probe
// timeout and a 2 s scrape_timeout, most scrapes lost the whole reading).
func TestHungProbeAtTheScrapeDeadlineIsThatProbesTimeout(t *testing.T) {
	hung := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { time.Sleep(10 * time.Second) })
	healthy := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { io.WriteString(c, "+PONG\r\n") })
	cfg := &config.Config{}
	for i := range 10 {
		target := healthy
		if i == 0 {
			target = hung
		}
		// The probe's timeout (2 s) outlasts the scrape's deadline.
		p := &config.Probe{Target: target, Timeout: model.Duration(2 * time.Second), IPProtocol: "auto", QueryResponse: []config.Step{{Expect: re("PONG")}}}
		cfg.Checks = append(cfg.Checks, config.Check{Name: "c" + strconv.Itoa(i), Probes: []config.Probe{*p}})
	}
	e, err := New(Options{Config: func() *config.Config { return cfg }, Probes: probe.New(probe.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	for scrape := range 5 {
		// scrape_timeout 2s minus the default 0.5 s offset.
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		mfs, err := e.Gather(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := gauge(mfs, "warden_collector_success", "probes"); v != 1 {
			t.Fatalf("scrape %d: warden_collector_success{collector=\"probes\"} = %v, want 1: a hung probe must not cost the others", scrape, v)
		}
		statuses := map[string]string{}
		for _, mf := range mfs {
			if mf.GetName() != "warden_check_status" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetGauge().GetValue() != 1 {
					continue
				}
				var check, status string
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "check":
						check = l.GetValue()
					case "status":
						status = l.GetValue()
					}
				}
				statuses[check] = status
			}
		}
		for i := range 10 {
			want := "ok"
			if i == 0 {
				want = "probe_failed"
			}
			if got := statuses["c"+strconv.Itoa(i)]; got != want {
				t.Errorf("scrape %d: check c%d is %q, want %q", scrape, i, got, want)
			}
		}
		if v := probeFailure(mfs, "c0", "timeout"); v != 1 {
			t.Errorf("scrape %d: the hung probe's warden_probe_failure{reason=\"timeout\"} = %v, want 1", scrape, v)
		}
	}
}

func probeFailure(mfs []*dto.MetricFamily, check, reason string) float64 {
	for _, mf := range mfs {
		if mf.GetName() != "warden_probe_failure" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var c, r string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "check":
					c = l.GetValue()
				case "reason":
					r = l.GetValue()
				}
			}
			if c == check && r == reason {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

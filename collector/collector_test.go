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
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// These fake layers exercise the framework's contract (concurrency,
// deadlines, failure reporting) through the exporter's seams; the real
// layers have their own tests against the real systems. Each reads one
// number, which shows in a series of its layer (layerValue).

// fakeLayer reads value for the layer name (systemd, listeners or
// probes). names are the units the checks name (systemd), or nil.
type fakeLayer struct {
	name string
	read func(ctx context.Context, names []string) (float64, error)
}

type fakeUnits fakeLayer

func (f fakeUnits) Snapshot(ctx context.Context, names []string) (*systemd.Snapshot, error) {
	v, err := f.read(ctx, names)
	if err != nil {
		return nil, err
	}
	return systemd.SnapshotOf(systemd.Unit{Name: "value.service", LoadState: "loaded", ActiveState: "active", HasRestarts: true, NRestarts: uint32(v)}), nil
}

type fakeListeners fakeLayer

func (f fakeListeners) Read(ctx context.Context) (*listeners.Reading, error) {
	v, err := f.read(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &listeners.Reading{Backend: "netlink", Listeners: []listeners.Listener{{Proto: "tcp", Addr: netip.MustParseAddr("127.0.0.1"), Port: uint16(v)}}}, nil
}

func (fakeListeners) InNetnsOf(context.Context, int) ([]listeners.Listener, uint64, error) {
	return nil, 0, errors.New("no namespaces here")
}

// fakeProbes cannot fail (a probe's failure is its result's): an error
// read is returned after the deadline, like a run out of time.
type fakeProbes fakeLayer

func (f fakeProbes) Run(ctx context.Context, _ []probe.Job) []probe.Result {
	v, _ := f.read(ctx, nil)
	return []probe.Result{{Check: "value", Target: "127.0.0.1:1", Success: true, Duration: time.Duration(v * float64(time.Second))}}
}

// layerValue returns the number a fake layer read, from its layer's series.
func layerValue(mfs []*dto.MetricFamily, layer string) (float64, bool) {
	where := map[string]struct{ family, label string }{
		"systemd":   {"warden_unit_restarts_total", "unit"},
		"listeners": {"warden_listener_info", "port"},
		"probes":    {"warden_probe_duration_seconds", "check"},
	}[layer]
	family, label := where.family, where.label
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != label {
					continue
				}
				switch layer {
				case "systemd":
					return m.GetCounter().GetValue(), true
				case "listeners":
					v, err := strconv.ParseFloat(l.GetValue(), 64)
					return v, err == nil
				default:
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

func constLayer(name string, v float64) fakeLayer {
	return fakeLayer{name, func(context.Context, []string) (float64, error) { return v, nil }}
}

func failingLayer(name string, err error) fakeLayer {
	return fakeLayer{name, func(context.Context, []string) (float64, error) { return 0, err }}
}

// waitForCancel honours the context: it returns only when the scrape gives up.
func waitForCancel(name string) fakeLayer {
	return fakeLayer{name, func(ctx context.Context, _ []string) (float64, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}}
}

// withLayers sets the fake layers in opts.
func withLayers(opts Options, layers ...fakeLayer) Options {
	for _, l := range layers {
		switch l.name {
		case "systemd":
			opts.Systemd = fakeUnits(l)
		case "listeners":
			opts.Listeners = fakeListeners(l)
		case "probes":
			opts.Probes = fakeProbes(l)
		default:
			panic("no layer " + l.name)
		}
	}
	return opts
}

// fakeConfig is the embedded default and the check the fake probe answers
// for: a probe's result counts only for a probe of the config.
func fakeConfig() *config.Config {
	cfg := config.Default()
	cfg.Checks = append(cfg.Checks, config.Check{Name: "value", Probes: []config.Probe{{Target: "127.0.0.1:1", Timeout: model.Duration(time.Second), IPProtocol: "auto"}}})
	return cfg
}

func newTestExporter(t *testing.T, logs *bytes.Buffer, layers ...fakeLayer) *Exporter {
	t.Helper()
	var w log.Logger = log.NewNopLogger()
	if logs != nil {
		w = log.NewLogfmtLogger(log.NewSyncWriter(logs))
	}
	e, err := New(withLayers(Options{Logger: w, Config: fakeConfig}, layers...))
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
		constLayer("systemd", 42),
		failingLayer("listeners", errors.New("netlink: permission denied")),
	)
	reg := e.Gatherer(context.Background())
	want := `
# HELP warden_collector_success 1 if the collector read its source successfully in this scrape, 0 if it failed or ran out of time.
# TYPE warden_collector_success gauge
warden_collector_success{collector="listeners"} 0
warden_collector_success{collector="systemd"} 1
# HELP warden_unit_restarts_total Times systemd restarted the service automatically (NRestarts).
# TYPE warden_unit_restarts_total counter
warden_unit_restarts_total{unit="value.service"} 42
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "warden_collector_success", "warden_unit_restarts_total"); err != nil {
		t.Fatal(err)
	}
	mfs, _ := reg.Gather()
	if _, ok := gauge(mfs, "warden_collector_duration_seconds", "listeners"); !ok {
		t.Error("a failed collector still reports its duration")
	}
	if !strings.Contains(logs.String(), `msg="layer failed" layer=listeners err="netlink: permission denied"`) {
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
	src := fakeLayer{"listeners", func(context.Context, []string) (float64, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return 0, errors.New("boom")
		}
		return 1, nil
	}}
	e := newTestExporter(t, &logs, src)
	gatherScrape(t, e, context.Background())
	mu.Lock()
	fail = false
	mu.Unlock()
	mfs := gatherScrape(t, e, context.Background())
	if v, _ := gauge(mfs, "warden_collector_success", "listeners"); v != 1 {
		t.Errorf("success after recovery: got %v", v)
	}
	if !strings.Contains(logs.String(), `msg="layer recovered" layer=listeners`) {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

func TestDeadlineFailsOnlyTheSlowSource(t *testing.T) {
	e := newTestExporter(t, nil, constLayer("listeners", 7), waitForCancel("systemd"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	mfs := gatherScrape(t, e, ctx)
	if v, ok := gauge(mfs, "warden_collector_success", "systemd"); !ok || v != 0 {
		t.Errorf("slow source: success %v (present %v), want 0", v, ok)
	}
	if v, _ := gauge(mfs, "warden_collector_success", "listeners"); v != 1 {
		t.Errorf("fast source: success %v, want 1", v)
	}
	if v, _ := layerValue(mfs, "listeners"); v != 7 {
		t.Errorf("fast source's data must still be served, got %v", v)
	}
}

// A source that ignores its context must not hold the scrape past the
// deadline, and its late answer must not appear as fresh data.
func TestSourceIgnoringContextDoesNotHangTheScrape(t *testing.T) {
	release := make(chan struct{})
	finished := make(chan struct{})
	stuck := fakeLayer{"systemd", func(context.Context, []string) (float64, error) {
		defer close(finished)
		<-release
		return 99, nil
	}}
	e := newTestExporter(t, nil, stuck)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	mfs := gatherScrape(t, e, ctx)
	if v, _ := gauge(mfs, "warden_collector_success", "systemd"); v != 0 {
		t.Errorf("success: got %v, want 0", v)
	}
	if _, ok := layerValue(mfs, "systemd"); ok {
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
	stuck := fakeLayer{"systemd", func(context.Context, []string) (float64, error) {
		mu.Lock()
		started++
		mu.Unlock()
		<-release
		return 0, errors.New("released")
	}}
	e := newTestExporter(t, nil, stuck)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	for range maxAbandonedPerLayer + 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		gatherScrape(t, e, ctx)
		cancel()
	}
	// Every abandoned update is still blocked, so the count is exact.
	mu.Lock()
	defer mu.Unlock()
	if started != maxAbandonedPerLayer {
		t.Errorf("updates started: got %d, want at most %d", started, maxAbandonedPerLayer)
	}
	if err := readLayers(e); !errors.Is(err, ErrLayerBusy) {
		t.Errorf("want ErrLayerBusy, got %v", err)
	}
	mu.Unlock()
	// Once the stuck updates return, the source is used again.
	close(release)
	released = true
	deadline := time.Now().Add(10 * time.Second)
	for e.layers[0].abandoned.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("abandoned updates still counted: %d", e.layers[0].abandoned.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := readLayers(e); errors.Is(err, ErrLayerBusy) {
		t.Error("the source stays refused after its updates returned")
	}
	mu.Lock()
}

// Concurrent scrapes that are on time are not limited per source: only
// updates abandoned by their scrape count against the bound.
func TestConcurrentScrapesAreNotRefused(t *testing.T) {
	const n = 3 * maxAbandonedPerLayer
	var wg sync.WaitGroup
	wg.Add(n)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	src := fakeLayer{"systemd", func(ctx context.Context, _ []string) (float64, error) {
		wg.Done()
		select { // every scrape's update runs at once
		case <-all:
			return 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}}
	e := newTestExporter(t, nil, src)
	// The layers' reads, not Evaluate: concurrent evaluations share one.
	results := make(chan error, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			results <- readLayersCtx(ctx, e)
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
	var layers []fakeLayer
	for _, name := range []string{"systemd", "listeners", "probes"} {
		layers = append(layers, fakeLayer{name, func(ctx context.Context, _ []string) (float64, error) {
			wg.Done()
			select {
			case <-all:
				return 1, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}})
	}
	e := newTestExporter(t, nil, layers...)
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
	var seen [][]string
	src := fakeLayer{"systemd", func(_ context.Context, names []string) (float64, error) {
		seen = append(seen, names)
		return 1, nil
	}}
	current := config.Default()
	e, err := New(withLayers(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return current }}, src))
	if err != nil {
		t.Fatal(err)
	}
	gatherScrape(t, e, context.Background())
	next := &config.Config{Checks: []config.Check{{Name: "x", Unit: "x.service"}}}
	current = next
	gatherScrape(t, e, context.Background())
	if len(seen) != 2 || len(seen[0]) != 0 || !slices.Equal(seen[1], []string{"x.service"}) {
		t.Errorf("the layers must see the config current at each scrape: %v", seen)
	}
}

func TestUnknownUnitSeriesIsRefused(t *testing.T) {
	_, err := New(Options{Config: config.Default, UnitSeries: "some"})
	if err == nil || !strings.Contains(err.Error(), `unit series "some"`) {
		t.Fatalf("got %v", err)
	}
}

// Concurrent scrapes share one gather: the sources run once for all of
// them, and each gets the whole result.
func TestConcurrentScrapesShareOneGather(t *testing.T) {
	var mu sync.Mutex
	updates := 0
	release := make(chan struct{})
	src := fakeLayer{"probes", func(ctx context.Context, _ []string) (float64, error) {
		mu.Lock()
		updates++
		mu.Unlock()
		<-release
		return 3, nil
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
			v, _ := layerValue(mfs, "probes")
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

// readLayers reads e's layers once for the default config, as an
// evaluation does, and returns the first layer's error.
func readLayers(e *Exporter) error { return readLayersCtx(context.Background(), e) }

func readLayersCtx(ctx context.Context, e *Exporter) error {
	o := &observation{}
	e.readLayers(ctx, config.Default(), reads{fresh: true}, o)
	return o.outcomes[0].err
}

func lst(proto, addr string, port uint16, v6only bool) listeners.Listener {
	a := netip.MustParseAddr(addr)
	return listeners.Listener{Proto: proto, Addr: a, Port: port, IPv6: a.Is6(), V6Only: v6only, V6OnlyKnown: true}
}

func TestInventoryDedupesSortsAndCaps(t *testing.T) {
	ls := []listeners.Listener{
		lst("tcp", "0.0.0.0", 8080, false),
		lst("tcp", "0.0.0.0", 8080, false), // SO_REUSEPORT twin: one series
		lst("tcp", "0.0.0.0", 22, false),
		lst("udp", "127.0.0.1", 53, false),
	}
	owners := []owner.Owner{{Unit: "a.service"}, {Unit: "a.service"}, {}, {Unit: "dns.service"}}
	series, dropped := inventory(ls, owners, -1)
	want := []inventoryEntry{{"tcp", "0.0.0.0", 22, ""}, {"tcp", "0.0.0.0", 8080, "a.service"}, {"udp", "127.0.0.1", 53, "dns.service"}}
	if dropped != 0 || len(series) != len(want) {
		t.Fatalf("got %v (dropped %d)", series, dropped)
	}
	for i := range want {
		if series[i] != want[i] {
			t.Errorf("series %d: %v, want %v", i, series[i], want[i])
		}
	}
	series, dropped = inventory(ls, owners, 2)
	if len(series) != 2 || dropped != 1 {
		t.Errorf("capped: %d series, %d dropped", len(series), dropped)
	}
}

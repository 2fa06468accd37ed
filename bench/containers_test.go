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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/collector"
	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/containers"
	"github.com/warden-exporter/warden_exporter/internal/enginetest"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// benchContainers is the figure: 50 running containers.
const benchContainers = 50

// Bounds of the bench's waits, each many times what it takes here.
const (
	syncWait    = time.Minute // the watcher's first list and 50 inspects (~0.2 s)
	runningWait = time.Minute // a started container runs (~0.3 s)
)

// TestContainerLayerCost measures the container layer against one real
// dockerd (enginetest.Docker: root, Debian's docker.io): the cost per
// scrape at 50 running containers beside what a polling exporter pays,
// and the watcher's CPU while 50 containers restart once a second.
func TestContainerLayerCost(t *testing.T) {
	eng := enginetest.Docker(t)
	eng.Image(t)
	t.Run("per scrape", func(t *testing.T) { perScrape(t, eng) })
	t.Run("events", func(t *testing.T) { restartEvents(t, eng) })
}

func endpointOf(eng *enginetest.Engine) containers.Endpoint {
	return containers.Endpoint{Engine: containers.Docker, Address: eng.Address}
}

// runContainers starts n containers named prefix00.. with opts and waits
// until each runs (not for a crash loop, running a second in each cycle).
func runContainers(t *testing.T, eng *enginetest.Engine, prefix string, n int, opts enginetest.RunOptions) []string {
	t.Helper()
	var names []string
	for i := range n {
		name := fmt.Sprintf("%s%02d", prefix, i)
		eng.Run(t, name, opts)
		names = append(names, name)
	}
	for _, name := range names {
		crashLoop := slices.ContainsFunc(opts.Env, func(kv string) bool { return strings.HasPrefix(kv, "CRASH_AFTER=") })
		if !crashLoop {
			eng.WaitState(t, name, "running", runningWait)
		}
	}
	return names
}

// watch runs a watcher of eng until the test ends, synced.
func watch(t *testing.T, eng *enginetest.Engine) *containers.Watcher {
	t.Helper()
	w := containers.NewWatcher(containers.WatcherOptions{Endpoints: []containers.Endpoint{endpointOf(eng)}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	sctx, scancel := context.WithTimeout(ctx, syncWait)
	defer scancel()
	if err := w.WaitSynced(sctx); err != nil {
		t.Fatal(err)
	}
	return w
}

// perScrape is the issue's "cost per scrape at 50 running containers
// against one GET /containers/json plus 50 inspects: <= 0.1x".
//
// A is a whole Exporter.Evaluate of 50 container checks with the
// container layer, the listener layer served from a recording of the
// real one (its answers read once through the netlink source, the host's
// and each container's network namespace): a container check judges its
// published port from the listeners, and the listener layer's own cost is
// listeners.sh's row, not this one's. A holds the snapshot, the join of
// each check with its container, the judging, the history and every
// series of the 50 checks: a polling exporter pays all of that too, on
// top of its calls, so A overstates the layer's own cost and the ratio is
// a bound. Beside it: the same evaluation with the real listener layer
// (a netlink dump and 50 network namespaces entered: a scrape as
// shipped), and the join alone (Snapshot() and 50 Find). B is the floor
// of a polling exporter: one list and 50 inspects over the same client,
// one after another on one kept-alive connection, in this process's time
// (dockerd's CPU for them is not counted). Both A and the join get a
// SUMMARY line: a CPU profile of A puts ~83% of it in emit (client_golang's
// Gather of the ~1,900 series of 50 checks: consistency checks, sorting),
// which a polling exporter pays the same; the join is the layer's own.
func perScrape(t *testing.T, eng *enginetest.Engine) {
	port := strconv.Itoa(enginetest.SrvPort)
	names := runContainers(t, eng, "wdn-bench-scrape", benchContainers, enginetest.RunOptions{
		Cmd:     []string{"serve", ":" + port},
		Publish: []string{"127.0.0.1::" + port},
	})
	w := watch(t, eng)
	waitSnapshot(t, w, names)
	for _, name := range names {
		ct, _ := w.Snapshot().Find(containers.Docker, name)
		enginetest.WaitGreeting(t, fmt.Sprintf("127.0.0.1:%d", ct.Ports[0].HostPort), runningWait)
	}

	cfg := &config.Config{}
	for _, name := range names {
		cfg.Checks = append(cfg.Checks, config.Check{Name: name, Container: name, Engine: containers.Docker})
	}
	source, err := listeners.New(listeners.Options{Mode: "netlink"})
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	ctx := context.Background()
	recorded := record(t, source, w.Snapshot())
	exporter := func(ls collector.ListenerReader) *collector.Exporter {
		e, err := collector.New(collector.Options{Config: func() *config.Config { return cfg }, Containers: w, Listeners: ls})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		return e
	}
	layer, shipped := exporter(recorded), exporter(source)
	series := checkEvaluation(t, layer)
	checkEvaluation(t, shipped)

	client, err := containers.NewClient(endpointOf(eng), containers.DefaultCallTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	evaluate := func(e *collector.Exporter) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Evaluate(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	a := testing.Benchmark(evaluate(layer))
	full := testing.Benchmark(evaluate(shipped))
	join := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			snap := w.Snapshot()
			for _, name := range names {
				if _, ok := snap.Find(containers.Docker, name); !ok {
					b.Fatalf("%s is not in the snapshot", name)
				}
			}
		}
	})
	polling := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := listAndInspect(ctx, client, len(names)); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The process's CPU per scrape beside the wall time: the polling
	// exporter waits for dockerd most of its 34 ms, and spends the rest
	// decoding 51 answers.
	cpuOf := func(f func() error) time.Duration {
		const n = 30
		before := processCPU(t)
		for range n {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}
		return (processCPU(t) - before) / n
	}
	aCPU := cpuOf(func() error { _, err := layer.Evaluate(ctx); return err })
	pCPU := cpuOf(func() error { return listAndInspect(ctx, client, len(names)) })

	fmt.Printf("\nan evaluation of the 50 checks makes %d series\n", series)
	fmt.Printf("%-62s %11s %11s %8s %7s %8s\n", "per scrape, 50 running containers", "ns/op", "CPU/op", "allocs", "runs", "/ B")
	for _, r := range []struct {
		what string
		r    testing.BenchmarkResult
		cpu  time.Duration
	}{
		{"A: Evaluate, 50 container checks, listeners recorded", a, aCPU},
		{"   the same with the real listener layer (dump + 50 netns)", full, 0},
		{"   Snapshot() + 50 Find alone (the layer's read and join)", join, 0},
		{"B: polling: GET /containers/json + 50 inspects", polling, pCPU},
	} {
		cpu := "-"
		if r.cpu > 0 {
			cpu = r.cpu.Round(time.Microsecond).String()
		}
		fmt.Printf("%-62s %11d %11s %8d %7d %8.4f\n", r.what, r.r.NsPerOp(), cpu, r.r.AllocsPerOp(), r.r.N, float64(r.r.NsPerOp())/float64(polling.NsPerOp()))
	}
	ad, jd, pd := time.Duration(a.NsPerOp()), time.Duration(join.NsPerOp()), time.Duration(polling.NsPerOp())
	fmt.Printf("SUMMARY|containers: %d containers, per scrape (whole evaluation, its ~1,900 series)|%v|polling list+%d inspects %v|%.3fx|report\n",
		len(names), ad.Round(10*time.Microsecond), len(names), pd.Round(100*time.Microsecond), float64(ad)/float64(pd))
	fmt.Printf("SUMMARY|containers: %d containers, per scrape (layer's read+join)|%v|polling list+%d inspects %v|%.4fx|<= 0.1x\n",
		len(names), jd.Round(100*time.Nanosecond), len(names), pd.Round(100*time.Microsecond), float64(jd)/float64(pd))
}

// processCPU is this process's user+system time so far.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// recordedListeners serves what a real listener reader answered once:
// the host's listeners, and those inside each container's namespace.
type recordedListeners struct {
	host   listeners.Reading
	inside map[int][]listeners.Listener
	netns  map[int]uint64
}

// record reads, through source, the host's listeners and those of each
// running container of snap.
func record(t *testing.T, source *listeners.Reader, snap *containers.Snapshot) *recordedListeners {
	t.Helper()
	ctx := context.Background()
	host, err := source.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := &recordedListeners{host: *host, inside: map[int][]listeners.Listener{}, netns: map[int]uint64{}}
	for _, ct := range snap.Containers {
		ls, id, err := source.InNetnsOf(ctx, ct.Pid)
		if err != nil {
			t.Fatalf("the listeners of %s (pid %d): %v", ct.Name, ct.Pid, err)
		}
		r.inside[ct.Pid], r.netns[ct.Pid] = ls, id
	}
	return r
}

// Read returns a copy: the recording is the same at every evaluation.
func (r *recordedListeners) Read(context.Context) (*listeners.Reading, error) {
	h := r.host
	h.Listeners = slices.Clone(h.Listeners)
	return &h, nil
}

func (r *recordedListeners) InNetnsOf(_ context.Context, pid int) ([]listeners.Listener, uint64, error) {
	ls, ok := r.inside[pid]
	if !ok {
		return nil, 0, fmt.Errorf("pid %d was not recorded", pid)
	}
	return slices.Clone(ls), r.netns[pid], nil
}

// waitSnapshot waits until the watcher holds every container of names,
// running with its published port known.
func waitSnapshot(t *testing.T, w *containers.Watcher, names []string) {
	t.Helper()
	deadline := time.Now().Add(syncWait)
	for {
		missing := ""
		snap := w.Snapshot()
		for _, name := range names {
			ct, ok := snap.Find(containers.Docker, name)
			if !ok || !ct.Running() || len(ct.Ports) != 1 || ct.Ports[0].HostPort == 0 {
				missing = fmt.Sprintf("%s: %+v (found %v)", name, ct, ok)
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watcher's snapshot after %v: %s", syncWait, missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkEvaluation fails unless an evaluation judges every container check
// from a running container: what the benchmark then repeats is the work
// of a real scrape, not of an unknown layer. It returns how many series
// the evaluation made.
func checkEvaluation(t *testing.T, e *collector.Exporter) int {
	t.Helper()
	ev, err := e.Evaluate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Verdicts) != benchContainers {
		t.Fatalf("%d verdicts, want %d", len(ev.Verdicts), benchContainers)
	}
	for _, v := range ev.Verdicts {
		if v.Container == nil || v.Container.State != containers.StateRunning || v.Status != verdict.OK {
			t.Fatalf("check %s: %s: %s (container %+v)", v.Check, v.Status, v.Reason, v.Container)
		}
	}
	families, err := ev.Families()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, f := range families {
		series += len(f.GetMetric())
	}
	return series
}

// listAndInspect is one scrape of a polling exporter: the list, and an
// inspect of each container in it.
func listAndInspect(ctx context.Context, c *containers.Client, want int) error {
	list, err := c.List(ctx)
	if err != nil {
		return err
	}
	if len(list) != want {
		return fmt.Errorf("listed %d containers, want %d", len(list), want)
	}
	for _, l := range list {
		if _, err := c.Inspect(ctx, l.ID); err != nil {
			return err
		}
	}
	return nil
}

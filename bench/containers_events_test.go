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
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/containers"
	"github.com/warden-exporter/warden_exporter/internal/enginetest"
)

// The event bench's windows.
const (
	// crashWindows × crashWindow follow docker's own restarts of the
	// crash loop: its backoff doubles from 100 ms while a container runs
	// under 10 s, so the rate falls window by window.
	crashWindows = 3
	crashWindow  = 20 * time.Second
	idleWindow   = 10 * time.Second
	eventWindow  = 20 * time.Second
	warmup       = 3 * time.Second
	// helperWait bounds the watcher helper's life: it outlives no run.
	helperWait = 30 * time.Minute
)

// restartEvents is the issue's "events for 50 containers restarting once
// a second cost under 1 % of a core". The watcher runs alone in a helper
// process (TestHelperContainerWatcher), whose own CPU time (getrusage)
// over a window is the figure: the driver that restarts the containers
// and this process's API calls are not in it, so nothing is subtracted.
// Events per second are from the watcher's Counts (starts + exits).
//
// First 50 containers crash every second under --restart=always
// (CRASH_AFTER=1), restarted by docker itself: its backoff (100 ms,
// doubling while a container lives under 10 s, at most 1 min) makes the
// rate fall, printed window by window. Then 50 containers that serve
// under --restart=always are restarted by this process through the API
// (POST /containers/{id}/restart?t=0) in turn, at most 50 a second from
// driverWorkers at once: the SUMMARY lines' window. A restart takes dockerd
// ~0.4 s here (stop ~0.1 s, start ~0.25 s), and the 2 cores run out at
// 3-5 a second, so the figure at 50 restarts a second is the CPU per
// restart measured times 50 (each API restart is three events: die,
// start and restart; docker's own restarts are two). The CPU per restart
// fell with the rate (~1.5 ms at 1-3 a second, ~0.8 ms at 7-9): the
// product is a bound, of a watcher that inspects at every event (~190 µs
// of this process's CPU an inspect, perScrape's B).
func restartEvents(t *testing.T, eng *enginetest.Engine) {
	h := startWatcherHelper(t, eng)
	port := strconv.Itoa(enginetest.SrvPort)

	crashing := runContainers(t, eng, "wdn-bench-crash", benchContainers, enginetest.RunOptions{
		Cmd: []string{"serve", ":" + port}, Restart: "always", Env: []string{"CRASH_AFTER=1"},
	})
	fmt.Printf("\n%-50s %8s %9s %10s %8s %12s\n", "window", "seconds", "events/s", "restarts/s", "CPU", "CPU/restart")
	prev := h.sample(t)
	for i := range crashWindows {
		time.Sleep(crashWindow)
		cur := h.sample(t)
		fmt.Printf("%-50s %s\n", fmt.Sprintf("docker's own restarts (CRASH_AFTER=1), window %d", i+1), cur.since(prev))
		prev = cur
	}
	for _, name := range crashing {
		eng.Remove(t, name)
	}

	serving := runContainers(t, eng, "wdn-bench-restart", benchContainers, enginetest.RunOptions{
		Cmd: []string{"serve", ":" + port}, Restart: "always",
	})
	h.waitContainers(t, len(serving))
	idle0 := h.sample(t)
	time.Sleep(idleWindow)
	fmt.Printf("%-50s %s\n", "idle: 50 serving containers, no event", h.sample(t).since(idle0))

	stop := restartAtRate(t, eng, serving, len(serving))
	time.Sleep(warmup)
	s0 := h.sample(t)
	time.Sleep(eventWindow)
	busy := h.sample(t).since(s0)
	calls, failed := stop()
	fmt.Printf("%-50s %s\n", fmt.Sprintf("restarted through the API, %d at once", driverWorkers), busy)
	fmt.Printf("driver: %d restarts, %d failed\n", calls, failed)
	if failed > 0 {
		t.Errorf("%d restarts failed", failed)
	}
	if busy.starts == 0 {
		t.Fatalf("the watcher counted no start in %v", busy.wall)
	}
	fmt.Printf("SUMMARY|containers: events of %d containers restarting (dockerd's pace)|%.2f %% of a core|%.0f events/s (%.1f restarts/s)|-|report\n",
		len(serving), busy.cpuPercent(), busy.eventsPerSecond(), busy.restartsPerSecond())
}

// driverWorkers restart containers at once: more only queue in dockerd
// (50 at once made each restart take ~10 s here).
const driverWorkers = 4

// restartAtRate restarts names in turn, at most perSecond a second from
// driverWorkers at once, until the returned stop is called; stop waits
// for the restarts under way and returns how many were made and failed.
func restartAtRate(t *testing.T, eng *enginetest.Engine, names []string, perSecond int) (stop func() (calls, failed int64)) {
	var calls, failed, next atomic.Int64
	tokens := make(chan struct{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			select {
			case tokens <- struct{}{}:
			default: // every worker busy: the engine is slower than perSecond
			}
		}
	}()
	for range driverWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				case <-tokens:
				}
				name := names[int(next.Add(1)-1)%len(names)]
				calls.Add(1)
				if err := eng.Call(http.MethodPost, "/containers/"+url.PathEscape(name)+"/restart", url.Values{"t": {"0"}}, nil, nil); err != nil {
					if failed.Add(1) == 1 {
						t.Logf("restarting %s: %v", name, err)
					}
				}
			}
		}()
	}
	var once sync.Once
	return func() (int64, int64) {
		once.Do(func() { close(done); wg.Wait() })
		return calls.Load(), failed.Load()
	}
}

// watcherSample is what the helper said at one moment.
type watcherSample struct {
	at                      time.Time
	cpu                     time.Duration // its user+system time
	starts, exits, restarts uint64
	containers              int
}

// window is the difference of two samples.
type window struct {
	wall, cpu      time.Duration
	events, starts uint64
}

func (s watcherSample) since(prev watcherSample) window {
	return window{
		wall:   s.at.Sub(prev.at),
		cpu:    s.cpu - prev.cpu,
		events: s.starts + s.exits - prev.starts - prev.exits,
		starts: s.starts - prev.starts,
	}
}

func (w window) cpuPercent() float64        { return 100 * w.cpu.Seconds() / w.wall.Seconds() }
func (w window) eventsPerSecond() float64   { return float64(w.events) / w.wall.Seconds() }
func (w window) restartsPerSecond() float64 { return float64(w.starts) / w.wall.Seconds() }

func (w window) String() string {
	perRestart := "-"
	if w.starts > 0 {
		perRestart = (w.cpu / time.Duration(w.starts)).Round(time.Microsecond).String()
	}
	return fmt.Sprintf("%8.1f %9.1f %10.1f %7.3f%% %12s", w.wall.Seconds(), w.eventsPerSecond(), w.restartsPerSecond(), w.cpuPercent(), perRestart)
}

// watcherHelper is the helper process running the watcher.
type watcherHelper struct {
	stdin io.Writer
	lines chan string
}

// The helper's environment: the engine's address, and where to write a
// CPU profile of the whole run (none when unset).
const (
	helperEnv  = "WARDEN_BENCH_WATCH_ADDRESS"
	profileEnv = "WARDEN_BENCH_WATCH_CPUPROFILE"
)

// startWatcherHelper starts TestHelperContainerWatcher on eng and waits
// until its watcher synced; it is stopped (stdin closed, then killed by
// pid) when the test ends.
func startWatcherHelper(t *testing.T, eng *enginetest.Engine) *watcherHelper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperContainerWatcher$")
	cmd.Env = append(os.Environ(), helperEnv+"="+eng.Address)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	h := &watcherHelper{stdin: stdin, lines: make(chan string, 16)}
	go func() {
		defer close(h.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "watcher ") {
				h.lines <- line
			}
		}
	}()
	if line := h.next(t, syncWait); line != "watcher synced" {
		t.Fatalf("the watcher helper said %q, want synced", line)
	}
	return h
}

func (h *watcherHelper) next(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case line, ok := <-h.lines:
		if !ok {
			t.Fatal("the watcher helper ended")
		}
		return line
	case <-time.After(within):
		t.Fatalf("the watcher helper said nothing in %v", within)
	}
	return ""
}

// sample asks the helper for its CPU time and counts.
func (h *watcherHelper) sample(t *testing.T) watcherSample {
	t.Helper()
	if _, err := io.WriteString(h.stdin, "sample\n"); err != nil {
		t.Fatalf("asking the watcher helper: %v", err)
	}
	line := h.next(t, 10*time.Second)
	s := watcherSample{at: time.Now()}
	var cpuNs int64
	if _, err := fmt.Sscanf(line, "watcher sample %d %d %d %d %d", &cpuNs, &s.starts, &s.exits, &s.restarts, &s.containers); err != nil {
		t.Fatalf("the watcher helper said %q: %v", line, err)
	}
	s.cpu = time.Duration(cpuNs)
	return s
}

// waitContainers waits until the helper's watcher holds n containers.
func (h *watcherHelper) waitContainers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(syncWait)
	for {
		s := h.sample(t)
		if s.containers == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watcher holds %d containers after %v, want %d", s.containers, syncWait, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHelperContainerWatcher is not a test: started by startWatcherHelper
// with WARDEN_BENCH_WATCH_ADDRESS, it runs a watcher of that docker
// endpoint, says "watcher synced", and answers each line of its stdin
// with "watcher sample CPU_NS STARTS EXITS RESTARTS CONTAINERS" (its own
// user+system time from getrusage, the Counts summed) until stdin closes
// (at most 30 minutes). With WARDEN_BENCH_WATCH_CPUPROFILE it writes a
// CPU profile of its whole run there.
func TestHelperContainerWatcher(t *testing.T) {
	addr := os.Getenv(helperEnv)
	if addr == "" {
		return
	}
	if path := os.Getenv(profileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	w := containers.NewWatcher(containers.WatcherOptions{Endpoints: []containers.Endpoint{{Engine: containers.Docker, Address: addr}}})
	ctx, cancel := context.WithTimeout(context.Background(), helperWait)
	defer cancel()
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	sctx, scancel := context.WithTimeout(ctx, syncWait)
	defer scancel()
	if err := w.WaitSynced(sctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("watcher synced")
	requests := make(chan struct{})
	go func() {
		defer close(requests)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			requests <- struct{}{}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-requests:
			if !ok {
				return
			}
		}
		cpu := processCPU(t)
		snap := w.Snapshot()
		var starts, exits, restarts uint64
		for _, c := range snap.Counts {
			starts += c.Starts
			restarts += c.Restarts
			for _, n := range c.Exits {
				exits += n
			}
		}
		fmt.Printf("watcher sample %d %d %d %d %d\n", cpu.Nanoseconds(), starts, exits, restarts, len(snap.Containers))
	}
}

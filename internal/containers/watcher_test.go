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

package containers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// startWatcher runs a watcher of opts until the test ends and waits for
// its first sync.
func startWatcher(t *testing.T, opts WatcherOptions) *Watcher {
	t.Helper()
	opts.minBackoff = 10 * time.Millisecond
	w := NewWatcher(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return 10 s after its context ended")
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := w.WaitSynced(wctx); err != nil {
		t.Fatalf("%v; engines: %+v", err, w.Snapshot().Engines)
	}
	return w
}

// waitFor waits (10 s at most, woken by Changes) until cond holds of the
// snapshot.
func waitFor(t *testing.T, w *Watcher, what string, cond func(*Snapshot) bool) *Snapshot {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s := w.Snapshot()
		if cond(s) {
			return s
		}
		select {
		case <-w.Changes():
		case <-deadline:
			t.Fatalf("waiting for %s: last snapshot: engines %+v, containers %+v, counts %+v", what, s.Engines, s.Containers, s.Counts)
		}
	}
}

func names(s *Snapshot) string {
	var n []string
	for _, c := range s.Containers {
		n = append(n, c.Engine+"/"+c.Name+":"+c.State)
	}
	return strings.Join(n, " ")
}

func TestWatcherSyncsAndReinspectsOnEvents(t *testing.T) {
	f := newFakeEngine(t, false,
		fakeContainer{ID: "b1", Name: "web", State: "running", Health: "healthy"},
		fakeContainer{ID: "a1", Name: "db", State: "exited", ExitCode: 1})
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, f.addr}}})
	s := w.Snapshot()
	if got, want := names(s), "docker/db:exited docker/web:running"; got != want {
		t.Fatalf("after the first sync: %q, want %q", got, want)
	}
	if e := s.Engines[0]; !e.Present || e.Err != nil || e.APIVersion != "1.41" || e.Synced.IsZero() {
		t.Fatalf("engine after the first sync: %+v", e)
	}
	if c, _ := s.Find(Docker, "web"); c.Health.Status != HealthHealthy || len(c.Ports) != 1 || c.Ports[0].HostPort != 8080 {
		t.Fatalf("web after the first sync: %+v", c)
	}
	// Drain, then an event whose status is stale (podman 4.3.1 sends the
	// one before the check): the re-inspect's must win.
	select {
	case <-w.Changes():
	default:
	}
	f.set(fakeContainer{ID: "b1", Name: "web", State: "running", Health: "unhealthy"})
	f.event("health_status", "b1", map[string]string{"name": "web", "HealthStatus": "healthy"})
	select {
	case <-w.Changes():
	case <-time.After(10 * time.Second):
		t.Fatal("Changes did not fire within 10 s of an event")
	}
	s = waitFor(t, w, "web unhealthy", func(s *Snapshot) bool {
		c, _ := s.Find(Docker, "web")
		return c.Health.Status == HealthUnhealthy
	})
	if n := s.Counts[Key{Docker, "web"}]; n.Unhealthy != 1 {
		t.Fatalf("counts of web after one turn to unhealthy: %+v", n)
	}
}

func TestWatcherCountsDieOOMStartRestarts(t *testing.T) {
	f := newFakeEngine(t, false, fakeContainer{ID: "c1", Name: "crash", State: "running", RestartCount: 5})
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, f.addr}}})
	f.set(fakeContainer{ID: "c1", Name: "crash", State: "exited", ExitCode: 137, OOMKilled: true, RestartCount: 5})
	f.event("oom", "c1", map[string]string{"name": "crash"})
	f.event("die", "c1", map[string]string{"name": "crash", "exitCode": "137"})
	f.set(fakeContainer{ID: "c1", Name: "crash", State: "running", RestartCount: 7})
	f.event("start", "c1", map[string]string{"name": "crash"})
	f.event("die", "c1", map[string]string{"name": "crash", "exitCode": "3"})
	f.event("died", "c1", map[string]string{"name": "crash", "containerExitCode": "0"}) // podman's name
	want := Counts{Starts: 1, Restarts: 2, OOMKills: 1, Exits: [3]uint64{1, 1, 1}}
	waitFor(t, w, fmt.Sprintf("counts %+v", want), func(s *Snapshot) bool { return s.Counts[Key{Docker, "crash"}] == want })
}

func TestWatcherReconnectsAndResyncs(t *testing.T) {
	f := newFakeEngine(t, false,
		fakeContainer{ID: "a1", Name: "a", State: "running"},
		fakeContainer{ID: "b1", Name: "b", State: "running"})
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, f.addr}}})
	f.event("die", "b1", map[string]string{"name": "b", "exitCode": "0"})
	waitFor(t, w, "b's exit counted", func(s *Snapshot) bool { return s.Counts[Key{Docker, "b"}].Exits[ExitSuccess] == 1 })
	// b goes while the stream is down: only the resync can tell.
	f.delete("b1")
	f.send("")
	s := waitFor(t, w, "b dropped by the resync", func(s *Snapshot) bool { return names(s) == "docker/a:running" })
	for deadline := time.Now().Add(10 * time.Second); f.streamCount() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("event streams opened: %d, want 2", f.streamCount())
		}
	}
	if s.Counts[Key{Docker, "b"}].Exits[ExitSuccess] != 1 {
		t.Fatalf("b's counts were not kept after it was removed: %+v", s.Counts)
	}
	f.mu.Lock()
	sinces := f.sinces
	f.mu.Unlock()
	if len(sinces) != 2 || sinces[0] == "" || sinces[1] < sinces[0] {
		t.Fatalf("the streams' since: %q, want two, the second from the last event", sinces)
	}
	// A container recreated under b's name continues its counts.
	f.set(fakeContainer{ID: "b2", Name: "b", State: "exited"})
	f.event("die", "b2", map[string]string{"name": "b", "exitCode": "0"})
	waitFor(t, w, "recreated b's exits continued", func(s *Snapshot) bool { return s.Counts[Key{Docker, "b"}].Exits[ExitSuccess] == 2 })
	f.event("destroy", "b2", map[string]string{"name": "b"})
	waitFor(t, w, "b dropped on destroy", func(s *Snapshot) bool { return names(s) == "docker/a:running" })
}

func TestWatcherDropsPodmanBehindDockerSock(t *testing.T) {
	p := newFakeEngine(t, true, fakeContainer{ID: "p1", Name: "pweb", State: "running"})
	d := newFakeEngine(t, true, fakeContainer{ID: "p1", Name: "pweb", State: "running"})
	p.rootDir, d.rootDir = "/var/lib/containers/storage", "/var/lib/containers/storage"
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, d.addr}, {Podman, p.addr}}})
	s := waitFor(t, w, "the podman engine synced", func(s *Snapshot) bool { return !s.Engines[1].Synced.IsZero() })
	if got := names(s); got != "podman/pweb:running" {
		t.Fatalf("containers: %q, want podman's only", got)
	}
	if e := s.Engines[0]; e.Present || e.SameAs != Podman || e.Err != nil {
		t.Fatalf("the docker endpoint that is podman's: %+v", e)
	}
	if e, _ := s.EngineNamed(""); e.Name != Podman {
		t.Fatalf("the first present engine: %+v, want podman", e)
	}
}

func TestWatcherKeepsAnotherPodmanBehindDockerSock(t *testing.T) {
	// A rootless podman behind DOCKER_HOST is not the rootful one.
	p := newFakeEngine(t, true, fakeContainer{ID: "p1", Name: "pweb", State: "running"})
	d := newFakeEngine(t, true, fakeContainer{ID: "r1", Name: "rootless", State: "running"})
	p.rootDir, d.rootDir = "/var/lib/containers/storage", "/home/u/.local/share/containers/storage"
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, d.addr}, {Podman, p.addr}}})
	s := waitFor(t, w, "both synced", func(s *Snapshot) bool { return len(s.Containers) == 2 })
	if got := names(s); got != "docker/rootless:running podman/pweb:running" {
		t.Fatalf("containers: %q", got)
	}
}

func TestWatcherMaxContainers(t *testing.T) {
	f := newFakeEngine(t, false,
		fakeContainer{ID: "c1", Name: "c", State: "running"},
		fakeContainer{ID: "a1", Name: "a", State: "running"},
		fakeContainer{ID: "b1", Name: "b", State: "running"})
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, f.addr}}, MaxContainers: 2})
	s := w.Snapshot()
	if got := names(s); got != "docker/a:running docker/b:running" {
		t.Fatalf("containers kept: %q, want the first 2 by name", got)
	}
	if s.Engines[0].Dropped != 1 {
		t.Fatalf("dropped: %d, want 1", s.Engines[0].Dropped)
	}
	// An event of a container beyond the cap is not kept either.
	f.set(fakeContainer{ID: "d1", Name: "d", State: "running"})
	f.event("start", "d1", map[string]string{"name": "d"})
	f.event("start", "a1", map[string]string{"name": "a"})
	s = waitFor(t, w, "a's start", func(s *Snapshot) bool { return s.Counts[Key{Docker, "a"}].Starts == 1 })
	if got := names(s); got != "docker/a:running docker/b:running" {
		t.Fatalf("containers kept after d's start: %q", got)
	}
	if _, ok := s.Counts[Key{Docker, "d"}]; ok {
		t.Fatalf("d is beyond the cap but counted: %+v", s.Counts)
	}
}

func TestWatcherMissingSocket(t *testing.T) {
	f := newFakeEngine(t, false, fakeContainer{ID: "a1", Name: "a", State: "running"})
	missing := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, missing}, {Podman, f.addr}}})
	s := waitFor(t, w, "podman synced", func(s *Snapshot) bool { return !s.Engines[1].Synced.IsZero() })
	e := s.Engines[0]
	if e.Present || e.Err == nil || e.Err.Error() != "cannot read the Docker API at "+missing+": no such file" {
		t.Fatalf("a docker endpoint without its socket: %+v", e)
	}
	if got := names(s); got != "podman/a:running" {
		t.Fatalf("containers: %q", got)
	}
}

// deniedAddrEnv hands the child of TestPermissionDenied the socket it
// must be denied.
const deniedAddrEnv = "WARDEN_CONTAINERS_TEST_DENIED_ADDR"

// TestPermissionDenied dials a root:root 0660 socket as nobody: root runs
// this test binary again as uid 65534 (root is never denied a socket).
func TestPermissionDenied(t *testing.T) {
	if addr := os.Getenv(deniedAddrEnv); addr != "" {
		w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, addr}}})
		want := "cannot read the Docker API at " + addr + ": permission denied (it needs the docker group; see docs/containers.md#permissions)"
		if e := w.Snapshot().Engines[0]; !e.Present || e.Err == nil || e.Err.Error() != want {
			t.Fatalf("engine: %+v, want the error %q", e, want)
		}
		return
	}
	if os.Geteuid() != 0 {
		testenv.Skip(t, "running the test again as another user needs root")
	}
	f := newFakeEngine(t, false)
	path := strings.TrimPrefix(f.addr, "unix://")
	// go test's build directory is 0700: nobody runs a copy.
	bin := filepath.Join(t.TempDir(), "containers.test")
	self, err := os.ReadFile(os.Args[0])
	if err == nil {
		err = os.WriteFile(bin, self, 0o755)
	}
	if err != nil {
		t.Fatalf("copying the test binary: %v", err)
	}
	for _, dir := range []string{filepath.Dir(path), filepath.Dir(bin), filepath.Dir(filepath.Dir(path)), filepath.Dir(filepath.Dir(bin))} {
		if err := os.Chmod(dir, 0o755); err != nil { // only the socket denies
			t.Fatal(err)
		}
	}
	if err := os.Chmod(path, 0o660); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestPermissionDenied$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), deniedAddrEnv+"="+f.addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("the test as nobody: %v\n%s", err, out)
	}
}

func TestWatcherEngineAppears(t *testing.T) {
	f := newFakeEngine(t, false, fakeContainer{ID: "a1", Name: "a", State: "running"})
	path := strings.TrimPrefix(f.addr, "unix://")
	if err := os.Rename(path, path+".away"); err != nil {
		t.Fatal(err)
	}
	// The socket is looked for again at each Resync.
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, f.addr}}, Resync: 20 * time.Millisecond})
	if e := w.Snapshot().Engines[0]; e.Present || !Missing(e.Err) {
		t.Fatalf("engine without its socket: %+v", e)
	}
	if err := os.Rename(path+".away", path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, "the engine read once its socket is back", func(s *Snapshot) bool {
		return s.Engines[0].Present && s.Engines[0].Err == nil && names(s) == "docker/a:running"
	})
}

func TestWatcherCountsRestartsWhileEngineAway(t *testing.T) {
	f := newFakeEngine(t, false, fakeContainer{ID: "a1", Name: "a", State: "running", RestartCount: 1})
	path := strings.TrimPrefix(f.addr, "unix://")
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, f.addr}}, Resync: 20 * time.Millisecond})
	if err := os.Rename(path, path+".away"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, "the engine gone", func(s *Snapshot) bool { return !s.Engines[0].Present && len(s.Containers) == 0 })
	f.set(fakeContainer{ID: "a1", Name: "a", State: "running", RestartCount: 3})
	if err := os.Rename(path+".away", path); err != nil {
		t.Fatal(err)
	}
	// Two restarts since it was last seen, not three since it was made.
	waitFor(t, w, "2 restarts", func(s *Snapshot) bool {
		return names(s) == "docker/a:running" && s.Counts[Key{Docker, "a"}].Restarts == 2
	})
}

// Podman 4.3 on a systemd host runs the health checks from its own timer
// units and writes no health_status event for them: the watcher reads the
// health of its containers that have a check once per the check's
// interval, with no event.
func TestWatcherReadsPodmansHealthWithoutEvents(t *testing.T) {
	f := newFakeEngine(t, true, fakeContainer{ID: "c1", Name: "mongo", State: "running", Health: HealthStarting})
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Engine: Podman, Address: f.addr}}})
	f.set(fakeContainer{ID: "c1", Name: "mongo", State: "running", Health: HealthUnhealthy})
	s := waitFor(t, w, "mongo unhealthy, with no event", func(s *Snapshot) bool {
		c, ok := s.Find(Podman, "mongo")
		return ok && c.Health.Status == HealthUnhealthy
	})
	if n := s.Counts[Key{Podman, "mongo"}].Unhealthy; n != 1 {
		t.Errorf("turns to unhealthy counted: %d, want 1", n)
	}
}

// A restart's events change the cache at once, and its container is read
// again once after the burst, not once per event (an inspect per event was
// most of 1.5 ms of CPU per restart).
func TestWatcherAppliesEventsAndReadsOncePerBurst(t *testing.T) {
	f := newFakeEngine(t, false, fakeContainer{ID: "c1", Name: "crash", State: "running", RestartCount: 1})
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, f.addr}}})
	f.mu.Lock()
	before := f.inspects["c1"]
	f.mu.Unlock()
	f.set(fakeContainer{ID: "c1", Name: "crash", State: "running", RestartCount: 4})
	for range 3 {
		f.event("die", "c1", map[string]string{"name": "crash", "exitCode": "3"})
		f.event("start", "c1", map[string]string{"name": "crash"})
	}
	f.event("die", "c1", map[string]string{"name": "crash", "exitCode": "3"})
	// The last event's state is there before any read could be
	// (Restarting: its policy is always, as docker says until it restarts.)
	waitFor(t, w, "crash restarting after exit 3, 3 starts and 4 failures counted", func(s *Snapshot) bool {
		c, _ := s.Find(Docker, "crash")
		n := s.Counts[Key{Docker, "crash"}]
		return c.State == StateRestarting && c.ExitCode == 3 && n.Starts == 3 && n.Exits[ExitFailure] == 4
	})
	// Then the read after the burst: the restarts from its count.
	waitFor(t, w, "crash read again: running, 3 restarts counted", func(s *Snapshot) bool {
		c, _ := s.Find(Docker, "crash")
		return c.State == StateRunning && s.Counts[Key{Docker, "crash"}].Restarts == 3
	})
	f.mu.Lock()
	reads := f.inspects["c1"] - before
	f.mu.Unlock()
	// One, or two where a slow machine spread the burst past the settle
	// time (the second at inspectEvery); never one per event.
	if reads < 1 || reads > 2 {
		t.Errorf("%d inspects for a burst of 7 events, want 1 (2 on a slow machine)", reads)
	}
}

// docker stop of a container whose policy restarts it: its die says
// restarting, its stop that no restart follows.
func TestWatcherStopEndsARestartPolicy(t *testing.T) {
	f := newFakeEngine(t, false, fakeContainer{ID: "c1", Name: "web", State: "running"})
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, f.addr}}})
	// (The fake's inspect agrees at each step: a read between changes
	// nothing.)
	f.set(fakeContainer{ID: "c1", Name: "web", State: "restarting"})
	f.event("die", "c1", map[string]string{"name": "web", "exitCode": "0"})
	waitFor(t, w, "web restarting after its die (policy always)", func(s *Snapshot) bool {
		c, _ := s.Find(Docker, "web")
		return c.State == StateRestarting
	})
	f.set(fakeContainer{ID: "c1", Name: "web", State: "exited"})
	f.event("stop", "c1", map[string]string{"name": "web"})
	waitFor(t, w, "web exited after its stop", func(s *Snapshot) bool {
		c, _ := s.Find(Docker, "web")
		return c.State == StateExited
	})
}

// docker run: its create is read at once (a container the cache does not
// hold), and its start soon after, though two reads come within
// inspectEvery: the PID (the namespace read inside) and the health are
// the read's, not the create's.
func TestWatcherReadsACreatedContainerAgainAtItsStart(t *testing.T) {
	f := newFakeEngine(t, false)
	w := startWatcher(t, WatcherOptions{Endpoints: []Endpoint{{Docker, f.addr}}})
	f.set(fakeContainer{ID: "n1", Name: "new", State: "created"})
	f.event("create", "n1", map[string]string{"name": "new"})
	waitFor(t, w, "new created", func(s *Snapshot) bool {
		c, ok := s.Find(Docker, "new")
		return ok && c.State == StateCreated
	})
	f.set(fakeContainer{ID: "n1", Name: "new", State: "running", Health: HealthStarting})
	f.event("start", "n1", map[string]string{"name": "new"})
	waitFor(t, w, "new read after its start: its PID and health", func(s *Snapshot) bool {
		c, _ := s.Find(Docker, "new")
		return c.State == StateRunning && c.Pid == 42 && c.Health.Status == HealthStarting
	})
}

// docker rm -f of a running container: the read its die event queued is
// in flight while docker removes it ("removing") and sends its destroy. A
// read or a list answering after the destroy must not bring it back: it
// stayed in the cache, removing, until the next resync (5 minutes), and
// shadowed the container recreated under its name (the alert e2e's
// redeploy, under load: its check service_down "is removing" 45 s on).
func TestWatcherReadInFlightAcrossDestroyDoesNotResurrect(t *testing.T) {
	w := NewWatcher(WatcherOptions{Endpoints: []Endpoint{{Docker, "unix:///nonexistent.sock"}}})
	// IDs in this order: the stale one sorts first under their name.
	old := Container{Engine: Docker, ID: "a1", Name: "web", State: StateRunning}
	w.replace(0, []Container{old})
	removing := old
	removing.State = StateRemoving
	w.remove(0, old.ID) // its destroy event
	w.refresh(0, []read{{c: removing}})
	recreated := Container{Engine: Docker, ID: "b2", Name: "web", State: StateRunning}
	w.refresh(0, []read{{c: recreated}})
	check := func(after string) {
		t.Helper()
		s := w.Snapshot()
		if c, ok := s.Find(Docker, "web"); !ok || c.ID != recreated.ID || len(s.Containers) != 1 {
			t.Errorf("after %s: web is %+v (found %v) of %d containers, want the recreated one alone", after, c, ok, len(s.Containers))
		}
	}
	check("a read of the removed container answering after its destroy")
	w.replace(0, []Container{removing, recreated})
	check("a list taken before the destroy")
}

// A container OOM-killed right after its start: the read its start queued
// was taken while it ran and answered after its oom event. Applied, it
// undid the OOM kill, and the die that followed left "exited 137" without
// "OOM killed" (the alert e2e's page said so: the next read was 30 s away,
// two having been made within inspectEvery). A read older than one of its
// container's events is not applied, and the container is read again at
// once.
func TestWatcherReadOlderThanAnEventIsReadAgain(t *testing.T) {
	w := NewWatcher(WatcherOptions{Endpoints: []Endpoint{{Docker, "unix:///nonexistent.sock"}}})
	running := Container{Engine: Docker, ID: "c1", Name: "oom", State: StateRunning, Pid: 42}
	w.replace(0, []Container{running})
	taken := w.eventCount(0, running.ID) // the read starts
	w.onEvent(0, Event{Action: "oom", ID: running.ID, Name: running.Name})
	again := w.refresh(0, []read{{c: running, events: taken}})
	w.onEvent(0, Event{Action: "die", ID: running.ID, Name: running.Name, ExitCode: 137, HasExitCode: true})
	c, _ := w.Snapshot().Find(Docker, "oom")
	if c.State != StateExited || c.ExitCode != 137 || !c.OOMKilled {
		t.Errorf("after a read older than its events: %s, exit %d, OOM killed %v; want exited, 137, true", c.State, c.ExitCode, c.OOMKilled)
	}
	if !slices.Equal(again, []string{running.ID}) {
		t.Errorf("read again: %q, want [c1]", again)
	}
	// The read taken after them is applied.
	dead := c
	dead.Pid = 0
	if again := w.refresh(0, []read{{c: dead, events: w.eventCount(0, running.ID)}}); len(again) != 0 {
		t.Errorf("a read as new as its events read again: %q", again)
	}
}

// The engine's oom event is kept through a read that does not say it:
// docker's inspect took State.OOMKilled from the exit's report, which can
// miss an OOM kill its oom event gave (the alert e2e's page said "exited
// 137" without "OOM killed" once in CI). The next start clears it.
func TestWatcherKeepsTheOOMKillItsEventSaid(t *testing.T) {
	w := NewWatcher(WatcherOptions{Endpoints: []Endpoint{{Docker, "unix:///nonexistent.sock"}}})
	running := Container{Engine: Docker, ID: "c1", Name: "oom", State: StateRunning, Pid: 42}
	w.replace(0, []Container{running})
	w.onEvent(0, Event{Action: "oom", ID: running.ID, Name: running.Name})
	w.onEvent(0, Event{Action: "die", ID: running.ID, Name: running.Name, ExitCode: 137, HasExitCode: true})
	dead := Container{Engine: Docker, ID: "c1", Name: "oom", State: StateExited, ExitCode: 137}
	w.refresh(0, []read{{c: dead, events: w.eventCount(0, running.ID)}})
	if c, _ := w.Snapshot().Find(Docker, "oom"); !c.OOMKilled || c.ExitCode != 137 {
		t.Errorf("after a read that does not say it: exit %d, OOM killed %v; want 137, true (its event said so)", c.ExitCode, c.OOMKilled)
	}
	w.onEvent(0, Event{Action: "start", ID: running.ID, Name: running.Name})
	w.refresh(0, nil)
	if c, _ := w.Snapshot().Find(Docker, "oom"); c.OOMKilled {
		t.Error("started again: still OOM killed, want the new run's (false)")
	}
	// A read of a stopped container that was never OOM killed says so.
	w.onEvent(0, Event{Action: "die", ID: running.ID, Name: running.Name, ExitCode: 0, HasExitCode: true})
	w.refresh(0, []read{{c: Container{Engine: Docker, ID: "c1", Name: "oom", State: StateExited}, events: w.eventCount(0, running.ID)}})
	if c, _ := w.Snapshot().Find(Docker, "oom"); c.OOMKilled {
		t.Error("a clean stop after the restart: OOM killed, want false")
	}
}

// A crash loop of a container with a health check: docker marks it
// unhealthy as it dies (health_status event) and starting again at its
// start, with no event for that. The start left it unhealthy in the cache
// until its next read (up to 30 s in a crash loop): each run between
// crashes was judged probe_failed ("fails (exit 137)", the check the crash
// killed), and the alert e2e's crash-loop page said so.
func TestWatcherDockersStartResetsTheHealth(t *testing.T) {
	w := NewWatcher(WatcherOptions{Endpoints: []Endpoint{{Docker, "unix:///nonexistent.sock"}}})
	crash := Container{Engine: Docker, ID: "c1", Name: "crash", State: StateRunning, RestartPolicy: "always",
		Health: Health{Status: HealthHealthy, Interval: time.Second}}
	w.replace(0, []Container{crash})
	w.onEvent(0, Event{Action: "die", ID: crash.ID, Name: crash.Name, ExitCode: 3, HasExitCode: true})
	w.onEvent(0, Event{Action: "health_status", ID: crash.ID, Name: crash.Name, Health: HealthUnhealthy})
	w.onEvent(0, Event{Action: "start", ID: crash.ID, Name: crash.Name})
	w.refresh(0, nil) // the flush tick publishes it
	if c, _ := w.Snapshot().Find(Docker, "crash"); c.State != StateRunning || c.Health.Status != HealthStarting {
		t.Errorf("restarted: %s, health %s; want running, starting (as docker inspect says)", c.State, c.Health.Status)
	}
	// A container without a health check has none after its start.
	plain := Container{Engine: Docker, ID: "c2", Name: "plain", State: StateExited, Health: Health{Status: HealthNone}}
	w.replace(0, []Container{crash, plain})
	w.onEvent(0, Event{Action: "start", ID: plain.ID, Name: plain.Name})
	w.refresh(0, nil)
	if c, _ := w.Snapshot().Find(Docker, "plain"); c.Health.Status != HealthNone {
		t.Errorf("a container without a health check: health %q after its start, want none", c.Health.Status)
	}
}

// A pause and an unpause are what their events say, at once: left to the
// read after the burst, a container unpaused within that read's pace
// (the real dockerd of collector's TestContainersOnARealDocker, unpaused a
// second after its pause) stayed paused for 29 s.
func TestWatcherAppliesPauseAndUnpauseFromTheirEvents(t *testing.T) {
	w := NewWatcher(WatcherOptions{Endpoints: []Endpoint{{Docker, "unix:///nonexistent.sock"}}})
	running := Container{Engine: Docker, ID: "c1", Name: "web", State: StateRunning, Pid: 42}
	w.replace(0, []Container{running})
	for _, step := range []struct{ action, want string }{{"pause", StatePaused}, {"unpause", StateRunning}} {
		w.onEvent(0, Event{Action: step.action, ID: running.ID, Name: running.Name})
		w.refresh(0, nil)
		if c, _ := w.Snapshot().Find(Docker, "web"); c.State != step.want {
			t.Errorf("after its %s event: %s, want %s", step.action, c.State, step.want)
		}
	}
}

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
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// crashScript is a service that crashes a known number of times: each run
// waits for the go file, counts itself in the count file, and the first
// CRASHES runs kill themselves with SIGNAL after UP seconds; the later
// ones stay up. So the failures to count are the test's own premise, not
// how many fit in a window of time.
const crashScript = `#!/bin/sh
# crash COUNTFILE CRASHES UP SIGNAL GOFILE
while [ ! -e "$5" ]; do sleep 0.05; done
n=$(cat "$1" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$1"
if [ "$n" -gt "$2" ]; then exec sleep infinity; fi
sleep "$3"
kill -"$4" $$
`

// failureRig is one manager with an exporter's systemd source on each of
// its endpoints: its private socket (every signal) and the user bus (the
// signals matched), as on a host's system bus.
type failureRig struct {
	m       *systemdtest.Manager
	sources []failureSource
	dir     string
}

type failureSource struct {
	name string
	src  *systemd.Client
}

func newFailureRig(t *testing.T) *failureRig {
	t.Helper()
	m := systemdtest.Start(t)
	bus, err := systemd.ResolveEndpoint("user", m.BusAddress(), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	r := &failureRig{m: m, dir: filepath.Join(m.RuntimeDir, "crash")}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "crash.sh"), []byte(crashScript), 0o755); err != nil {
		t.Fatal(err)
	}
	r.sources = []failureSource{{"private socket", newTestSystemdSource(t, privateEndpoint(m))}, {"user bus", newTestSystemdSource(t, bus)}}
	return r
}

// connect scrapes through each source once: connected and synced, as an
// exporter that started before what the test does next.
func (r *failureRig) connect(t *testing.T, cfg *config.Config) {
	t.Helper()
	for _, s := range r.sources {
		if v := scrapeSource(t, s.src, cfg, 10*time.Second).success(t); v != 1 {
			t.Fatalf("%s: warden_collector_success{collector=systemd} = %v", s.name, v)
		}
	}
}

// crashArgs are the ExecStart= of a unit that crashes n times by sig,
// each run up for up seconds, once the go file exists.
func (r *failureRig) crashArgs(unit string, n int, up, sig string) []string {
	return []string{"/bin/sh", filepath.Join(r.dir, "crash.sh"), filepath.Join(r.dir, unit+".count"), strconv.Itoa(n), up, sig, filepath.Join(r.dir, unit+".go")}
}

// start lets unit's runs go on.
func (r *failureRig) start(t *testing.T, unit string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, unit+".go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runs is how many times unit's script ran.
func (r *failureRig) runs(unit string) int {
	b, _ := os.ReadFile(filepath.Join(r.dir, unit+".count"))
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// waitCrashed waits (bounded) until unit crashed n times and its last run
// is up: the premise, read from the script's count and systemd's own
// NRestarts (one restart per crash).
func (r *failureRig) waitCrashed(t *testing.T, unit string, n int) {
	t.Helper()
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for {
		runs, sub, restarts := r.runs(unit), r.m.Show(t, unit, "SubState"), r.m.Show(t, unit, "NRestarts")
		if runs == n+1 && sub == "running" && restarts == strconv.Itoa(n) {
			return
		}
		// Which premise is short, if it never holds: the runs counted by
		// the script, or what systemd says.
		last = fmt.Sprintf("runs %d (want %d), SubState %s (want running), NRestarts %s (want %d), ActiveState %s, Result %s",
			runs, n+1, sub, restarts, n, r.m.Show(t, unit, "ActiveState"), r.m.Show(t, unit, "Result"))
		if time.Now().After(deadline) {
			t.Fatalf("%s did not crash %d times and stay up within 60 s: %s\nmanager log (tail):\n%s", unit, n, last, tail(r.m.Log(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// failures returns unit's warden_unit_failures_total by result, through
// each source.
func (r *failureRig) failures(t *testing.T, cfg *config.Config, unit string) map[string]map[string]float64 {
	t.Helper()
	out := map[string]map[string]float64{}
	for _, s := range r.sources {
		out[s.name] = map[string]float64{}
		for _, m := range scrapeSource(t, s.src, cfg, 10*time.Second).series("warden_unit_failures_total", "unit="+unit) {
			out[s.name][m.labels["result"]] = m.metric.GetCounter().GetValue()
		}
	}
	return out
}

// wantFailures checks every source counted exactly want (results absent
// from want: 0).
func wantFailures(t *testing.T, got map[string]map[string]float64, want map[string]float64) {
	t.Helper()
	for source, byResult := range got {
		t.Run(source, func(t *testing.T) {
			for result, v := range byResult {
				if v != want[result] {
					t.Errorf("warden_unit_failures_total{result=%q} = %v, want %v (all: %v)", result, v, want[result], byResult)
				}
			}
			for result, v := range want {
				if _, ok := byResult[result]; !ok {
					t.Errorf("no warden_unit_failures_total{result=%q} series, want %v (all: %v)", result, v, byResult)
				}
			}
		})
	}
}

// Fast crash loops, ~200 ms a cycle (up 0.1 s, RestartSec=100ms): every
// crash is counted by its Result, for a transient unit started after the
// exporter (SIGKILL, SIGSEGV), a unit file loaded after it, and a
// transient unit started before it; and a unit that runs a full second
// before it crashes, as before. Through the private socket and the bus.
func TestUnitFailuresFastCrashLoops(t *testing.T) {
	const crashes = 5
	r := newFailureRig(t)
	restart := []string{"-p", "Restart=always", "-p", "RestartSec=100ms", "-p", "StartLimitIntervalSec=0", "-p", "LimitCORE=0"}
	// Started before the exporter, held at the go file until it watches.
	r.m.Run(t, "fc-before.service", append(restart, r.crashArgs("fc-before.service", crashes, "0.1", "KILL")...)...)
	units := []string{"fc-before.service", "fc-after-kill.service", "fc-after-segv.service", "fc-file.service", "fc-slow.service"}
	cfg := &config.Config{}
	for _, u := range units {
		cfg.Checks = append(cfg.Checks, config.Check{Name: strings.TrimSuffix(u, ".service"), Unit: u})
	}
	r.connect(t, cfg)

	r.start(t, "fc-before.service")
	for _, u := range []struct{ unit, sig string }{{"fc-after-kill.service", "KILL"}, {"fc-after-segv.service", "SEGV"}} {
		r.start(t, u.unit)
		r.m.Run(t, u.unit, append(restart, r.crashArgs(u.unit, crashes, "0.1", u.sig)...)...)
	}
	// A unit file written and loaded after the exporter started.
	q := func(args []string) string {
		for i, a := range args {
			args[i] = strconv.Quote(a)
		}
		return strings.Join(args, " ")
	}
	writeUnits(t, r.m, map[string]string{
		"fc-file.service": "[Unit]\nStartLimitIntervalSec=0\n[Service]\nRestart=always\nRestartSec=100ms\nExecStart=" + q(r.crashArgs("fc-file.service", crashes, "0.1", "KILL")) + "\n",
		"fc-slow.service": "[Unit]\nStartLimitIntervalSec=0\n[Service]\nRestart=always\nRestartSec=100ms\nExecStart=" + q(r.crashArgs("fc-slow.service", 2, "1", "KILL")) + "\n",
	})
	r.start(t, "fc-file.service")
	r.start(t, "fc-slow.service")
	r.m.Systemctl(t, "start", "fc-file.service", "fc-slow.service")

	for _, tc := range []struct {
		unit    string
		crashes int
		want    map[string]float64
	}{
		{"fc-before.service", crashes, map[string]float64{"signal": crashes}},
		{"fc-after-kill.service", crashes, map[string]float64{"signal": crashes}},
		// LimitCORE=0: a SIGSEGV without a core dump is Result signal.
		{"fc-after-segv.service", crashes, map[string]float64{"signal": crashes}},
		{"fc-file.service", crashes, map[string]float64{"signal": crashes}},
		{"fc-slow.service", 2, map[string]float64{"signal": 2}},
	} {
		t.Run(tc.unit, func(t *testing.T) {
			r.waitCrashed(t, tc.unit, tc.crashes)
			wantFailures(t, r.failures(t, cfg, tc.unit), tc.want)
		})
	}
}

// A start that fails, repeated by Restart=always until systemd gives up
// at the unit's start limit: redis refusing port 99999, as in issue 21
// (counted 1 of 6 then). Each failed start counts once, by exit-code; the
// refused restart (systemd 252 keeps Result=exit-code) counts nothing
// more, and the check's reason says systemd gave up, at the unit's own
// limit.
func TestUnitFailuresFailedStartsCountEach(t *testing.T) {
	redis := testenv.LookPath(t, "redis-server", "apt-get install redis-server")
	const burst = 4
	r := newFailureRig(t)
	cfg := &config.Config{Checks: []config.Check{{Name: "redis", Unit: "fs-redis.service"}}}
	r.connect(t, cfg)
	count := filepath.Join(r.dir, "fs-redis.count")
	r.m.Run(t, "fs-redis.service", "--no-block", "-p", "Type=notify", "-p", "Restart=always", "-p", "RestartSec=100ms",
		"-p", "StartLimitBurst="+strconv.Itoa(burst), "-p", "StartLimitIntervalSec=90s",
		// Each start counted in a file, then redis itself (exec: the main PID).
		"/bin/sh", "-c", `echo x >> "$$0"; exec "$$1" --port 99999 --supervised systemd`, count, redis)
	systemdtest.WaitFor(t, 60*time.Second, "systemd to give fs-redis up", func() bool {
		return r.m.Show(t, "fs-redis.service", "ActiveState") == "failed" && r.m.Show(t, "fs-redis.service", "NRestarts") == strconv.Itoa(burst)
	})
	b, _ := os.ReadFile(count)
	starts := strings.Count(string(b), "x")
	if starts != burst || r.m.Show(t, "fs-redis.service", "Result") != "exit-code" {
		t.Fatalf("premise: %d starts (want %d, the start limit), Result %s", starts, burst, r.m.Show(t, "fs-redis.service", "Result"))
	}
	wantFailures(t, r.failures(t, cfg, "fs-redis.service"), map[string]float64{"exit-code": burst})
	for _, s := range r.sources {
		t.Run("reason through the "+s.name, func(t *testing.T) {
			got := scrapeSource(t, s.src, cfg, 10*time.Second).series("warden_check_reason_info", "check=redis")
			want := "fs-redis.service is failed/failed (result exit-code), systemd gave up (start limit 4 in 1min 30s)"
			if len(got) != 1 || got[0].labels["reason"] != want {
				t.Errorf("warden_check_reason_info: %v, want reason %q", got, want)
			}
		})
	}
}

// The first failure is visible to increase(): a check's unit has its
// failure series at 0 before it ever fails, and the first failure moves
// one from 0 to 1.
func TestUnitFailuresFirstFailureIsAnIncrease(t *testing.T) {
	r := newFailureRig(t)
	cfg := &config.Config{Checks: []config.Check{{Name: "once", Unit: "ff-once.service"}}}
	r.m.Run(t, "ff-once.service", "sleep", "infinity")
	r.connect(t, cfg)
	wantFailures(t, r.failures(t, cfg, "ff-once.service"), zeroFailuresBut("", 0))

	r.m.Systemctl(t, "kill", "--signal=KILL", "ff-once.service")
	systemdtest.WaitFor(t, 20*time.Second, "ff-once to fail", func() bool { return r.m.Show(t, "ff-once.service", "ActiveState") == "failed" })
	wantFailures(t, r.failures(t, cfg, "ff-once.service"), zeroFailuresBut("signal", 1))
}

// A single failed start of a unit without Restart=, from a unit file, as
// issue 21 found (counted 0 then): nginx's (Type=forking, its ExecStart
// exits 1 before it forks, so the unit never was active) and an enabled
// broken.service (Type=simple, exit 1 at once, so it was active for an
// instant). Each is counted once, by exit-code, through both endpoints
// (0 on both before ca48c0c).
func TestUnitFailuresSingleFailedStartCountsOnce(t *testing.T) {
	r := newFailureRig(t)
	units := []string{"sf-nginx.service", "sf-broken.service"}
	cfg := &config.Config{}
	for _, u := range units {
		cfg.Checks = append(cfg.Checks, config.Check{Name: strings.TrimSuffix(u, ".service"), Unit: u})
	}
	r.connect(t, cfg)
	// Each start leaves a line in the unit's count file: one start, the
	// premise, is read from there and from systemd's NRestarts.
	exit1 := func(unit string) string {
		return `/bin/sh -c 'echo x >> "$$0"; exit 1' ` + filepath.Join(r.dir, unit+".count")
	}
	writeUnits(t, r.m, map[string]string{
		"sf-nginx.service":  "[Service]\nType=forking\nExecStart=" + exit1("sf-nginx.service") + "\n",
		"sf-broken.service": "[Service]\nType=simple\nExecStart=" + exit1("sf-broken.service") + "\n[Install]\nWantedBy=default.target\n",
	})
	r.m.Systemctl(t, "enable", "sf-broken.service")
	r.m.Systemctl(t, "start", "--no-block", "sf-nginx.service", "sf-broken.service")
	for _, u := range units {
		t.Run(u, func(t *testing.T) {
			systemdtest.WaitFor(t, 20*time.Second, u+" to fail", func() bool { return r.m.Show(t, u, "ActiveState") == "failed" })
			b, _ := os.ReadFile(filepath.Join(r.dir, u+".count"))
			if starts, result, restarts := strings.Count(string(b), "x"), r.m.Show(t, u, "Result"), r.m.Show(t, u, "NRestarts"); starts != 1 || result != "exit-code" || restarts != "0" {
				t.Fatalf("premise: %d starts (want 1), Result %s (want exit-code), NRestarts %s (want 0)", starts, result, restarts)
			}
			wantFailures(t, r.failures(t, cfg, u), zeroFailuresBut("exit-code", 1))
		})
	}
}

// A service that was up (active/running, its series seen at 0) and then
// exits 1: one failure, by exit-code, through both endpoints (before
// ca48c0c: 1 through the private socket, 0 through the bus).
func TestUnitFailuresRunningServiceExitingOneCountsOnce(t *testing.T) {
	r := newFailureRig(t)
	const unit = "rx-exit.service"
	cfg := &config.Config{Checks: []config.Check{{Name: "exit", Unit: unit}}}
	r.connect(t, cfg)
	gofile := filepath.Join(r.dir, unit+".go")
	r.m.Run(t, unit, "/bin/sh", "-c", `while [ ! -e "$0" ]; do sleep 0.05; done; exit 1`, gofile)
	if got := r.m.Show(t, unit, "SubState"); got != "running" {
		t.Fatalf("premise: %s is %s, want running", unit, got)
	}
	t.Run("running", func(t *testing.T) { wantFailures(t, r.failures(t, cfg, unit), zeroFailuresBut("", 0)) })

	r.start(t, unit)
	systemdtest.WaitFor(t, 20*time.Second, unit+" to fail", func() bool { return r.m.Show(t, unit, "ActiveState") == "failed" })
	if result := r.m.Show(t, unit, "Result"); result != "exit-code" {
		t.Fatalf("premise: Result %s, want exit-code", result)
	}
	t.Run("exited 1", func(t *testing.T) { wantFailures(t, r.failures(t, cfg, unit), zeroFailuresBut("exit-code", 1)) })
}

// zeroFailuresBut is every failure series at 0 but result's at n.
func zeroFailuresBut(result string, n float64) map[string]float64 {
	want := map[string]float64{}
	for _, r := range systemd.FailureResults {
		want[r] = 0
	}
	if result != "" {
		want[result] = n
	}
	return want
}

// A unit no check names has its failures counted from its signals as a
// check's unit has, but its series only while it is failed (docs/
// metrics.md): none while it runs, 9 once it exits 1 (exit-code at 1 at
// birth, so increase() misses that first failure), none again after
// reset-failed. Not a series per watched unit at 0: 9 series for each of
// a host's hundreds of units.
func TestUnitFailuresOutsideChecksOnlyWhileFailed(t *testing.T) {
	r := newFailureRig(t)
	const unit = "oc-exit.service"
	cfg := &config.Config{}
	r.connect(t, cfg)
	gofile := filepath.Join(r.dir, unit+".go")
	r.m.Run(t, unit, "/bin/sh", "-c", `while [ ! -e "$0" ]; do sleep 0.05; done; exit 1`, gofile)
	t.Run("running", func(t *testing.T) { wantNoFailureSeries(t, r.failures(t, cfg, unit)) })

	r.start(t, unit)
	systemdtest.WaitFor(t, 20*time.Second, unit+" to fail", func() bool { return r.m.Show(t, unit, "ActiveState") == "failed" })
	t.Run("failed", func(t *testing.T) { wantFailures(t, r.failures(t, cfg, unit), zeroFailuresBut("exit-code", 1)) })

	r.m.Systemctl(t, "reset-failed", unit)
	systemdtest.WaitFor(t, 20*time.Second, unit+" to leave failed", func() bool { return r.m.Show(t, unit, "ActiveState") != "failed" })
	t.Run("reset", func(t *testing.T) { wantNoFailureSeries(t, r.failures(t, cfg, unit)) })
}

// wantNoFailureSeries checks no source has a failure series of the unit.
func wantNoFailureSeries(t *testing.T, got map[string]map[string]float64) {
	t.Helper()
	for source, byResult := range got {
		if len(byResult) != 0 {
			t.Errorf("%s: warden_unit_failures_total %v, want no series", source, byResult)
		}
	}
}

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
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/containers"
	"github.com/warden-exporter/warden_exporter/internal/daemonconf"
	"github.com/warden-exporter/warden_exporter/internal/discovery"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/metrictest"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// The golden exposition: one fixed observation of a made-up host that
// gives every family the Exporter declares at least one series, served
// whole, compared with testdata/exposition.golden.prom. A change to any
// family's name, labels, help or values is then a reviewed diff of that
// file (node_exporter's collector/fixtures/e2e-output.txt is the model).
// The real layers have their own tests against the real systems; this one
// is about what the exporter says of what they read, so the layers are
// the scene fakes of discovery_exporter_test.go (sceneUnits, sceneListeners) over
// made-up units, listeners and probe results, and the owners are found
// in a made-up cgroup tree, through the exporter's public Options.
//
// Regenerate it with: go test ./collector -run Golden -update

var update = flag.Bool("update", false, "rewrite testdata/exposition.golden.prom from this run")

// goldenFile is the fixture. The root package's tests read it too: the
// binary serves these families with these descriptions
// (TestServedFamiliesMatchGolden), and docs/metrics.md documents them
// (TestDocsMetricsInStep).
const goldenFile = "testdata/exposition.golden.prom"

// goldenConfig has a check in each status, one that depends on another,
// a TLS probe and a failing one, and discovery on.
const goldenConfig = `
discovery:
  enabled: true
checks:
  - name: web
    unit: web.service
    ports: [{port: 8080}]
    probes:
      - {target: "127.0.0.1:8443", tls: true, timeout: 2s}
    depends_on: [db]
  - name: db
    unit: db.service
    ports: [{port: 5432, address: 127.0.0.1}]
  - name: worker
    unit: worker.service
  - name: cache
    unit: cache.service
    ports: [{port: 6379}]
  - name: api
    unit: api.service
    ports: [{port: 9000}]
  - name: mail
    probes:
      - target: "192.0.2.25:25"
        timeout: 3s
        query_response: [{expect: "^220"}]
  - name: box
    unit: box.service
    netns: unit
    ports: [{port: 8000}]
  - name: legacy
    unit: legacy.service
  - name: mongo
    container: mongo
`

// goldenHost is the host the layers read, and a cgroup v2 tree (under a
// made-up /proc's mountinfo) for the owners: the sockets' cgroup ids are
// the inodes of its directories, as sock_diag gives them.
type goldenHost struct {
	procRoot string
	etcRoot  string // a root holding memcached's /etc/memcached.conf
	units    *systemd.Snapshot
	ls       []listeners.Listener
	// containers: mongo, running, publishing 127.0.0.1:27017 (held by
	// docker.service's proxy), OOM killed once and restarted since.
	containers *containers.Snapshot
}

func newGoldenHost(t *testing.T) goldenHost {
	t.Helper()
	dir := t.TempDir()
	cgroup := filepath.Join(dir, "cgroup")
	procRoot := filepath.Join(dir, "proc")
	if err := os.MkdirAll(filepath.Join(procRoot, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	mountinfo := "35 24 0:30 / " + cgroup + " rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw\n"
	if err := os.WriteFile(filepath.Join(procRoot, "self/mountinfo"), []byte(mountinfo), 0o644); err != nil {
		t.Fatal(err)
	}
	cgroupID := func(path string) uint64 {
		full := filepath.Join(cgroup, path)
		if err := os.MkdirAll(full, 0o755); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(full)
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Ino
	}
	const enter = 1_700_000_000_000_000 // µs: 2023-11-14T22:13:20Z
	service := func(name, active, sub string, restarts uint32) systemd.Unit {
		return systemd.Unit{Name: name, LoadState: "loaded", ActiveState: active, SubState: sub, IsService: true,
			HasRestarts: true, NRestarts: restarts, Type: "simple", ControlGroup: "/system.slice/" + name,
			ActiveEnterTimestamp: enter, StateChanges: map[string]uint64{}, Failures: map[string]uint64{}}
	}
	web := service("web.service", "active", "running", 0)
	web.StateChanges = map[string]uint64{"activating": 1, "active": 1}
	db := service("db.service", "failed", "failed", 3)
	db.Result = "exit-code"
	db.StateChanges = map[string]uint64{"activating": 4, "active": 3, "deactivating": 3, "failed": 1}
	db.Failures = map[string]uint64{"exit-code": 4}
	worker := service("worker.service", "failed", "failed", 0)
	worker.Result, worker.Failures = "oom-kill", map[string]uint64{"oom-kill": 1}
	cache := service("cache.service", "active", "running", 1)
	api := service("api.service", "active", "running", 0)
	box := service("box.service", "active", "running", 0)
	box.MainPID = 4242
	sock := systemd.Unit{Name: "sock.socket", LoadState: "loaded", ActiveState: "active", SubState: "listening",
		ControlGroup: "/system.slice/sock.socket", Listen: []systemd.ListenSpec{{Type: "Stream", Address: "127.0.0.1:7000"}}}
	sockService := service("sock.service", "inactive", "dead", 0)
	sockService.TriggeredBy, sockService.ActiveEnterTimestamp = []string{"sock.socket"}, 0
	// A failed unit no check names, as compact keeps one.
	backup := service("backup.service", "failed", "failed", 0)
	backup.Result, backup.Failures = "timeout", map[string]uint64{"timeout": 1}
	// A daemon whose configuration the exporter reads (zero-config: a
	// check from its configuration alone).
	memcached := service("memcached.service", "active", "running", 0)
	// legacy.service is read by name, and systemd does not know it.
	legacy := systemd.Unit{Name: "legacy.service", LoadState: "not-found", ActiveState: "inactive", SubState: "dead"}

	named := []systemd.Unit{web, db, worker, cache, api, box, legacy}
	cached := []systemd.Unit{web, db, worker, cache, api, box, sock, sockService, backup, memcached}
	for _, u := range cached {
		cgroupID(u.ControlGroup) // the units' cgroups exist: a listener outside them is foreign
	}
	units := systemd.SnapshotOf(cached...).ReadByName(map[string]string{
		"web.service": "enabled", "db.service": "enabled", "worker.service": "enabled", "cache.service": "enabled",
		"api.service": "static", "box.service": "disabled",
	}, named...)

	held := func(l listeners.Listener, cgroupPath string, inode uint64) listeners.Listener {
		l.CgroupID, l.Inode = cgroupID(cgroupPath), inode
		return l
	}
	ls := []listeners.Listener{
		held(lst("tcp", "0.0.0.0", 8080, false), web.ControlGroup, 101),
		held(lst("tcp", "::", 8080, true), web.ControlGroup, 102),
		// Not api's: a process of uid 0 (named from /etc/passwd: root) in
		// a session's cgroup, no unit of the snapshot's.
		held(lst("tcp", "0.0.0.0", 9000, false), "/user.slice/user-1000.slice/session-4.scope", 103),
		held(lst("tcp", "127.0.0.1", 7000, false), sock.ControlGroup, 104),
		held(lst("udp", "127.0.0.53", 53, false), "/system.slice/systemd-resolved.service", 105),
		held(lst("tcp", "127.0.0.1", 11211, false), memcached.ControlGroup, 106),
	}
	etcRoot := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(etcRoot, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etcRoot, "etc/memcached.conf"), []byte("-m 64\n-p 11211\n-l 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ls = append(ls, held(lst("tcp", "127.0.0.1", 27017, false), "/system.slice/docker.service", 107))
	mongo := containers.Container{Engine: containers.Docker, ID: strings.Repeat("ab", 32), Name: "mongo", State: containers.StateRunning,
		RestartCount: 1, Health: containers.Health{Status: containers.HealthHealthy}, NetworkMode: "bridge",
		Ports: []containers.PortBinding{{Proto: "tcp", HostIP: "127.0.0.1", HostPort: 27017, ContainerPort: 27017}}}
	snap := &containers.Snapshot{Engines: []containers.Engine{{Name: containers.Docker, Address: "unix:///var/run/docker.sock", Present: true}},
		Containers: []containers.Container{mongo},
		Counts:     map[containers.Key]containers.Counts{{Engine: "docker", Name: "mongo"}: {Starts: 2, Restarts: 1, OOMKills: 1, Exits: [3]uint64{0, 0, 1}}}}
	return goldenHost{procRoot: procRoot, etcRoot: etcRoot, units: units, ls: ls, containers: snap}
}

// goldenProbes answers the fixture's probes: the TLS one succeeds with a
// certificate, the mail one times out waiting for its banner.
type goldenProbes struct{}

func (goldenProbes) Run(_ context.Context, jobs []probe.Job) []probe.Result {
	out := make([]probe.Result, len(jobs))
	for i, j := range jobs {
		r := probe.Result{Check: j.Check, Target: j.Probe.Target, Duration: 12500 * time.Microsecond, Connect: 250 * time.Microsecond}
		if j.Probe.TLS {
			r.Success, r.CertExpiry = true, time.Unix(1_800_000_000, 0) // 2027-01-15T08:00:00Z
		} else {
			r.Reason, r.Err = probe.Timeout, errors.New("read: i/o timeout")
			r.Failure = probe.Failure{Phase: probe.PhaseStep, Step: 1, Want: "^220"}
			r.Duration = 3 * time.Second
		}
		out[i] = r
	}
	return out
}

// goldenExposition runs the fixed observation through a real Exporter and
// returns /metrics as the server's encoder writes it (the text format),
// the values read from the clock made fixed (metrictest.NormaliseClock:
// the exporter has no clock to inject), and the names of every family the
// exporter declares: its descriptions and what it registers on the
// registerer.
func goldenExposition(t *testing.T) (exposition []byte, declared []string) {
	t.Helper()
	host := newGoldenHost(t)
	cfg, err := config.Parse([]byte(goldenConfig), "golden.yml")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	reg := prometheus.NewPedanticRegistry()
	daemons := daemonconf.NewReader()
	daemons.Root = host.etcRoot
	t.Cleanup(func() { daemons.Close() })
	e, err := New(Options{
		DaemonConfigs: daemons,
		Config:        func() *config.Config { return cfg },
		Systemd:       sceneUnits{host.units},
		UnitSeries:    UnitSeriesCompact,
		Listeners:     sceneListeners(host.ls),
		Probes:        goldenProbes{},
		Containers:    sceneContainers{host.containers},
		ProcRoot:      host.procRoot,
		Discovery: discovery.Options{
			StateFile:  filepath.Join(t.TempDir(), "learned.json"),
			MinAge:     time.Minute,
			Registerer: reg,
			Now:        func() time.Time { return time.Unix(1_750_000_000, 0) },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mfs, err := e.Gather(ctx)
	if err != nil {
		t.Fatal(err)
	}
	own, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	// The layers' durations are the fakes' (microseconds that vary).
	exposition = metrictest.Exposition(t, metrictest.NormaliseClock(append(mfs, own...), start, end, "warden_collector_duration_seconds"))

	for _, m := range e.descs.meta {
		declared = append(declared, m.name)
	}
	for _, mf := range own {
		declared = append(declared, mf.GetName())
	}
	return exposition, declared
}

func TestGoldenExposition(t *testing.T) {
	got, _ := goldenExposition(t)
	metrictest.CompareGolden(t, goldenFile, got, *update, "go test ./collector -run Golden -update", "")
}

// Every family the exporter declares has series in the fixture, so a new
// family cannot be added without its lines in the golden file.
func TestGoldenCoversEveryFamily(t *testing.T) {
	_, declared := goldenExposition(t)
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	inGolden := metrictest.FamilyNames(t, want)
	for _, name := range declared {
		if !slices.Contains(inGolden, name) {
			t.Errorf("%s is declared by the exporter but has no series in %s: give the fixture's host something it reports", name, goldenFile)
		}
	}
	for _, name := range inGolden {
		if !slices.Contains(declared, name) {
			t.Errorf("%s is in %s but the exporter declares no such family", name, goldenFile)
		}
	}
	if len(declared) < 30 {
		t.Errorf("only %d families declared: the descriptions were not all read", len(declared))
	}
}

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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/daemonconf"
	"github.com/warden-exporter/warden_exporter/internal/discovery"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// daemonScene is a host with memcached (Debian's /etc/memcached.conf in a
// fake root) and the exporter reading it; its units and listeners can be
// changed between evaluations.
type daemonScene struct {
	t     *testing.T
	root  string
	units []systemd.Unit
	ls    []listeners.Listener
	cfg   *config.Config
	e     *Exporter
	now   time.Time // the reader's clock: how long ago a unit applied its configuration
}

// sceneSource serves the scene's current units and listeners.
type sceneSource struct{ s *daemonScene }

func (src sceneSource) Snapshot(context.Context, []string) (*systemd.Snapshot, error) {
	return systemd.SnapshotOf(src.s.units...), nil
}

func (src sceneSource) Read(context.Context) (*listeners.Reading, error) {
	return &listeners.Reading{Listeners: src.s.ls, Backend: "procfs"}, nil
}

func (src sceneSource) InNetnsOf(context.Context, int) ([]listeners.Listener, uint64, error) {
	return nil, 0, os.ErrNotExist
}

// afterWrites is the time now, once the kernel's coarse clock, which
// stamps a file's ctime, has moved past the last write (a few ms): a start
// or reload then comes after the edit, on the one clock.
func afterWrites() time.Time {
	time.Sleep(20 * time.Millisecond)
	return time.Now()
}

func newDaemonScene(t *testing.T, cfg *config.Config, conf string) *daemonScene {
	s := &daemonScene{t: t, root: t.TempDir(), cfg: cfg}
	s.writeConf(conf, time.Now().Add(-time.Hour))
	started := afterWrites() // the configuration written before it is applied
	s.now = started
	s.units = []systemd.Unit{{Name: "memcached.service", LoadState: "loaded", ActiveState: "active", SubState: "running",
		IsService: true, MainPID: 77, ActiveEnterTimestamp: uint64(started.UnixMicro()), StateChangeTimestamp: uint64(started.UnixMicro())}}
	reader := daemonconf.NewReader()
	reader.Root = s.root
	reader.Now = func() time.Time { return s.now }
	t.Cleanup(func() { reader.Close() })
	e, err := New(Options{Config: func() *config.Config { return s.cfg }, ProcRoot: t.TempDir(),
		Systemd: sceneSource{s}, Listeners: sceneSource{s}, DaemonConfigs: reader,
		Discovery: discovery.Options{MinAge: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	s.e = e
	return s
}

func (s *daemonScene) writeConf(conf string, mtime time.Time) {
	s.t.Helper()
	p := filepath.Join(s.root, "etc/memcached.conf")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		s.t.Fatal(err)
	}
}

func (s *daemonScene) verdict(check string) verdict.Verdict {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := s.e.Evaluate(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, v := range ev.Verdicts {
		if v.Check == check {
			return v
		}
	}
	s.t.Fatalf("no verdict of %s", check)
	return verdict.Verdict{}
}

func portsSaid(v verdict.Verdict) string {
	var out []string
	for _, p := range v.Ports {
		out = append(out, p.String()+" <- "+p.Source)
	}
	return strings.Join(out, "; ")
}

const memcachedConf = "# Debian's, trimmed\n-m 64\n-p 11211\n-l 127.0.0.1\n"

func TestZeroConfigExpectsADaemonsConfiguredPorts(t *testing.T) {
	s := newDaemonScene(t, &config.Config{Discovery: config.Discovery{Enabled: true}}, memcachedConf)
	s.ls = []listeners.Listener{lst("tcp", "127.0.0.1", 11211, false)}

	// Judged from the first evaluation, from the configuration: nothing
	// learned yet (min-age is an hour).
	v := s.verdict("memcached.service")
	if v.Status != verdict.OK || !v.Implicit || portsSaid(v) != "tcp 127.0.0.1:11211 <- memcached: /etc/memcached.conf:3 (port), :4 (address)" {
		t.Fatalf("first evaluation: %s implicit=%v ports %q (%s)", v.Status, v.Implicit, portsSaid(v), v.Reason)
	}
	if dc := v.DaemonConfig; dc == nil || dc.Daemon != "memcached" || dc.File != "/etc/memcached.conf" || dc.Error != "" || dc.NotApplied {
		t.Fatalf("daemon_config %+v", v.DaemonConfig)
	}

	// A port moved and applied (the unit restarted after the edit): ok at
	// once — the new port not yet required while the daemon settles (it
	// binds after systemd says it is done), nor the old one — then
	// expecting the new one.
	s.writeConf(strings.Replace(memcachedConf, "-p 11211", "-p 11311", 1), time.Now())
	restart := afterWrites()
	s.now = restart
	s.units[0].ActiveEnterTimestamp, s.units[0].StateChangeTimestamp, s.units[0].MainPID = uint64(restart.UnixMicro()), uint64(restart.UnixMicro()), 78
	s.ls = nil
	if v := s.verdict("memcached.service"); v.Status != verdict.OK || portsSaid(v) != "" {
		t.Errorf("moved and applied, settling, nothing bound yet: %s %q (%s)", v.Status, portsSaid(v), v.Reason)
	}
	s.ls = []listeners.Listener{lst("tcp", "127.0.0.1", 11311, false)}
	s.now = restart.Add(daemonconf.SettleWindow)
	if v := s.verdict("memcached.service"); v.Status != verdict.OK || portsSaid(v) != "tcp 127.0.0.1:11311 <- memcached: /etc/memcached.conf:3 (port), :4 (address)" {
		t.Errorf("moved and applied: %s %q (%s)", v.Status, portsSaid(v), v.Reason)
	}

	// Edited and not applied: no page (what it read is expected), the
	// signal, both sides shown.
	afterWrites()
	s.writeConf(strings.Replace(memcachedConf, "-p 11211", "-p 11411", 1), time.Now())
	v = s.verdict("memcached.service")
	if v.Status != verdict.OK || portsSaid(v) != "tcp 127.0.0.1:11311 <- memcached: /etc/memcached.conf:3 (port), :4 (address)" {
		t.Errorf("edited, not applied: %s %q (%s)", v.Status, portsSaid(v), v.Reason)
	}
	// (Where it listens now, beside, needs the listeners' owners: the
	// scene has none; internal/verdict's tests and the booted host's show it.)
	if dc := v.DaemonConfig; dc == nil || !dc.NotApplied || strings.Join(dc.Configured, ",") != "tcp 127.0.0.1:11411 (memcached: /etc/memcached.conf:3 (port), :4 (address))" {
		t.Errorf("edited, not applied: daemon_config %+v", v.DaemonConfig)
	}
	if !strings.Contains(v.Reason, "configuration changed after memcached.service last (re)started or reloaded") {
		t.Errorf("edited, not applied: reason %q", v.Reason)
	}

	// Applied by a restart that cannot bind the new port: port_down naming
	// the line, once it had its time to bind it.
	restart = afterWrites()
	s.units[0].ActiveEnterTimestamp, s.units[0].StateChangeTimestamp, s.units[0].MainPID = uint64(restart.UnixMicro()), uint64(restart.UnixMicro()), 79
	s.now = restart.Add(time.Second)
	if v := s.verdict("memcached.service"); v.Status != verdict.OK {
		t.Errorf("applied, settling: %s %q", v.Status, v.Diagnosis)
	}
	s.now = restart.Add(daemonconf.SettleWindow)
	v = s.verdict("memcached.service")
	if v.Status != verdict.PortDown || !strings.Contains(v.Diagnosis, "nothing listens on tcp 127.0.0.1:11411 (memcached: /etc/memcached.conf:3 (port), :4 (address))") {
		t.Errorf("applied, not bound: %s %q", v.Status, v.Diagnosis)
	}

	// Edited again and reloaded behind systemd's back (kill -HUP: no state
	// change): it listens where the new configuration says, so it applied
	// it.
	afterWrites()
	s.writeConf(strings.Replace(memcachedConf, "-p 11211", "-p 11511", 1), time.Now())
	s.ls = []listeners.Listener{lst("tcp", "127.0.0.1", 11511, false)}
	v = s.verdict("memcached.service")
	if v.Status != verdict.OK || v.DaemonConfig == nil || v.DaemonConfig.NotApplied || !strings.HasPrefix(portsSaid(v), "tcp 127.0.0.1:11511 <- ") {
		t.Errorf("reloaded by a signal: %s, daemon_config %+v, ports %q", v.Status, v.DaemonConfig, portsSaid(v))
	}
	// Edited once more, not applied: it holds what the signal applied
	// (11511), not what the last restart read (11411).
	afterWrites()
	s.writeConf(strings.Replace(memcachedConf, "-p 11211", "-p 11611", 1), time.Now())
	v = s.verdict("memcached.service")
	if v.Status != verdict.OK || v.DaemonConfig == nil || !v.DaemonConfig.NotApplied || !strings.HasPrefix(portsSaid(v), "tcp 127.0.0.1:11511 <- ") {
		t.Errorf("edited after a signal's reload: %s (%s), daemon_config %+v, ports %q", v.Status, v.Reason, v.DaemonConfig, portsSaid(v))
	}
}

// A configuration that cannot be parsed says so, and the check falls back
// to what discovery learned.
func TestADaemonConfigThatCannotBeReadFallsBackToLearning(t *testing.T) {
	s := newDaemonScene(t, &config.Config{Discovery: config.Discovery{Enabled: true}}, "-p eleven\n")
	s.ls = []listeners.Listener{lst("tcp", "127.0.0.1", 11211, false)}
	v := s.verdict("memcached.service")
	if v.DaemonConfig == nil || !strings.Contains(v.DaemonConfig.Error, "/etc/memcached.conf:1") {
		t.Fatalf("a bad port: daemon_config %+v, want an error naming the line", v.DaemonConfig)
	}
	if len(v.Ports) != 0 || v.Status != verdict.OK {
		t.Errorf("nothing learned yet: %s, ports %q", v.Status, portsSaid(v))
	}
	mfs, err := s.e.Gather(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "warden_daemon_config_success" {
			for _, m := range mf.GetMetric() {
				found = m.GetGauge().GetValue() == 0
			}
		}
	}
	if !found {
		t.Error("warden_daemon_config_success is not 0 for a configuration that cannot be parsed")
	}
}

// A configured check names its ports: they win. One without ports of a
// known daemon's unit gets the configuration's; discovery off, a daemon no
// check names is no check.
func TestConfiguredChecksAndDaemonConfigs(t *testing.T) {
	cfg := &config.Config{Checks: []config.Check{
		{Name: "mc", Unit: "memcached.service"},
		{Name: "mc-explicit", Unit: "memcached.service", Ports: []config.Port{{Proto: "tcp", Port: 11211}}},
	}}
	s := newDaemonScene(t, cfg, memcachedConf)
	s.ls = []listeners.Listener{lst("tcp", "127.0.0.1", 11211, false)}
	if v := s.verdict("mc"); portsSaid(v) != "tcp 127.0.0.1:11211 <- memcached: /etc/memcached.conf:3 (port), :4 (address)" || v.DaemonConfig == nil {
		t.Errorf("a configured check without ports: %q", portsSaid(v))
	}
	if v := s.verdict("mc-explicit"); portsSaid(v) != "tcp *:11211 <- configured" || v.DaemonConfig != nil {
		t.Errorf("a configured check with ports: %q, daemon_config %+v", portsSaid(v), v.DaemonConfig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := s.e.Evaluate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Verdicts) != 2 {
		t.Errorf("discovery off: %d verdicts, want the 2 configured", len(ev.Verdicts))
	}
}

// A daemon zero-config made a check of stays one when it stops (it is
// down, not gone), until its unit is no longer loaded.
func TestAStoppedDaemonIsServiceDownNotGone(t *testing.T) {
	s := newDaemonScene(t, &config.Config{Discovery: config.Discovery{Enabled: true}}, memcachedConf)
	s.ls = []listeners.Listener{lst("tcp", "127.0.0.1", 11211, false)}
	if v := s.verdict("memcached.service"); v.Status != verdict.OK {
		t.Fatalf("up: %s", v.Status)
	}
	s.units[0].ActiveState, s.units[0].SubState, s.units[0].MainPID = "inactive", "dead", 0
	s.ls = nil
	if v := s.verdict("memcached.service"); v.Status != verdict.ServiceAndPortDown {
		t.Errorf("stopped: %s (%s), want service_and_port_down", v.Status, v.Reason)
	}
	s.units = nil // its package removed
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := s.e.Evaluate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ev.Verdicts {
		if v.Check == "memcached.service" {
			t.Errorf("unloaded: still a check (%s)", v.Status)
		}
	}
	// Never up since it was loaded: a daemon installed and stopped is no
	// check.
	s.units = []systemd.Unit{{Name: "memcached.service", LoadState: "loaded", ActiveState: "inactive", SubState: "dead", IsService: true}}
	if ev, err = s.e.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, v := range ev.Verdicts {
		if v.Check == "memcached.service" {
			t.Errorf("installed, never started: a check (%s)", v.Status)
		}
	}
}

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
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/daemonconf"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// benchDaemons is the figure: 20 daemons' configurations.
const benchDaemons = 20

// daemonBench is an exporter with 20 configured checks of memcached
// instances (memcached@N.service, /etc/memcached_N.conf in a fake root)
// and the observation its daemon step runs on.
func daemonBench(b *testing.B) (*Exporter, *observation, []string, string) {
	root := b.TempDir()
	cfg := &config.Config{}
	var units []systemd.Unit
	var names []string
	for i := range benchDaemons {
		name := fmt.Sprintf("memcached@%d.service", i)
		conf := filepath.Join(root, fmt.Sprintf("etc/memcached_%d.conf", i))
		os.MkdirAll(filepath.Dir(conf), 0o755)
		// Debian's memcached.conf is 1.6 KiB of comments around 4 options.
		if err := os.WriteFile(conf, fmt.Appendf(nil, "# Debian's comments...\n-m 64\n-p %d\n-u memcache\n-l 127.0.0.1\n-P /var/run/memcached/memcached.pid\n", 11211+i), 0o644); err != nil {
			b.Fatal(err)
		}
		cfg.Checks = append(cfg.Checks, config.Check{Name: name, Unit: name})
		names = append(names, name)
	}
	// Started after their configurations were written (memcached binds at
	// start only: a start before them would leave them not applied, their
	// ports unknown).
	started := uint64(afterWrites().UnixMicro())
	for i, name := range names {
		units = append(units, systemd.Unit{Name: name, LoadState: "loaded", ActiveState: "active", SubState: "running", IsService: true,
			MainPID: uint32(100 + i), ActiveEnterTimestamp: started, StateChangeTimestamp: started})
	}
	reader := daemonconf.NewReader()
	reader.Root = root
	b.Cleanup(func() { reader.Close() })
	e, err := New(Options{Config: func() *config.Config { return cfg }, ProcRoot: b.TempDir(), DaemonConfigs: reader})
	if err != nil {
		b.Fatal(err)
	}
	o := &observation{cfg: cfg, checks: cfg.Checks, implicit: map[string]bool{}, units: systemd.SnapshotOf(units...)}
	return e, o, names, root
}

// BenchmarkDaemonConfigs is this layer's cost per evaluation at 20
// daemons, as a scrape pays it: nothing changed, so the configurations are
// not read again (one inotify drain, a lookup per check). The floor beside
// it, BenchmarkDaemonConfigsParsedEachScrape, reads and parses the 20
// files every time, as a reader without the watch would.
func BenchmarkDaemonConfigs(b *testing.B) {
	e, o, names, _ := daemonBench(b)
	ctx := context.Background()
	e.expectFromConfig(ctx, o, names) // the first read, and the watches
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		o.checks, o.daemonConfigs = o.cfg.Checks, nil
		e.expectFromConfig(ctx, o, names)
	}
	if len(o.daemonConfigs) != benchDaemons || len(o.checks[0].Ports) != 1 {
		b.Fatalf("%d daemon configurations, %v", len(o.daemonConfigs), o.checks[0].Ports)
	}
}

func BenchmarkDaemonConfigsParsedEachScrape(b *testing.B) {
	_, _, names, root := daemonBench(b)
	d := daemonconf.ByUnit(names[0], nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, name := range names {
			f := &daemonconf.Files{Root: root}
			if _, err := d.Parse(f, daemonconf.Spec{Unit: name, Config: d.Config(name, nil)}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

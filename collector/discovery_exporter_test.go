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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/discovery"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// Discovery as the Exporter drives it, against units and listeners served
// by the Exporter's seams; discovery's own tests are in internal/discovery.

// sceneUnits and sceneListeners are the exporter's seams serving a scene.
type sceneUnits struct{ snap *systemd.Snapshot }

func (s sceneUnits) Snapshot(context.Context, []string) (*systemd.Snapshot, error) {
	return s.snap, nil
}

type sceneListeners []listeners.Listener

func (s sceneListeners) Read(context.Context) (*listeners.Reading, error) {
	return &listeners.Reading{Listeners: s, Backend: "procfs"}, nil
}

func (sceneListeners) InNetnsOf(context.Context, int) ([]listeners.Listener, uint64, error) {
	return nil, 0, errors.New("a scene has no other network namespace")
}

// sceneExporter is an Exporter whose systemd and listener sources read
// units and ls.
func sceneExporter(t *testing.T, cfg *config.Config, units []systemd.Unit, ls []listeners.Listener, disc discovery.Options) *Exporter {
	t.Helper()
	e, err := New(Options{Config: func() *config.Config { return cfg }, ProcRoot: t.TempDir(), Discovery: disc,
		Systemd: sceneUnits{systemd.SnapshotOf(units...)}, Listeners: sceneListeners(ls)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A null port in the state file once panicked every scrape, and with it
// went every warden_check_* series, the configured checks' too.
func TestDiscoveryHostileStateFileKeepsTheConfiguredChecks(t *testing.T) {
	state := filepath.Join(t.TempDir(), "learned.json")
	seen := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	good := `{"proto":"tcp","address":"127.0.0.1","port":5432,"first_seen":"` + seen + `","last_seen":"` + seen + `","learned":true}`
	os.WriteFile(state, []byte(`{"version":1,"units":{
		"c.service":{"last_loaded":"`+seen+`","ports":{"x":null}},
		"db.service":{"last_loaded":"`+seen+`","ports":{"tcp 127.0.0.1 5432":`+good+`}}}}`), 0o600)
	loaded := func(name string) systemd.Unit {
		return systemd.Unit{Name: name, LoadState: "loaded", ActiveState: "active"}
	}
	units := []systemd.Unit{loaded("web.service"), loaded("db.service"), loaded("c.service")}
	cfg := &config.Config{Discovery: config.Discovery{Enabled: true},
		Checks: []config.Check{{Name: "web", Unit: "web.service", Ports: []config.Port{{Proto: "tcp", Port: 80}}}}}
	e := sceneExporter(t, cfg, units, []listeners.Listener{lst("tcp", "0.0.0.0", 80, false)}, discovery.Options{StateFile: state})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for scrape := range 2 {
		mfs, err := e.Gather(ctx)
		if err != nil {
			t.Fatalf("scrape %d: %v", scrape, err)
		}
		checks := map[string]bool{}
		for _, mf := range mfs {
			if mf.GetName() != "warden_check_up" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "check" {
						checks[l.GetValue()] = true
					}
				}
			}
		}
		if !checks["web"] || !checks["db.service"] || len(checks) != 2 {
			t.Fatalf("scrape %d: warden_check_up for %v, want the configured web and the learned db.service", scrape, checks)
		}
	}
}

// Forget drops one learned check, in memory and in the state file.
func TestDiscoveryForget(t *testing.T) {
	state := filepath.Join(t.TempDir(), "learned.json")
	seen := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	unit := func(port int) string {
		p := `{"proto":"tcp","address":"127.0.0.1","port":` + strconv.Itoa(port) + `,"first_seen":"` + seen + `","last_seen":"` + seen + `","learned":true}`
		return `{"last_loaded":"` + seen + `","ports":{"tcp 127.0.0.1 ` + strconv.Itoa(port) + `":` + p + `}}`
	}
	os.WriteFile(state, []byte(`{"version":1,"units":{"db.service":`+unit(5432)+`,"retired.service":`+unit(5433)+`}}`), 0o600)
	units := []systemd.Unit{{Name: "db.service", LoadState: "loaded", ActiveState: "active"}, {Name: "retired.service", LoadState: "not-found", ActiveState: "inactive"}}
	e := sceneExporter(t, config.Default(), units, nil, discovery.Options{StateFile: state})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if v, _ := e.Verdicts(ctx); len(v) != 2 {
		t.Fatalf("before: %+v", v)
	}
	// Its unit file is gone: no force needed.
	if err := e.Forget(ctx, "retired.service", false); err != nil {
		t.Fatalf("forgetting a not-found unit: %v", err)
	}
	if err := e.Forget(ctx, "nope.service", true); !errors.Is(err, discovery.ErrNotLearned) {
		t.Errorf("forgetting what was never learned: %v", err)
	}
	// systemd still has it loaded: only with force.
	if err := e.Forget(ctx, "db.service", false); !errors.Is(err, ErrStillLoaded) {
		t.Fatalf("forgetting a loaded unit without force: %v, want ErrStillLoaded", err)
	}
	if v, _ := e.Verdicts(ctx); len(v) != 1 {
		t.Fatalf("refused, yet forgotten: %+v", v)
	}
	if err := e.Forget(ctx, "db.service", true); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.Verdicts(ctx); len(v) != 0 {
		t.Errorf("after forget: %+v", v)
	}
	e.Close() // the state is written off the request's path
	if data, _ := os.ReadFile(state); strings.Contains(string(data), "db.service") {
		t.Errorf("the state file still has it: %s", data)
	}
}

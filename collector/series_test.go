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
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// capturedUnits and capturedListeners serve a captured reading as it is,
// past the readers' cleaning.
type capturedUnits struct{ snap *systemd.Snapshot }

func (c capturedUnits) Snapshot(context.Context, []string) (*systemd.Snapshot, error) {
	return c.snap, nil
}

type capturedListeners struct{ reading listeners.Reading }

func (c capturedListeners) Read(context.Context) (*listeners.Reading, error) {
	r := c.reading
	return &r, nil
}

func (capturedListeners) InNetnsOf(context.Context, int) ([]listeners.Listener, uint64, error) {
	return nil, 0, nil
}

// A series that cannot be built is left out alone: the rest of the scrape
// is served, the series is counted in warden_series_errors_total, and the
// log says so once, not every scrape.
func TestASeriesThatCannotBeBuiltIsLeftOutAlone(t *testing.T) {
	// A fallback reason that is not UTF-8, injected past the listener
	// reader's cleaning: warden_listeners_source_info, one series, comes
	// before the probes', the checks' and the inventory's.
	units := systemd.SnapshotOf(systemd.Unit{Name: "web.service", LoadState: "loaded", ActiveState: "active", SubState: "running"})
	reading := listeners.Reading{Backend: "procfs", Fallback: "netlink \xff\xfe refused",
		Listeners: []listeners.Listener{{Proto: "tcp", Addr: netip.MustParseAddr("127.0.0.1"), Port: 8080}}}
	cfg := &config.Config{Checks: []config.Check{
		{Name: "a-web", Unit: "web.service", Ports: []config.Port{{Port: 8080, Proto: "tcp"}}},
		{Name: "z-later", Unit: "web.service"},
	}}
	var logs bytes.Buffer
	e, err := New(Options{Logger: log.NewLogfmtLogger(log.NewSyncWriter(&logs)), Config: func() *config.Config { return cfg },
		Systemd: capturedUnits{units}, Listeners: capturedListeners{reading}})
	if err != nil {
		t.Fatal(err)
	}
	for scrape := 1; scrape <= 3; scrape++ {
		t.Run("scrape "+strconv.Itoa(scrape), func(t *testing.T) {
			s := indexFamilies(gatherScrape(t, e, context.Background()))
			for _, want := range []struct {
				family string
				labels []string
			}{
				{"warden_collector_success", []string{"collector=systemd"}},
				{"warden_collector_success", []string{"collector=listeners"}},
				{"warden_check_up", []string{"check=a-web"}},
				{"warden_port_listening", []string{"check=a-web"}},
				{"warden_check_up", []string{"check=z-later"}},
				{"warden_service_up", []string{"check=z-later"}},
				{"warden_listener_info", []string{"port=8080"}},
				{"warden_listener_series_dropped_total", nil},
			} {
				if _, ok := s.value(want.family, want.labels...); !ok {
					t.Errorf("%s%v is missing", want.family, want.labels)
				}
			}
			if _, ok := s.value("warden_listeners_source_info"); ok {
				t.Error("the series that cannot be built is served")
			}
			if v, ok := s.value("warden_series_errors_total"); !ok || v != float64(scrape) {
				t.Errorf("warden_series_errors_total %v (present %v), want %d", v, ok, scrape)
			}
		})
	}
	if n := strings.Count(logs.String(), "could not be built"); n != 1 {
		t.Errorf("%d log lines in 3 scrapes, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "warden_listeners_source_info") {
		t.Errorf("the log does not name the series:\n%s", logs.String())
	}
}

// A panic while building one thing's series (a bug) loses that thing's
// series from there on, nothing else; the log line comes again only after
// seriesErrorLogInterval.
func TestSeriesSinkKeepsAPanicLocal(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var logs bytes.Buffer
	errs := &seriesErrors{logger: log.NewLogfmtLogger(&logs), now: func() time.Time { return now }}
	var got int
	r := &descRecorder{}
	desc := r.NewDesc("x", "x", []string{"check"}, nil)
	emitTwo := func() {
		families := newFamilyBuilder(r.meta)
		sink := seriesSink{families: families, errors: errs}
		defer func() {
			for _, f := range families.gathered() {
				got += len(f.Metric)
			}
		}()
		sink.guard("check", "a", func() {
			sink.gauge(desc, 1, "a")
			var v map[string]int
			v["boom"]++ // a bug
			sink.gauge(desc, 2, "a")
		})
		sink.guard("check", "b", func() { sink.gauge(desc, 1, "b") })
		sink.gauge(desc, 1) // a label missing
	}
	for _, tc := range []struct {
		name      string
		after     time.Duration
		series    int
		total     uint64
		logLines  int
		notLogged string
	}{
		{"first", 0, 2, 2, 1, "not_logged=0"},
		{"within the interval: counted, not logged", time.Minute, 4, 4, 1, ""},
		{"past the interval: logged again", seriesErrorLogInterval, 6, 6, 2, "not_logged=3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = now.Add(tc.after)
			emitTwo()
			if got != tc.series || errs.total.Load() != tc.total {
				t.Errorf("%d series, %d errors; want %d, %d", got, errs.total.Load(), tc.series, tc.total)
			}
			if n := strings.Count(logs.String(), "\n"); n != tc.logLines {
				t.Errorf("%d log lines, want %d:\n%s", n, tc.logLines, logs.String())
			}
			if !strings.Contains(logs.String(), tc.notLogged) {
				t.Errorf("the log lacks %q:\n%s", tc.notLogged, logs.String())
			}
		})
	}
	if !strings.Contains(logs.String(), `check \"a\"`) || !strings.Contains(logs.String(), "assignment to entry in nil map") {
		t.Errorf("the log names neither the thing nor the panic:\n%s", logs.String())
	}
}

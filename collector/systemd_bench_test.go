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
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/go-kit/log"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/metrictest"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
)

// BenchmarkSystemdScrape measures one scrape of the systemd source against a
// real manager with WARDEN_BENCH_UNITS units (default 1000): reading,
// collecting and encoding as text. "from-memory" encodes the same series
// from a registry of plain gauges: the floor the source is measured against.
func BenchmarkSystemdScrape(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("WARDEN_BENCH_UNITS")); err == nil && v > 0 {
		n = v
	}
	m := systemdtest.Start(b)
	m.StartOneshots(b, "bench", n)
	src := systemd.New(systemd.Options{Endpoint: privateEndpoint(m), Include: defaultInclude, Logger: log.NewNopLogger()})
	b.Cleanup(src.Close)
	cfg := &config.Config{Checks: []config.Check{{Name: "bench", Unit: "bench-0.service"}}}
	exp, err := New(Options{Config: func() *config.Config { return cfg }, Systemd: src})
	if err != nil {
		b.Fatal(err)
	}
	scrape := func() []*dto.MetricFamily {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		mfs, err := exp.Gather(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return mfs
	}
	encode := func(mfs []*dto.MetricFamily) {
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
	warm := scrape() // connects and fills the cache
	series := 0
	for _, mf := range warm {
		series += len(mf.GetMetric())
	}

	b.Run("warden", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			encode(scrape())
		}
		b.ReportMetric(float64(series), "series")
	})
	b.Run("from-memory", func(b *testing.B) {
		reg := metrictest.RegistryOf(b, warm)
		b.ReportAllocs()
		for b.Loop() {
			mfs, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			encode(mfs)
		}
		b.ReportMetric(float64(series), "series")
	})
}

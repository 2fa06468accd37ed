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
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/metrictest"
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
	src := NewSystemdSource(SystemdOptions{Endpoint: privateEndpoint(m), Include: defaultInclude, Logger: log.NewNopLogger()})
	b.Cleanup(src.Close)
	cfg := &config.Config{Checks: []config.Check{{Name: "bench", Unit: "bench-0.service"}}}
	exp, err := New(Options{Config: func() *config.Config { return cfg }}, src)
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

// BenchmarkFetchUnitShapes compares reading every loaded service's
// properties by pipelined Gets and by GetAll per interface, each with as
// many units in flight as the call budget allows for its shape. It runs on
// the bus at WARDEN_BENCH_BUS (e.g. unix:path=/run/dbus/system_bus_socket on
// a booted host) or, without it, on a test user manager's bus with
// WARDEN_BENCH_UNITS oneshots (default 300).
func BenchmarkFetchUnitShapes(b *testing.B) {
	address := os.Getenv("WARDEN_BENCH_BUS")
	if address == "" {
		n := 300
		if v, err := strconv.Atoi(os.Getenv("WARDEN_BENCH_UNITS")); err == nil && v > 0 {
			n = v
		}
		m := systemdtest.Start(b)
		m.StartOneshots(b, "shape", n)
		address = m.BusAddress()
	}
	ep, err := ResolveSystemdEndpoint("system", address, os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	src := NewSystemdSource(SystemdOptions{Endpoint: ep, Include: defaultInclude, Logger: log.NewNopLogger()})
	b.Cleanup(src.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := src.Update(ctx, &config.Config{}); err != nil {
		b.Fatal(err) // connects and fills the cache
	}
	cache, err := src.connected(ctx)
	if err != nil {
		b.Fatal(err)
	}
	listed, err := cache.sd.ListUnitsContext(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for _, u := range listed {
		if strings.HasSuffix(u.Name, ".service") && u.LoadState == "loaded" {
			names = append(names, u.Name)
		}
	}
	for _, shape := range []struct {
		name  string
		shape fetchShape
	}{{"Get", fetchByGet}, {"GetAll", fetchByGetAll}} {
		b.Run(shape.name, func(b *testing.B) {
			inFlight := (callBudget - reservedCalls) / callsPerFetch(shape.shape)
			for b.Loop() {
				budget := newBusBudget(callBudget)
				sem := make(chan struct{}, inFlight)
				errs := make(chan error, len(names))
				for _, name := range names {
					sem <- struct{}{}
					go func() {
						defer func() { <-sem }()
						_, _, err := fetchUnit(ctx, cache.conn, budget, shape.shape, name)
						errs <- err
					}()
				}
				for range names {
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(names)), "µs/unit")
			b.ReportMetric(float64(len(names)), "units")
		})
	}
}

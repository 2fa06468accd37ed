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

package systemd

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
)

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
	ep, err := ResolveEndpoint("system", address, os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	src := New(Options{Endpoint: ep, Include: defaultInclude, Logger: log.NewNopLogger()})
	b.Cleanup(src.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := src.Snapshot(ctx, nil); err != nil {
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

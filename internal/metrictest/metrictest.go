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

// Package metrictest holds helpers for tests and benchmarks that compare
// metric output.
package metrictest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// RegistryOf returns a registry of plain gauge and counter vectors holding
// the series of mfs: the same output, served from memory. Benchmarks use it
// as the floor a collector's cost is measured against.
func RegistryOf(tb testing.TB, mfs []*dto.MetricFamily) *prometheus.Registry {
	tb.Helper()
	reg := prometheus.NewRegistry()
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		var names []string
		for _, l := range mf.GetMetric()[0].GetLabel() {
			names = append(names, l.GetName())
		}
		values := func(m *dto.Metric) []string {
			vs := make([]string, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				vs = append(vs, l.GetValue())
			}
			return vs
		}
		if mf.GetType() == dto.MetricType_COUNTER {
			vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: mf.GetName(), Help: mf.GetHelp()}, names)
			for _, m := range mf.GetMetric() {
				vec.WithLabelValues(values(m)...).Add(m.GetCounter().GetValue())
			}
			reg.MustRegister(vec)
			continue
		}
		vec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: mf.GetName(), Help: mf.GetHelp()}, names)
		for _, m := range mf.GetMetric() {
			vec.WithLabelValues(values(m)...).Set(m.GetGauge().GetValue())
		}
		reg.MustRegister(vec)
	}
	return reg
}

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
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

type seriesCall struct {
	desc   *prometheus.Desc
	vt     prometheus.ValueType
	v      float64
	labels []string
}

// The families built straight from series are the ones client_golang's
// pedantic registry gathered from the same series, to the byte: families
// by name, series by label values, labels by name (a description's labels
// out of name order, const labels among them), counters and gauges.
func TestFamiliesAreTheRegistrysGathering(t *testing.T) {
	r := &descRecorder{}
	zeta := r.NewDesc("zeta_total", "z help", []string{"unit", "check", "a"}, prometheus.Labels{"b": "const"})
	alpha := r.NewDesc("alpha", "a help", []string{"check"}, nil)
	bare := r.NewDesc("bare", "no labels", nil, nil)
	var calls []seriesCall
	for i := range 30 {
		calls = append(calls, seriesCall{zeta, prometheus.CounterValue, float64(i), []string{fmt.Sprint("u", (i*7)%30), fmt.Sprint("c", i%4), ""}})
		calls = append(calls, seriesCall{alpha, prometheus.GaugeValue, float64(-i), []string{fmt.Sprint("check-", 29-i)}})
	}
	calls = append(calls, seriesCall{bare, prometheus.GaugeValue, 1.5, nil})

	b := newFamilyBuilder(r.meta)
	var metrics []prometheus.Metric
	for _, c := range calls {
		if err := b.add(c.desc, c.vt, c.v, c.labels); err != nil {
			t.Fatal(err)
		}
		metrics = append(metrics, prometheus.MustNewConstMetric(c.desc, c.vt, c.v, c.labels...))
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(listedMetrics{descs: []*prometheus.Desc{zeta, alpha, bare}, metrics: metrics})
	want, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := b.gathered()
	if len(got) != len(want) {
		t.Fatalf("%d families, the registry %d", len(got), len(want))
	}
	for i := range want {
		if got[i].String() != want[i].String() {
			t.Errorf("family %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
}

// What the registry refused is refused series by series, and the rest
// are built.
func TestFamiliesRefuseWhatTheRegistryRefused(t *testing.T) {
	r := &descRecorder{}
	d := r.NewDesc("x", "x", []string{"check"}, nil)
	stranger := prometheus.NewDesc("y", "y", nil, nil)
	b := newFamilyBuilder(r.meta)
	if err := b.add(d, prometheus.GaugeValue, 1, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call seriesCall
		want string
	}{
		{"a label missing", seriesCall{d, prometheus.GaugeValue, 1, nil}, "cardinality"},
		{"not UTF-8", seriesCall{d, prometheus.GaugeValue, 1, []string{"\xff\xfe"}}, "UTF-8"},
		{"the same series twice", seriesCall{d, prometheus.GaugeValue, 2, []string{"a"}}, "twice"},
		{"another type", seriesCall{d, prometheus.CounterValue, 1, []string{"b"}}, "family is GAUGE"},
		{"a description made elsewhere", seriesCall{stranger, prometheus.GaugeValue, 1, nil}, "recorder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.add(tc.call.desc, tc.call.vt, tc.call.v, tc.call.labels)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
	if err := b.add(d, prometheus.GaugeValue, 3, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	got := b.gathered()
	if len(got) != 1 || len(got[0].Metric) != 2 || got[0].Metric[1].GetGauge().GetValue() != 3 {
		t.Errorf("families %v, want x{check=a} 1 and x{check=b} 3", got)
	}
}

// Every description the exporter emits with (each *prometheus.Desc field
// of descs) has its family's metadata, and no two share a name (a family
// is built per description).
func TestEveryDescriptionIsRecorded(t *testing.T) {
	d := newDescs()
	v := reflect.ValueOf(d).Elem()
	descType := reflect.TypeFor[*prometheus.Desc]()
	names := map[string]bool{}
	fields := 0
	for i := range v.NumField() {
		if v.Field(i).Type() != descType {
			continue
		}
		// The fields are unexported: read as a pointer, not Interface.
		desc := (*prometheus.Desc)(v.Field(i).UnsafePointer())
		fields++
		m := d.meta[desc]
		if m == nil {
			t.Errorf("descs.%s has no metadata", v.Type().Field(i).Name)
			continue
		}
		if names[m.name] {
			t.Errorf("two descriptions named %s", m.name)
		}
		names[m.name] = true
	}
	if fields < 30 || fields != len(d.meta) {
		t.Errorf("%d description fields, %d recorded", fields, len(d.meta))
	}
}

// listedMetrics hands fixed metrics to a registry.
type listedMetrics struct {
	descs   []*prometheus.Desc
	metrics []prometheus.Metric
}

func (c listedMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c listedMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.metrics {
		ch <- m
	}
}

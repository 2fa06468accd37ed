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

package selfmetrics

import (
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

func clientGolangsGoFamilies(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// series are a family's series' values by their text-format names: a
// summary's quantiles, sum and count apart.
func series(mf *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
		switch {
		case m.GetSummary() != nil:
			for _, q := range m.GetSummary().GetQuantile() {
				out[key+" q"+strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)] = q.GetValue()
			}
			out[key+" sum"] = m.GetSummary().GetSampleSum()
			out[key+" count"] = float64(m.GetSummary().GetSampleCount())
		case m.GetCounter() != nil:
			out[key] = m.GetCounter().GetValue()
		default:
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

// Runtime serves client_golang's default Go collector: the same 29
// families (names, help, types, units, labels) in name order, and the same
// values, read between two of client_golang's reads with the collector off
// (so no collection moves the pause history between them).
func TestRuntimeIsClientGolangsGoCollector(t *testing.T) {
	r := NewRuntime()
	if r.Fallback() {
		t.Fatal("Runtime fell back to client_golang's collector: this client_golang has a family it does not know how to read")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	before := clientGolangsGoFamilies(t)
	got, err := r.Families()
	if err != nil {
		t.Fatal(err)
	}
	after := clientGolangsGoFamilies(t)

	if len(got) != len(before) || len(before) != 29 {
		t.Fatalf("%d families, client_golang's collector %d (29 when this was written)", len(got), len(before))
	}
	for i, mf := range got {
		want := before[i]
		if mf.GetName() != want.GetName() || mf.GetHelp() != want.GetHelp() || mf.GetType() != want.GetType() || mf.GetUnit() != want.GetUnit() {
			t.Errorf("family %d: %s %q %v %q, client_golang's %s %q %v %q", i, mf.GetName(), mf.GetHelp(), mf.GetType(), mf.GetUnit(),
				want.GetName(), want.GetHelp(), want.GetType(), want.GetUnit())
			continue
		}
		ours, lo, hi := series(mf), series(want), series(after[i])
		if !slices.Equal(slices.Sorted(mapKeys(ours)), slices.Sorted(mapKeys(lo))) {
			t.Errorf("%s: series %v, client_golang's %v", mf.GetName(), slices.Sorted(mapKeys(ours)), slices.Sorted(mapKeys(lo)))
			continue
		}
		for key, v := range ours {
			a, b := min(lo[key], hi[key]), max(lo[key], hi[key])
			// What the runtime moves between the reads: its memory
			// classes by spans and stacks, goroutines and threads by the
			// registries' own.
			slack := 0.0
			switch {
			case strings.HasSuffix(key, "_bytes{}") || strings.HasSuffix(key, "_bytes_total{}"):
				slack = 4 << 20
			case strings.Contains(key, "objects") || strings.Contains(key, "mallocs") || strings.Contains(key, "frees"):
				slack = 1e5
			case strings.HasPrefix(key, "go_goroutines") || strings.HasPrefix(key, "go_threads"):
				slack = 8
			}
			if v < a-slack || v > b+slack || math.IsNaN(v) {
				t.Errorf("%s = %v, client_golang's %v .. %v", key, v, lo[key], hi[key])
			}
		}
	}
	// Label pairs, help and names are shared; series are new each call.
	again, _ := r.Families()
	// After a collection the pause summary is read again, not reused.
	count := func(mfs []*dto.MetricFamily) uint64 {
		for _, mf := range mfs {
			if mf.GetName() == "go_gc_duration_seconds" {
				return mf.GetMetric()[0].GetSummary().GetSampleCount()
			}
		}
		t.Fatal("no go_gc_duration_seconds")
		return 0
	}
	runtime.GC()
	afterGC, _ := r.Families()
	if count(afterGC) <= count(got) || count(afterGC) > count(clientGolangsGoFamilies(t)) {
		t.Errorf("after a collection go_gc_duration_seconds_count = %d, was %d; client_golang's after it %d", count(afterGC), count(got), count(clientGolangsGoFamilies(t)))
	}
	if again[0] == got[0] || again[0].GetMetric()[0] == got[0].GetMetric()[0] {
		t.Error("a second call returned the first call's family or series")
	}
}

func mapKeys(m map[string]float64) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Without a reading for one of client_golang's families, Runtime serves
// that collector as it is: not a family less.
func TestRuntimeFallsBackOnAFamilyItCannotRead(t *testing.T) {
	r := &Runtime{index: map[string]int{}, summary: -1}
	skeleton := clientGolangsGoFamilies(t)
	name := "go_a_family_of_a_later_client_golang"
	help, typ := "?", dto.MetricType_GAUGE
	one := 1.0
	skeleton = append(skeleton, &dto.MetricFamily{Name: &name, Help: &help, Type: &typ, Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &one}}}})
	if err := r.learn(skeleton); err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("learn = %v, want an error naming %s", err, name)
	}
}

// The registry gathers its collectors and the producers' families in one
// name order; a family made twice is left out, with an error.
func TestRegistryMergesProducersInNameOrder(t *testing.T) {
	family := func(name string, v float64) *dto.MetricFamily {
		help, typ := "h", dto.MetricType_GAUGE
		return &dto.MetricFamily{Name: &name, Help: &help, Type: &typ, Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}
	}
	reg := NewRegistry(
		ProducerFunc(func() ([]*dto.MetricFamily, error) {
			return []*dto.MetricFamily{family("a_first", 1), family("m_middle", 2)}, nil
		}),
		ProducerFunc(func() ([]*dto.MetricFamily, error) {
			return []*dto.MetricFamily{family("b_second", 3), family("z_last", 4)}, nil
		}),
	)
	for _, name := range []string{"c_registered", "y_registered"} {
		reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "h"}))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if want := []string{"a_first", "b_second", "c_registered", "m_middle", "y_registered", "z_last"}; !slices.Equal(names, want) {
		t.Errorf("gathered %v, want %v", names, want)
	}

	dup := NewRegistry(ProducerFunc(func() ([]*dto.MetricFamily, error) { return []*dto.MetricFamily{family("c_registered", 1)}, nil }))
	dup.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "c_registered", Help: "h"}))
	mfs, err = dup.Gather()
	if err == nil || !strings.Contains(err.Error(), "c_registered") || len(mfs) != 1 {
		t.Errorf("a family made twice: %d families, %v; want the registry's one and an error naming it", len(mfs), err)
	}
}

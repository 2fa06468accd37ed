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
	"fmt"
	"maps"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// Runtime serves the go_* families of client_golang's default Go collector
// (collectors.NewGoCollector()): its 29 families, their names, help, types
// and labels taken from that collector itself, gathered once when Runtime
// is made, and their values read as it reads them. Gathered through a
// registry, that collector was 68 µs and 361 allocations a scrape on the
// 2-core VM (a ConstMetric and its protobuf copy per series, a goroutine
// and two channels of 16 KB per gathering) where this is ~10 µs and a
// handful; a compact scrape asked every ~3 ms spent 0.24 ms more with it
// (bench/scrape.sh's setup, medians of 200).
//
// Should a client_golang release add a family this does not know how to
// read, Runtime serves that collector's gathering as it is, unchanged
// (Fallback reports it, and a test fails on it).
type Runtime struct {
	skeleton []*dto.MetricFamily // client_golang's, in name order; never modified
	values   []func(*runtimeReading) float64
	summary  int // the index of go_gc_duration_seconds in skeleton

	fallback *prometheus.Registry

	mu      sync.Mutex
	samples []metrics.Sample
	index   map[string]int // runtime/metrics name → samples index
	gc      debug.GCStats  // Pause kept from one read to the next
	// gcCycles are the collections gc was read after: the pause history
	// (and so the summary) changes only with a collection, and reading it
	// again sorts its 256 pauses, a fifth of these families' cost.
	gcCycles uint64
	gcRead   bool
}

// runtimeReading is one read of what the families are made of.
type runtimeReading struct {
	r          *Runtime
	goroutines int
	threads    int
	gc         *debug.GCStats
	// asked, when not nil, records the runtime/metrics names the values
	// ask for (each read as 0): what NewRuntime reads at each scrape.
	asked map[string]bool
}

func (rr *runtimeReading) rm(name string) float64 {
	if rr.asked != nil {
		rr.asked[name] = true
		return 0
	}
	i, ok := rr.r.index[name]
	if !ok {
		return 0
	}
	switch v := rr.r.samples[i].Value; v.Kind() {
	case metrics.KindUint64:
		return float64(v.Uint64())
	case metrics.KindFloat64:
		return v.Float64()
	}
	return 0
}

func (rr *runtimeReading) rmUint(name string) uint64 {
	if rr.asked != nil {
		rr.asked[name] = true
		return 0
	}
	i, ok := rr.r.index[name]
	if !ok || rr.r.samples[i].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return rr.r.samples[i].Value.Uint64()
}

// memStatsValues are client_golang's go_memstats_* values, derived from
// runtime/metrics as its memStatsFromRM derives them (go_collector_latest.go).
var memStatsValues = map[string]func(rr *runtimeReading) float64{
	"go_memstats_alloc_bytes":       func(rr *runtimeReading) float64 { return rr.rm("/memory/classes/heap/objects:bytes") },
	"go_memstats_alloc_bytes_total": func(rr *runtimeReading) float64 { return rr.rm("/gc/heap/allocs:bytes") },
	"go_memstats_sys_bytes":         func(rr *runtimeReading) float64 { return rr.rm("/memory/classes/total:bytes") },
	"go_memstats_mallocs_total": func(rr *runtimeReading) float64 {
		return float64(rr.rmUint("/gc/heap/allocs:objects") + rr.rmUint("/gc/heap/tiny/allocs:objects"))
	},
	"go_memstats_frees_total": func(rr *runtimeReading) float64 {
		return float64(rr.rmUint("/gc/heap/frees:objects") + rr.rmUint("/gc/heap/tiny/allocs:objects"))
	},
	"go_memstats_heap_alloc_bytes": func(rr *runtimeReading) float64 { return rr.rm("/memory/classes/heap/objects:bytes") },
	"go_memstats_heap_sys_bytes": func(rr *runtimeReading) float64 {
		return float64(rr.heapInuse() + rr.heapIdle())
	},
	"go_memstats_heap_idle_bytes":     func(rr *runtimeReading) float64 { return float64(rr.heapIdle()) },
	"go_memstats_heap_inuse_bytes":    func(rr *runtimeReading) float64 { return float64(rr.heapInuse()) },
	"go_memstats_heap_released_bytes": func(rr *runtimeReading) float64 { return rr.rm("/memory/classes/heap/released:bytes") },
	"go_memstats_heap_objects":        func(rr *runtimeReading) float64 { return rr.rm("/gc/heap/objects:objects") },
	"go_memstats_stack_inuse_bytes":   func(rr *runtimeReading) float64 { return rr.rm("/memory/classes/heap/stacks:bytes") },
	"go_memstats_stack_sys_bytes": func(rr *runtimeReading) float64 {
		return float64(rr.rmUint("/memory/classes/heap/stacks:bytes") + rr.rmUint("/memory/classes/os-stacks:bytes"))
	},
	"go_memstats_mspan_inuse_bytes": func(rr *runtimeReading) float64 { return rr.rm("/memory/classes/metadata/mspan/inuse:bytes") },
	"go_memstats_mspan_sys_bytes": func(rr *runtimeReading) float64 {
		return float64(rr.rmUint("/memory/classes/metadata/mspan/inuse:bytes") + rr.rmUint("/memory/classes/metadata/mspan/free:bytes"))
	},
	"go_memstats_mcache_inuse_bytes": func(rr *runtimeReading) float64 { return rr.rm("/memory/classes/metadata/mcache/inuse:bytes") },
	"go_memstats_mcache_sys_bytes": func(rr *runtimeReading) float64 {
		return float64(rr.rmUint("/memory/classes/metadata/mcache/inuse:bytes") + rr.rmUint("/memory/classes/metadata/mcache/free:bytes"))
	},
	"go_memstats_buck_hash_sys_bytes": func(rr *runtimeReading) float64 { return rr.rm("/memory/classes/profiling/buckets:bytes") },
	"go_memstats_gc_sys_bytes":        func(rr *runtimeReading) float64 { return rr.rm("/memory/classes/metadata/other:bytes") },
	"go_memstats_other_sys_bytes":     func(rr *runtimeReading) float64 { return rr.rm("/memory/classes/other:bytes") },
	"go_memstats_next_gc_bytes":       func(rr *runtimeReading) float64 { return rr.rm("/gc/heap/goal:bytes") },
}

func (rr *runtimeReading) heapInuse() uint64 {
	return rr.rmUint("/memory/classes/heap/objects:bytes") + rr.rmUint("/memory/classes/heap/unused:bytes")
}

func (rr *runtimeReading) heapIdle() uint64 {
	return rr.rmUint("/memory/classes/heap/released:bytes") + rr.rmUint("/memory/classes/heap/free:bytes")
}

// baseValues are the families of client_golang's baseGoCollector and the
// runtime/metrics it exposes by default (GoCollectorDefaultRuntimeMetrics).
var baseValues = map[string]func(rr *runtimeReading) float64{
	"go_goroutines":                    func(rr *runtimeReading) float64 { return float64(rr.goroutines) },
	"go_threads":                       func(rr *runtimeReading) float64 { return float64(rr.threads) },
	"go_info":                          func(*runtimeReading) float64 { return 1 },
	"go_memstats_last_gc_time_seconds": func(rr *runtimeReading) float64 { return float64(rr.gc.LastGC.UnixNano()) / 1e9 },
	"go_gc_gogc_percent":               func(rr *runtimeReading) float64 { return rr.rm("/gc/gogc:percent") },
	"go_gc_gomemlimit_bytes":           func(rr *runtimeReading) float64 { return rr.rm("/gc/gomemlimit:bytes") },
	"go_sched_gomaxprocs_threads":      func(rr *runtimeReading) float64 { return rr.rm("/sched/gomaxprocs:threads") },
}

// gcCyclesMetric counts the collections that ended, as GCStats.NumGC.
const gcCyclesMetric = "/gc/cycles/total:gc-cycles"

// gcDurationFamily is the one summary: go_gc_duration_seconds.
const gcDurationFamily = "go_gc_duration_seconds"

// NewRuntime makes the go_* families' reader.
func NewRuntime() *Runtime {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	r := &Runtime{index: map[string]int{}, summary: -1}
	r.gc.PauseQuantiles = make([]time.Duration, 5)
	skeleton, err := reg.Gather()
	if err == nil {
		err = r.learn(skeleton)
	}
	if err != nil {
		// Not a family less: client_golang's collector, as it is.
		r.fallback = reg
		return r
	}
	// The runtime/metrics to read are those the families' values ask for:
	// each asked once, here.
	dry := &runtimeReading{r: r, gc: &r.gc, asked: map[string]bool{gcCyclesMetric: true}}
	for i, read := range r.values {
		if i != r.summary {
			read(dry)
		}
	}
	known := map[string]bool{}
	for _, d := range metrics.All() {
		known[d.Name] = true
	}
	for _, n := range slices.Sorted(maps.Keys(dry.asked)) {
		// A name this Go does not have reads 0, as client_golang's
		// lookupOrZero does.
		if known[n] {
			r.index[n] = len(r.samples)
			r.samples = append(r.samples, metrics.Sample{Name: n})
		}
	}
	return r
}

// learn takes client_golang's families as the skeleton, and finds how to
// read each.
func (r *Runtime) learn(skeleton []*dto.MetricFamily) error {
	for i, mf := range skeleton {
		name := mf.GetName()
		if name == gcDurationFamily {
			if mf.GetType() != dto.MetricType_SUMMARY || len(mf.Metric) != 1 || len(mf.Metric[0].GetSummary().GetQuantile()) != 5 {
				return fmt.Errorf("%s is not the summary of 5 quantiles it was", name)
			}
			r.summary = i
			r.values = append(r.values, nil)
			continue
		}
		read := memStatsValues[name]
		if read == nil {
			read = baseValues[name]
		}
		if read == nil {
			return fmt.Errorf("family %s: no reading for it", name)
		}
		if len(mf.Metric) != 1 || (mf.GetType() != dto.MetricType_GAUGE && mf.GetType() != dto.MetricType_COUNTER) ||
			mf.Metric[0].GetCounter().GetCreatedTimestamp() != nil {
			return fmt.Errorf("family %s is not the single gauge or counter it was", name)
		}
		r.values = append(r.values, read)
	}
	if r.summary < 0 {
		return fmt.Errorf("no %s", gcDurationFamily)
	}
	r.skeleton = skeleton
	return nil
}

// Fallback reports whether Runtime serves client_golang's collector as it
// is (a family it cannot read).
func (r *Runtime) Fallback() bool { return r.fallback != nil }

// Families are the go_* families now, in name order: new families and
// series at each call (never modified after), their names, help and
// labels shared with the skeleton.
func (r *Runtime) Families() ([]*dto.MetricFamily, error) {
	if r.fallback != nil {
		return r.fallback.Gather()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	metrics.Read(r.samples)
	threads, _ := runtime.ThreadCreateProfile(nil)
	rr := &runtimeReading{r: r, goroutines: runtime.NumGoroutine(), threads: threads, gc: &r.gc}
	if cycles := rr.rmUint(gcCyclesMetric); !r.gcRead || cycles != r.gcCycles {
		// A collection ending between the two reads makes the stats the
		// newer: the next scrape reads them again. ReadGCStats reuses
		// Pause's capacity and sorts within it: no allocation once the
		// history has been read.
		debug.ReadGCStats(&r.gc)
		r.gcRead, r.gcCycles = true, cycles
	}

	n := len(r.skeleton)
	mfs := make([]dto.MetricFamily, n)
	ms := make([]dto.Metric, n)
	ptrs := make([]*dto.Metric, n)
	nums := make([]float64, n)
	out := make([]*dto.MetricFamily, n)
	for i, skel := range r.skeleton {
		m := &ms[i]
		m.Label = skel.Metric[0].Label
		switch {
		case i == r.summary:
			m.Summary = r.gcSummary()
		case skel.GetType() == dto.MetricType_COUNTER:
			nums[i] = r.values[i](rr)
			m.Counter = &dto.Counter{Value: &nums[i]}
		default:
			nums[i] = r.values[i](rr)
			m.Gauge = &dto.Gauge{Value: &nums[i]}
		}
		ptrs[i] = m
		mfs[i] = dto.MetricFamily{Name: skel.Name, Help: skel.Help, Type: skel.Type, Unit: skel.Unit, Metric: ptrs[i : i+1 : i+1]}
		out[i] = &mfs[i]
	}
	return out, nil
}

// gcSummary is go_gc_duration_seconds as client_golang's baseGoCollector
// makes it: the pause quantiles 0, 0.25, 0.5, 0.75 and 1, the pauses'
// total and count.
func (r *Runtime) gcSummary() *dto.Summary {
	count, sum := uint64(r.gc.NumGC), r.gc.PauseTotal.Seconds()
	qs := make([]dto.Quantile, 5)
	qv := make([]float64, 10)
	out := &dto.Summary{SampleCount: &count, SampleSum: &sum, Quantile: make([]*dto.Quantile, 5)}
	for i := range 5 {
		qv[i] = float64(i) / 4
		qv[5+i] = r.gc.PauseQuantiles[i].Seconds()
		qs[i] = dto.Quantile{Quantile: &qv[i], Value: &qv[5+i]}
		out.Quantile[i] = &qs[i]
	}
	return out
}

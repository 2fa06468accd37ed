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

// Package selfmetrics holds the exporter's own metrics: the families every
// Prometheus exporter serves about itself (go_*, process_*, promhttp_*)
// and the exporter's own counters, gathered for each scrape.
//
// A scrape of the default configuration is mostly these (9 of its 12.5 KB),
// and gathering them through client_golang's registry was its largest
// part: 0.2 ms of a 1.2 ms scrape on the 2-core VM, asked as Prometheus
// asks, every ~3 ms (bench/scrape.sh's setup). The Go runtime's and the
// process's families, which change at every scrape, are made here without
// a registry (Producer); the rest, which client libraries register
// themselves (promhttp's handler metrics), is a registry's.
package selfmetrics

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Producer makes families without a registry: new families and series at
// each call, never modified after, in name order.
type Producer interface {
	Families() ([]*dto.MetricFamily, error)
}

// ProducerFunc is a function as a Producer.
type ProducerFunc func() ([]*dto.MetricFamily, error)

// Families calls f.
func (f ProducerFunc) Families() ([]*dto.MetricFamily, error) { return f() }

// Registry is a client_golang registry for what registers itself, and the
// producers' families beside it. It is a prometheus.Registerer and a
// prometheus.Gatherer.
type Registry struct {
	*prometheus.Registry
	producers []Producer
}

// NewRegistry returns an empty registry gathering producers' families too.
func NewRegistry(producers ...Producer) *Registry {
	return &Registry{Registry: prometheus.NewRegistry(), producers: producers}
}

// Gather gathers the registry's collectors and the producers' families,
// in name order. Like a registry, it returns what it could gather with the
// errors: a family a producer makes under a name that is already gathered
// is left out, and an error.
func (r *Registry) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := r.Registry.Gather()
	var errs prometheus.MultiError
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range r.producers {
		produced, err := p.Families()
		if err != nil {
			errs = append(errs, err)
		}
		mfs, err = merge(mfs, produced)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return mfs, errs.MaybeUnwrap()
}

// merge adds produced (in name order) to mfs (in name order), keeping
// the order.
func merge(mfs, produced []*dto.MetricFamily) ([]*dto.MetricFamily, error) {
	if len(produced) == 0 {
		return mfs, nil
	}
	out := make([]*dto.MetricFamily, 0, len(mfs)+len(produced))
	var dup []string
	i := 0
	for _, p := range produced {
		for i < len(mfs) && mfs[i].GetName() < p.GetName() {
			out = append(out, mfs[i])
			i++
		}
		if i < len(mfs) && mfs[i].GetName() == p.GetName() || len(out) > 0 && out[len(out)-1].GetName() >= p.GetName() {
			dup = append(dup, p.GetName())
			continue
		}
		out = append(out, p)
	}
	out = append(out, mfs[i:]...)
	if len(dup) > 0 {
		slices.Sort(dup)
		return out, fmt.Errorf("families made twice or out of order, left out: %s", strings.Join(dup, ", "))
	}
	return out, nil
}

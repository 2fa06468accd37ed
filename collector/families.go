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
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// descMeta is what the exposition says of a description's family, kept
// beside the description: client_golang keeps it unexported.
type descMeta struct {
	name, help string
	labels     []string // the variable labels, in the description's order
	// pairs is the label pairs' order in a series: by label name, as
	// client_golang sorts them; a const label's pair is shared by every
	// series (index < 0: -1-i into constPairs).
	pairs      []int
	constPairs []*dto.LabelPair
}

// descRecorder makes descriptions and records their metadata.
type descRecorder struct {
	meta map[*prometheus.Desc]*descMeta
}

func (r *descRecorder) NewDesc(name, help string, labels []string, constLabels prometheus.Labels) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, constLabels)
	m := &descMeta{name: name, help: help, labels: slices.Clone(labels)}
	type named struct {
		name  string
		index int
	}
	var order []named
	for i, l := range labels {
		order = append(order, named{l, i})
	}
	for l, v := range constLabels {
		m.constPairs = append(m.constPairs, &dto.LabelPair{Name: &l, Value: &v})
		order = append(order, named{l, -len(m.constPairs)})
	}
	slices.SortFunc(order, func(a, b named) int { return strings.Compare(a.name, b.name) })
	for _, o := range order {
		m.pairs = append(m.pairs, o.index)
	}
	if r.meta == nil {
		r.meta = map[*prometheus.Desc]*descMeta{}
	}
	r.meta[d] = m
	return d
}

// familyBuilder builds the exposition's families straight from series, in
// the shape client_golang's pedantic registry gathered them: families by
// name, a family's series by their label values, a series' labels by
// name. What the registry checked is checked here — a series whose label
// values do not match its description's labels or are not valid UTF-8, a
// type other than its family's, the same series twice — and such a series
// is left out (the sink counts it), the rest are built. Gathering through
// a registry cost every evaluation two 1,000-slot channels (32 KB), a
// goroutine, a const metric per series and its copy into the family
// (measured in docs/performance.md).
type familyBuilder struct {
	meta     map[*prometheus.Desc]*descMeta
	families map[*prometheus.Desc]*dto.MetricFamily
	seen     map[uint64]struct{}
	seed     maphash.Seed
}

func newFamilyBuilder(meta map[*prometheus.Desc]*descMeta) *familyBuilder {
	return &familyBuilder{
		meta:     meta,
		families: map[*prometheus.Desc]*dto.MetricFamily{},
		seen:     map[uint64]struct{}{},
		seed:     maphash.MakeSeed(),
	}
}

var errUndescribed = errors.New("the description was not made by the exporter's recorder (a bug)")

// add builds one series, or says why it cannot be built.
func (b *familyBuilder) add(desc *prometheus.Desc, vt prometheus.ValueType, v float64, labels []string) error {
	m := b.meta[desc]
	if m == nil {
		return errUndescribed
	}
	if len(labels) != len(m.labels) {
		return fmt.Errorf("inconsistent label cardinality: expected %d label values but got %d in %q", len(m.labels), len(labels), labels)
	}
	for _, l := range labels {
		if !utf8.ValidString(l) {
			return fmt.Errorf("label value %q is not valid UTF-8", l)
		}
	}
	var typ dto.MetricType
	switch vt {
	case prometheus.CounterValue:
		typ = dto.MetricType_COUNTER
	case prometheus.GaugeValue:
		typ = dto.MetricType_GAUGE
	default:
		typ = dto.MetricType_UNTYPED
	}
	fam := b.families[desc]
	if fam == nil {
		fam = &dto.MetricFamily{Name: &m.name, Help: &m.help, Type: typ.Enum()}
		b.families[desc] = fam
	} else if fam.GetType() != typ {
		return fmt.Errorf("built as %s, its family is %s", typ, fam.GetType())
	}
	var h maphash.Hash
	h.SetSeed(b.seed)
	h.WriteString(m.name)
	for _, l := range labels {
		h.WriteByte(0xff)
		h.WriteString(l)
	}
	key := h.Sum64()
	if _, dup := b.seen[key]; dup {
		return fmt.Errorf("built twice with the same label values %q", labels)
	}
	b.seen[key] = struct{}{}

	series := &dto.Metric{}
	if len(m.pairs) > 0 {
		values := slices.Clone(labels) // the caller's slice may be reused
		own := make([]dto.LabelPair, len(labels))
		series.Label = make([]*dto.LabelPair, len(m.pairs))
		for i, p := range m.pairs {
			if p < 0 {
				series.Label[i] = m.constPairs[-1-p]
				continue
			}
			own[p] = dto.LabelPair{Name: &m.labels[p], Value: &values[p]}
			series.Label[i] = &own[p]
		}
	}
	switch typ {
	case dto.MetricType_COUNTER:
		series.Counter = &dto.Counter{Value: &v}
	case dto.MetricType_GAUGE:
		series.Gauge = &dto.Gauge{Value: &v}
	default:
		series.Untyped = &dto.Untyped{Value: &v}
	}
	fam.Metric = append(fam.Metric, series)
	return nil
}

// gathered returns the families, as a registry's Gather orders them.
func (b *familyBuilder) gathered() []*dto.MetricFamily {
	mfs := make([]*dto.MetricFamily, 0, len(b.families))
	for _, fam := range b.families {
		slices.SortFunc(fam.Metric, compareSeries)
		mfs = append(mfs, fam)
	}
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return mfs
}

// compareSeries orders a family's series as client_golang's registry
// does: fewer labels first, then by each label's value in turn.
func compareSeries(a, b *dto.Metric) int {
	if c := cmp.Compare(len(a.Label), len(b.Label)); c != 0 {
		return c
	}
	for i, lp := range a.Label {
		if c := strings.Compare(lp.GetValue(), b.Label[i].GetValue()); c != 0 {
			return c
		}
	}
	return 0
}

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

package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
)

// scrapeFamilies is one evaluation's families as the collector hands them
// over: "warden_unit_state" is the bulk units' series (shared, the same
// values until the cache changes) followed by the checks' (built anew
// each time), "warden_unit_restarts_total" the bulk's alone (the same
// family), the rest built anew.
func scrapeFamilies(bulk []*dto.Metric, restarts *dto.MetricFamily, n int) []*dto.MetricFamily {
	gauge := dto.MetricType_GAUGE
	fresh := func(name string, labels ...string) *dto.Metric {
		m := &dto.Metric{Gauge: &dto.Gauge{Value: proto.Float64(float64(n))}}
		for i := 0; i < len(labels); i += 2 {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(labels[i]), Value: proto.String(labels[i+1])})
		}
		return m
	}
	state := &dto.MetricFamily{Name: proto.String("warden_unit_state"), Help: proto.String("The unit's ActiveState."), Type: &gauge}
	state.Metric = append(append(state.Metric, bulk...), fresh("", "state", "active", "unit", "web.service"), fresh("", "state", "failed", "unit", "web.service"))
	summary := dto.MetricType_SUMMARY
	return []*dto.MetricFamily{
		{Name: proto.String("go_gc_duration_seconds"), Help: proto.String("GC pauses."), Type: &summary, Metric: []*dto.Metric{{
			Summary: &dto.Summary{SampleCount: proto.Uint64(uint64(n)), SampleSum: proto.Float64(0.5), Quantile: []*dto.Quantile{{Quantile: proto.Float64(0.5), Value: proto.Float64(float64(n) / 1000)}}},
		}}},
		{Name: proto.String("warden_collector_success"), Help: proto.String("1 if read."), Type: &gauge, Metric: []*dto.Metric{fresh("", "collector", "systemd")}},
		state,
		restarts,
	}
}

// bulkSeries are n series of the bulk units, value v: a new cache state.
func bulkSeries(n int, v float64) []*dto.Metric {
	ms := make([]*dto.Metric, n)
	for i := range ms {
		ms[i] = &dto.Metric{
			Label: []*dto.LabelPair{{Name: proto.String("state"), Value: proto.String("active")}, {Name: proto.String("unit"), Value: proto.String(fmt.Sprintf("bulk-%d.service", i))}},
			Gauge: &dto.Gauge{Value: proto.Float64(v)},
		}
	}
	return ms
}

func restartsFamily(n int, v float64) *dto.MetricFamily {
	counter := dto.MetricType_COUNTER
	mf := &dto.MetricFamily{Name: proto.String("warden_unit_restarts_total"), Help: proto.String("Restarts."), Type: &counter}
	for i := range n {
		mf.Metric = append(mf.Metric, &dto.Metric{
			Label:   []*dto.LabelPair{{Name: proto.String("unit"), Value: proto.String(fmt.Sprintf("bulk-%d.service", i))}},
			Counter: &dto.Counter{Value: proto.Float64(v)},
		})
	}
	return mf
}

// promhttpAnswer is what promhttp answers req for mfs: the reference.
func promhttpAnswer(t *testing.T, req *http.Request, mfs []*dto.MetricFamily) (http.Header, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return mfs, nil }), promhttp.HandlerOpts{}).ServeHTTP(rec, req)
	return rec.Header(), decoded(t, rec.Header(), rec.Body.Bytes())
}

// decoded is body without its Content-Encoding; a gzip body must be one
// member, as some clients read no further.
func decoded(t *testing.T, header http.Header, body []byte) []byte {
	t.Helper()
	if header.Get("Content-Encoding") != "gzip" {
		return body
	}
	// A bytes.Reader is read byte by byte, never ahead: what is left
	// after the first member is what follows it.
	br := bytes.NewReader(body)
	zr, err := gzip.NewReader(br)
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	if br.Len() != 0 {
		t.Fatalf("the gzip body is more than one member: %d bytes follow the first", br.Len())
	}
	return plain
}

func TestTextEncoderAnswersAsPromhttpAndReusesOnlyUnchangedSeries(t *testing.T) {
	const nBulk = 300
	enc := newTextEncoder()
	accepts := []string{
		"", // curl
		"text/plain;version=0.0.4",
		"application/openmetrics-text;version=1.0.0", // not offered: text
		"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
	}
	bulk, restarts := bulkSeries(nBulk, 1), restartsFamily(nBulk, 3)
	for n := range 6 {
		if n == 3 {
			// The units changed: new series, new values.
			bulk, restarts = bulkSeries(nBulk, 0), restartsFamily(nBulk, 4)
		}
		mfs := scrapeFamilies(bulk, restarts, n)
		for _, accept := range accepts {
			for _, encoding := range []string{"gzip", ""} {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept", accept)
				req.Header.Set("Accept-Encoding", encoding)
				rec, ok := enc.encode(req, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return mfs, nil }))
				if !ok {
					t.Fatalf("scrape %d, Accept %q, Accept-Encoding %q: left to promhttp", n, accept, encoding)
				}
				wantHeader, want := promhttpAnswer(t, req, mfs)
				for _, h := range []string{"Content-Type", "Content-Encoding", "Vary"} {
					if got, want := rec.header.Values(h), wantHeader.Values(h); fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("scrape %d, Accept %q, Accept-Encoding %q: %s %q, promhttp's %q", n, accept, encoding, h, got, want)
					}
				}
				if got := decoded(t, rec.header, rec.body.Bytes()); !bytes.Equal(got, want) {
					t.Fatalf("scrape %d, Accept %q, Accept-Encoding %q: the body differs from promhttp's:\n%s\nwant:\n%s", n, accept, encoding, got, want)
				}
			}
		}
		// The premise: from the second encoding of a cache state on (here
		// the second request of the scrape), the bulk's series come from
		// runs, of the current cache state.
		runs := enc.formats[expfmt.Format("text/plain; version=0.0.4; charset=utf-8; escaping=underscores")]
		if runs == nil {
			t.Fatalf("no runs kept for the text format: %v", enc.formats)
		}
		for name, first := range map[string]*dto.Metric{"warden_unit_state": bulk[0], "warden_unit_restarts_total": restarts.Metric[0]} {
			if run := runs.byName[name].run; run == nil || len(run.metrics) < nBulk || run.metrics[0] != first {
				t.Errorf("scrape %d: %s has no run of the %d bulk series of this cache state", n, name, nBulk)
			}
		}
	}
}

func TestTextEncoderLeavesTheRestToPromhttp(t *testing.T) {
	enc := newTextEncoder()
	mfs := scrapeFamilies(bulkSeries(100, 1), restartsFamily(100, 1), 1)
	ok := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return mfs, nil })
	for name, tc := range map[string]struct {
		target, accept string
		gatherer       prometheus.Gatherer
	}{
		"protobuf":    {"/metrics", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", ok},
		"name filter": {"/metrics?name[]=warden_unit_state", "", ok},
		"gathering error": {"/metrics", "", prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
			return mfs, errors.New("a series broke its description")
		})},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.target, nil)
		req.Header.Set("Accept", tc.accept)
		req.Header.Set("Accept-Encoding", "gzip")
		if _, answered := enc.encode(req, tc.gatherer); answered {
			t.Errorf("%s: answered, not left to promhttp", name)
		}
	}
}

func TestCRC32Combine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {100, 3}, {3, 100_000}, {70_000, 1_200_000}} {
		a, b := make([]byte, n[0]), make([]byte, n[1])
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := crc32.ChecksumIEEE(append(append([]byte{}, a...), b...))
		if got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b))); got != want {
			t.Errorf("lengths %v: %08x, want %08x", n, got, want)
		}
	}
}

// crc32Combine is the CRC-32 (IEEE) of A followed by B, from A's, B's and
// B's length (zlib's crc32_combine), as a gzip response combines a run's.
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	shift := crc32ShiftOver(lenB)
	return gf2Times(&shift, crcA) ^ crcB
}

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

package metrictest

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// The golden expositions (collector/testdata/exposition.golden.prom, the
// Exporter's families; testdata/server.golden.prom, the server's own):
// /metrics as served, with the values the exporter reads from its own
// clock made fixed.

// ClockStamp is what a time the exporter read from its own clock is
// written as in a golden file (2001-09-09): before every time the
// fixtures' inputs give, so it cannot be taken for one of them.
const ClockStamp = 1e9

// Exposition returns mfs as promhttp (the server's encoder) writes them
// for a request without Accept: the text format.
func Exposition(tb testing.TB, mfs []*dto.MetricFamily) []byte {
	tb.Helper()
	gatherer := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return mfs, nil })
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("/metrics: %d\n%s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

// NormaliseClock returns mfs sorted by name, with what the process read
// from its clock made fixed; a family it changes is copied (a scrape's
// families may be shared with the next one's):
//   - a *_timestamp_seconds gauge between start and end (the test's run,
//     a second either side) is a time read from the clock (when a check
//     was judged, a probe ran, a file was written, the config loaded): it
//     is written as ClockStamp. Inputs' times (a unit's
//     ActiveEnterTimestamp, a certificate's NotAfter) are years away from
//     any run and stay as they are;
//   - the gauges of the families named measured (how long a read took) are
//     written as 0.
func NormaliseClock(mfs []*dto.MetricFamily, start, end time.Time, measured ...string) []*dto.MetricFamily {
	from, to := float64(start.Add(-time.Second).Unix()), float64(end.Add(time.Second).Unix())
	out := make([]*dto.MetricFamily, len(mfs))
	for i, mf := range mfs {
		name := mf.GetName()
		zero := slices.Contains(measured, name)
		if !zero && !strings.HasSuffix(name, "_timestamp_seconds") {
			out[i] = mf
			continue
		}
		fixed := &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type, Unit: mf.Unit}
		for _, m := range mf.GetMetric() {
			m = &dto.Metric{Label: m.Label, Gauge: m.Gauge, Counter: m.Counter, Summary: m.Summary,
				Untyped: m.Untyped, Histogram: m.Histogram, TimestampMs: m.TimestampMs}
			if g := m.GetGauge(); g != nil {
				v := g.GetValue()
				switch {
				case zero:
					v = 0
				case v >= from && v <= to:
					v = ClockStamp
				}
				m.Gauge = &dto.Gauge{Value: &v}
			}
			fixed.Metric = append(fixed.Metric, m)
		}
		mf = fixed
		out[i] = mf
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// FamilyNames returns the names of an exposition's families, from their
// # HELP lines, in order.
func FamilyNames(tb testing.TB, exposition []byte) []string {
	tb.Helper()
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(exposition))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# HELP "); ok {
			name, _, _ := strings.Cut(rest, " ")
			names = append(names, name)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return names
}

// CompareGolden compares got with the golden file, or with update
// rewrites the file. regenerate is the command that does (for the
// failure's message), hint what else a difference may mean.
func CompareGolden(tb testing.TB, file string, got []byte, update bool, regenerate, hint string) {
	tb.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		tb.Logf("wrote %s (%d bytes)", file, len(got))
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		tb.Fatalf("%v (%s writes it)", err, regenerate)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("/metrics differs from %s%s; if the change is meant, run %s and review the diff:\n%s",
			file, hint, regenerate, LineDiff(string(want), string(got)))
	}
}

// LineDiff lists the lines only in want (-) and only in got (+), in order:
// enough to see which series, label or help text changed.
func LineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for _, l := range w {
		if !slices.Contains(g, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

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
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/internal/metrictest"
)

// What /metrics serves is in two golden files: the Exporter's families,
// from a fixed observation (collector/testdata/exposition.golden.prom,
// collector's TestGoldenExposition), and the server's own, from the real
// binary's first scrape (testdata/server.golden.prom, here). Left out, as
// node_exporter's end-to-end test leaves them out: go_* and process_*,
// client_golang's (process_* as internal/processmetrics serves them),
// which change with the toolchain and the host.
//
// Regenerate the server's with: go test . -run ServedFamilies -update

var update = flag.Bool("update", false, "rewrite testdata/server.golden.prom from this run")

const (
	exporterGolden = "collector/testdata/exposition.golden.prom"
	serverGolden   = "testdata/server.golden.prom"
)

// buildLabel is what warden_exporter_build_info's label values (the
// build's version, revision, branch, tags and toolchain) are written as:
// they change with every build, its names are what the fixture keeps.
const buildLabel = "<build>"

// clientGolangFamily reports the families client_golang serves for the Go
// runtime and the process, left out of the golden files.
func clientGolangFamily(name string) bool {
	return strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_")
}

func parseExposition(t *testing.T, what string, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return mfs
}

// labelNames are the label names of a family's series, sorted, unique.
func labelNames(mf *dto.MetricFamily) []string {
	var names []string
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			names = append(names, l.GetName())
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// The binary serves every family of the golden files it serves at all
// with the golden's help, type and labels, and nothing the golden files
// lack; the server's own families are served as testdata/server.golden.prom
// says, values from the clock and the build's labels made fixed.
func TestServedFamiliesMatchGolden(t *testing.T) {
	start := time.Now()
	// A state file, so the discovery's state metrics are served too.
	p := startExporter(t, "--discovery.state-file="+filepath.Join(t.TempDir(), "learned.json"))
	code, body := get(t, p.url("/metrics"))
	end := time.Now()
	if code != 200 {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	served := parseExposition(t, "/metrics", []byte(body))
	exporterText, err := os.ReadFile(exporterGolden)
	if err != nil {
		t.Fatal(err)
	}
	exporter := parseExposition(t, exporterGolden, exporterText)

	var own []*dto.MetricFamily
	for name, mf := range served {
		if clientGolangFamily(name) {
			continue
		}
		g, ok := exporter[name]
		if !ok {
			own = append(own, mf)
			continue
		}
		// The Exporter's: this host's series, not the fixture's; the
		// description must be the fixture's.
		if mf.GetHelp() != g.GetHelp() || mf.GetType() != g.GetType() {
			t.Errorf("%s is served as %s %q, %s has %s %q", name, mf.GetType(), mf.GetHelp(), exporterGolden, g.GetType(), g.GetHelp())
		}
		if got, want := labelNames(mf), labelNames(g); len(got) > 0 && !slices.Equal(got, want) {
			t.Errorf("%s is served with labels %v, %s has %v", name, got, exporterGolden, want)
		}
	}
	for _, mf := range own {
		if mf.GetName() != "warden_exporter_build_info" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				l.Value = func(s string) *string { return &s }(buildLabel)
			}
		}
	}
	got := metrictest.Exposition(t, metrictest.NormaliseClock(own, start, end))
	metrictest.CompareGolden(t, serverGolden, got, *update, "go test . -run ServedFamilies -update",
		" (a family the Exporter serves that "+exporterGolden+" lacks lands here too)")
}

// docRow is a row of docs/metrics.md's tables that documents a family:
// its first cell the family's name, in backquotes.
var docRow = regexp.MustCompile("(?m)^\\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \\|")

// docs/metrics.md documents every family /metrics serves (the golden
// files' families: every family the exporter declares is in them) and
// nothing it does not serve (client_golang's go_* and process_* may have
// rows of their own; its promhttp_* handler families may be named in the
// text instead of a row).
func TestDocsMetricsInStep(t *testing.T) {
	doc, err := os.ReadFile("docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]int{}
	for _, m := range docRow.FindAllSubmatch(doc, -1) {
		documented[string(m[1])]++
	}
	var served []string
	for _, file := range []string{exporterGolden, serverGolden} {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		served = append(served, metrictest.FamilyNames(t, text)...)
	}
	// 45 the Exporter's and 8 the server's today: fewer means a golden
	// file was not read whole.
	if len(served) < 53 {
		t.Fatalf("only %d families in the golden files", len(served))
	}
	for _, name := range served {
		if strings.HasPrefix(name, "promhttp_") && bytes.Contains(doc, []byte("`"+name)) {
			continue // the HTTP handler's own, named in the page's opening sentence
		}
		if documented[name] == 0 {
			t.Errorf("%s is served but docs/metrics.md has no row for it (| `%s` | type | labels | meaning |)", name, name)
		}
	}
	for name, rows := range documented {
		if !slices.Contains(served, name) && !clientGolangFamily(name) {
			t.Errorf("docs/metrics.md documents %s, which /metrics does not serve", name)
		}
		if rows > 1 {
			t.Errorf("docs/metrics.md documents %s in %d rows", name, rows)
		}
	}
}

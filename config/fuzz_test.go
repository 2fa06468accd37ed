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

package config

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
)

var summaryLineRe = regexp.MustCompile(`^fuzz\.yml(:[0-9]+)?: ([a-z_]+(\[[0-9]+\])*(\.[a-z_]+(\[[0-9]+\])*)*: )?([a-z A-Z:]+|and [0-9]+ more errors)$`)

// FuzzParse: no document crashes the parser; every error is a FieldError
// (so it names the file); every accepted config renders to YAML that is
// accepted again.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("../config.example.yml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("discovery: {enabled: true}\n"))
	f.Add([]byte("checks:\n  - name: a\n    ports: [{port: 70000}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.yml")
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.File != "fuzz.yml" {
				t.Fatalf("error without file and line: %v", err)
			}
			// What /-/reload answers holds nothing from the document
			// but line numbers and the schema's own field names.
			for _, line := range strings.Split(Summary(err), "\n") {
				if !summaryLineRe.MatchString(line) {
					t.Fatalf("summary line %q does not have the form file:line: field: kind", line)
				}
			}
			return
		}
		out, err := cfg.YAML()
		if err != nil {
			t.Fatalf("rendering an accepted config: %v", err)
		}
		if _, err := Parse(out, "again.yml"); err != nil {
			// Inline TLS keys render as <secret> and may then fail to load;
			// anything else must round-trip.
			hasInlineKey := false
			for _, c := range cfg.Checks {
				for _, p := range c.Probes {
					if p.TLSConfig != nil && p.TLSConfig.Key != "" {
						hasInlineKey = true
					}
				}
			}
			if !hasInlineKey {
				t.Fatalf("accepted config does not round-trip: %v\n%s", err, out)
			}
		}
	})
}

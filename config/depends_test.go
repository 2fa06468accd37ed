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
	"fmt"
	"strings"
	"testing"
)

// TestDependsOnCycles: a cycle of depends_on is refused at the entry that
// closes it, with file:line, whatever its length; a graph without one
// (a chain, a diamond) loads. In a cycle, two checks down together
// silence each other's pages (WardenDependencyDown inhibits both).
func TestDependsOnCycles(t *testing.T) {
	// ring is n checks c0 -> c1 -> ... -> c(n-1) -> c0, one line each.
	ring := func(n int) string {
		var b strings.Builder
		b.WriteString("checks:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - {name: c%d, unit: c%d.service, depends_on: [c%d]}\n", i, i, (i+1)%n)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, yaml string
		want       string // the whole error; "" for none
	}{
		{
			name: "itself",
			yaml: "checks:\n  - name: a\n    unit: a.service\n    depends_on:\n      - a\n",
			want: "c.yml:5: checks[0].depends_on[0]: a check cannot depend on itself",
		},
		{
			name: "two checks",
			yaml: "checks:\n  - name: a\n    unit: a.service\n    depends_on: [b]\n  - name: b\n    unit: b.service\n    depends_on:\n      - a\n",
			want: `c.yml:8: checks[1].depends_on[0]: depends_on cycle: "a" -> "b" -> "a": every check of a cycle would silence the others' alerts while they are down together`,
		},
		{
			name: "three checks, closed by the first",
			yaml: "checks:\n  - name: c\n    unit: c.service\n    depends_on: [a]\n  - name: a\n    unit: a.service\n    depends_on: [b]\n  - name: b\n    unit: b.service\n    depends_on: [x, c]\n  - name: x\n    unit: x.service\n",
			want: `c.yml:10: checks[2].depends_on[1]: depends_on cycle: "c" -> "a" -> "b" -> "c": every check of a cycle would silence the others' alerts while they are down together`,
		},
		{
			name: "a cycle beside a chain",
			yaml: "checks:\n  - {name: web, unit: w.service, depends_on: [db]}\n  - {name: db, unit: d.service}\n  - {name: p, unit: p.service, depends_on: [q]}\n  - {name: q, unit: q.service, depends_on: [p]}\n",
			want: `c.yml:5: checks[3].depends_on[0]: depends_on cycle: "p" -> "q" -> "p": every check of a cycle would silence the others' alerts while they are down together`,
		},
		{
			name: "a long cycle is clipped",
			yaml: ring(20),
			want: `c.yml:21: checks[19].depends_on[0]: depends_on cycle: "c0" -> "c1" -> "c2" -> "c3" -> "c4" -> "c5" -> "c6" -> "c7" -> ... (20 checks) -> "c0": every check of a cycle would silence the others' alerts while they are down together`,
		},
		{
			name: "a diamond is no cycle",
			yaml: "checks:\n  - {name: app, unit: a.service, depends_on: [db, cache]}\n  - {name: db, unit: d.service, depends_on: [disk]}\n  - {name: cache, unit: c.service, depends_on: [disk]}\n  - {name: disk, unit: k.service}\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "c.yml")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want no error, got %v", err)
			case tc.want == "":
			case err == nil:
				t.Fatalf("want error %q, got none", tc.want)
			case err.Error() != tc.want:
				t.Errorf("message:\n got: %s\nwant: %s", err, tc.want)
			case !errors.Is(err, ErrInvalid):
				t.Errorf("errors.Is(ErrInvalid) is false for %q", err)
			}
		})
	}
}

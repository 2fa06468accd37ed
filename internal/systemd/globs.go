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

package systemd

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
)

// maxGlobs bounds how many patterns one include regexp may expand to.
const maxGlobs = 64

// globsForRegexp turns an anchored include regexp into fnmatch globs for
// ListUnitsByPatterns, so the manager filters before it answers. It handles
// literals, alternations and ".*"/".+"; anything else (classes, optional
// parts) returns nil, and the listing fetches every unit for us to filter.
// The regexp is applied to the result either way, so the globs only need
// to match a superset.
func globsForRegexp(re *regexp.Regexp) []string {
	if re == nil {
		return nil
	}
	expr := strings.TrimSuffix(strings.TrimPrefix(re.String(), "^(?:"), ")$")
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	globs, ok := globs(parsed.Simplify())
	if !ok || len(globs) == 0 {
		return nil
	}
	sort.Strings(globs)
	return slices.Compact(globs)
}

func globs(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		lit := string(re.Rune)
		// systemd matches with FNM_NOESCAPE: a glob character cannot be
		// escaped (and no unit name contains one anyway).
		if strings.ContainsAny(lit, "*?[") {
			return nil, false
		}
		return []string{lit}, true
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpCapture:
		return globs(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		if s := re.Sub[0]; s.Op == syntax.OpAnyChar || s.Op == syntax.OpAnyCharNotNL {
			if re.Op == syntax.OpStar {
				return []string{"*"}, true
			}
			return []string{"?*"}, true
		}
		return nil, false
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			g, ok := globs(sub)
			if !ok {
				return nil, false
			}
			out = append(out, g...)
		}
		return out, len(out) <= maxGlobs
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			g, ok := globs(sub)
			if !ok {
				return nil, false
			}
			next := make([]string, 0, len(out)*len(g))
			for _, prefix := range out {
				for _, suffix := range g {
					next = append(next, prefix+suffix)
				}
			}
			if len(next) > maxGlobs {
				return nil, false
			}
			out = next
		}
		return out, true
	}
	return nil, false
}

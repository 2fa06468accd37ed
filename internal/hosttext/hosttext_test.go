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

package hosttext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"fit text is kept", "sshd.service", 64, "sshd.service"},
		{"a renamed process", "\xff\xfeevil", 64, "\uFFFDevil"},
		{"each run of bad bytes is one replacement", "a\xffb\xfe\xfdc", 64, "a\uFFFDb\uFFFDc"},
		{"a truncated rune", "caf\xc3", 64, "caf\uFFFD"},
		{"cut on a rune boundary", "ééééé", 8, "éé…"},
		{"cut after cleaning", strings.Repeat("\xff", 3) + "abcdef", 7, "\uFFFDa…"},
		{"no room for the mark", "abcdef", 2, ""},
		{"empty", "", 8, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Clean(tc.in, tc.max)
			if got != tc.want {
				t.Errorf("Clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
			if !utf8.ValidString(got) || len(got) > tc.max {
				t.Errorf("Clean(%q, %d) = %q: not valid UTF-8 of at most %d bytes", tc.in, tc.max, got, tc.max)
			}
		})
	}
}

func FuzzClean(f *testing.F) {
	f.Add("\xff\xfeevil", 16)
	f.Add("ééé", 4)
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max&0xff + len(cutMark)
		got := Clean(s, max)
		if !utf8.ValidString(got) || len(got) > max {
			t.Fatalf("Clean(%q, %d) = %q", s, max, got)
		}
		if utf8.ValidString(s) && len(s) <= max && got != s {
			t.Fatalf("Clean(%q, %d) changed fit text to %q", s, max, got)
		}
	})
}

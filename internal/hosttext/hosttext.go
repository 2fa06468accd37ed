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

// Package hosttext makes text read from the host fit to export: the layers
// call it where they read a process name, a unit's property, a peer's
// answer. Such text ends up in label values, which must be valid UTF-8: a
// process any local user renamed to "\xff\xfeevil" (prctl PR_SET_NAME)
// made building a series panic, and every series after it was lost.
package hosttext

import (
	"strings"
	"unicode/utf8"
)

// Replacement stands for each run of bytes that are not UTF-8.
const Replacement = "\uFFFD"

// cutMark ends a string Clean cut short.
const cutMark = "…"

// Clean returns s as valid UTF-8 of at most maxBytes bytes: each run of
// bytes that are not UTF-8 becomes U+FFFD, and a longer result is cut on a
// rune boundary and ends with "…". Text that is already fit is returned
// as it is, without a copy: most of it is (every unit of a host's listing
// goes through here).
func Clean(s string, maxBytes int) string {
	if len(s) <= maxBytes && utf8.ValidString(s) {
		return s
	}
	s = strings.ToValidUTF8(s, Replacement)
	if len(s) <= maxBytes {
		return s
	}
	if maxBytes < len(cutMark) {
		return ""
	}
	return Clip(s, maxBytes-len(cutMark))
}

// Clip cuts s to at most n bytes on a rune boundary and marks the cut
// with "…" (3 bytes more); s no longer than n is returned as it is.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + cutMark
}

// CleanAll cleans each of ss in place and returns it.
func CleanAll(ss []string, maxBytes int) []string {
	for i, s := range ss {
		ss[i] = Clean(s, maxBytes)
	}
	return ss
}

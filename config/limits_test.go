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
	"strings"
	"testing"
)

// The limits are inclusive: a name of MaxCheckNameBytes (the longest unit
// name) and an interval of MaxProbeInterval load; one byte or one second
// more does not (TestParseErrors has the messages).
func TestCheckNameAndIntervalLimits(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		kind       error // nil: loads
	}{
		{"a name of 255 bytes", "checks:\n  - name: " + strings.Repeat("a", 255) + "\n    unit: a.service\n", nil},
		{"a name of 255 bytes in 2-byte runes and one more", "checks:\n  - name: " + strings.Repeat("é", 127) + "a\n    unit: a.service\n", nil},
		{"a name of 256 bytes", "checks:\n  - name: " + strings.Repeat("a", 256) + "\n    unit: a.service\n", ErrTooLarge},
		{"a name of 256 bytes in 2-byte runes", "checks:\n  - name: " + strings.Repeat("é", 128) + "\n    unit: a.service\n", ErrTooLarge},
		{"an interval of an hour", "checks:\n  - name: a\n    probes:\n      - target: 127.0.0.1:1\n        interval: 1h\n", nil},
		{"an interval of an hour and a second", "checks:\n  - name: a\n    probes:\n      - target: 127.0.0.1:1\n        interval: 1h0m1s\n", ErrOutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "c.yml")
			if tc.kind == nil && err != nil || tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("got %v, want %v", err, tc.kind)
			}
		})
	}
}

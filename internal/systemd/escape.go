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
	"strings"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// unitPath is the object path of a unit: every byte outside [A-Za-z0-9]
// becomes _xx (systemd's bus_label_escape).
func unitPath(name string) dbus.ObjectPath {
	return dbus.ObjectPath(dbusUnitPathPrefx + sdbus.PathBusEscape(name))
}

// unitNameFromPath reverses unitPath.
func unitNameFromPath(p dbus.ObjectPath) (string, bool) {
	label, ok := strings.CutPrefix(string(p), dbusUnitPathPrefx)
	if !ok || label == "" {
		return "", false
	}
	return unitName(unescapeHex(label, '_')), true
}

// unescapeHex replaces each marker+two hex digits in s by the byte they
// encode: "_2e" in a bus object label, "%20" in a D-Bus address value.
func unescapeHex(s string, marker byte) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == marker && i+2 < len(s) {
			if v, ok := unhex(s[i+1], s[i+2]); ok {
				b.WriteByte(v)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(a, b byte) (byte, bool) {
	h := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	x, ok1 := h(a)
	y, ok2 := h(b)
	return x<<4 | y, ok1 && ok2
}

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

package containers

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// The fuzz targets check the decoders never panic and keep what they
// return valid UTF-8 and bounded, whatever an engine sends.

func FuzzDecodeInspect(f *testing.F) {
	for _, n := range []string{"docker-inspect-web.json", "docker-inspect-crash.json", "docker-inspect-oomed.json", "docker-inspect-hostnet.json",
		"podman-inspect-pweb.json", "podman-inspect-pcrash.json", "podman-inspect-phost2.json"} {
		f.Add(readFixture(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeInspect(Docker, b)
		if err != nil {
			return
		}
		for _, s := range []string{c.ID, c.Name, c.Image, c.State, c.Error, c.RestartPolicy, c.NetworkMode, c.SystemdUnit, c.Health.Status, c.Health.LastOutput} {
			if !utf8.ValidString(s) || len(s) > maxString {
				t.Fatalf("string %q: invalid or over %d bytes", s, maxString)
			}
		}
		if len(c.Health.LastOutput) > MaxHealthOutput || len(c.Ports) > maxPorts {
			t.Fatalf("health output %d bytes, %d ports", len(c.Health.LastOutput), len(c.Ports))
		}
		for _, p := range c.Ports {
			if !utf8.ValidString(p.HostIP) || p.HostPort < 0 || p.HostPort > 65535 || p.ContainerPort <= 0 || p.ContainerPort > 65535 {
				t.Fatalf("port %+v", p)
			}
		}
	})
}

func FuzzDecodeList(f *testing.F) {
	f.Add(readFixture(f, "docker-list.json"))
	f.Add(readFixture(f, "podman-list.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeList(b)
		if err != nil {
			return
		}
		for _, c := range l {
			if c.ID == "" || !utf8.ValidString(c.ID+c.Name+c.State) {
				t.Fatalf("%+v", c)
			}
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	for _, n := range []string{"docker-events.jsonl", "podman-events.jsonl"} {
		for _, line := range bytes.Split(readFixture(f, n), []byte("\n")) {
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, ok, err := decodeEvent(b)
		if err != nil || !ok {
			return
		}
		if ev.ID == "" || !utf8.ValidString(ev.ID+ev.Name) || !sameAction(ev.Action) {
			t.Fatalf("%+v", ev)
		}
	})
}

// sameAction says a is one of the watcher's normalised actions.
func sameAction(a string) bool {
	n, ok := eventAction(a)
	return ok && n == a
}

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
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/servicestest"
	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// For the first --discovery.min-age a fresh host's landing page said "no
// checks" with no hint, /checks listed nothing, and no log line said when
// a check was learned. Here a real unit listens (the exporter's own
// binary, serving its port) under a real user manager: the landing page
// and /checks say what discovery is learning and when, and the log says
// when the port is learned.
func TestDiscoverySaysWhatItIsLearning(t *testing.T) {
	m := systemdtest.Start(t)
	// Outside the ephemeral range, which discovery does not learn.
	port := strconv.Itoa(testenv.NonEphemeralPort(t))
	m.Run(t, "learn-web", binary, "--web.listen-address=127.0.0.1:"+port, "--no-collector.systemd", "--no-collector.probes")
	servicestest.WaitDial(t, "127.0.0.1:"+port)

	t.Run("learning", func(t *testing.T) {
		p := startExporter(t, "--systemd.address="+m.PrivateAddress(), "--discovery.min-age=1h")
		_, page := get(t, p.url("/"))
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`no checks yet: discovery is learning \(below\)`),
			regexp.MustCompile(`Discovery is learning 1 candidate port\(s\)`),
			regexp.MustCompile(`<li>learn-web.service: tcp 127.0.0.1:` + port + ` \(learned in 3[56]\d\ds\)</li>`),
		} {
			if !want.MatchString(page) {
				t.Errorf("the landing page lacks %s:\n%s", want, page)
			}
		}
		_, checks := get(t, p.url("/checks"))
		for _, want := range []string{`"learning": {`, `"candidates": 1,`, `"unit": "learn-web.service",`, `"tcp 127.0.0.1:` + port + `"`, `"learned_in_seconds": 3`} {
			if !strings.Contains(checks, want) {
				t.Errorf("/checks lacks %s:\n%s", want, checks)
			}
		}
	})
	t.Run("learned", func(t *testing.T) {
		p := startExporter(t, "--systemd.address="+m.PrivateAddress(), "--discovery.min-age=1ms")
		want := `msg="discovery learned a port: the unit's check expects it from now on" unit=learn-web.service port="tcp 127.0.0.1:` + port + `"`
		systemdtest.WaitFor(t, 20*time.Second, "the log to say the port was learned", func() bool {
			get(t, p.url("/metrics"))
			return strings.Contains(p.logs.String(), want)
		})
		_, page := get(t, p.url("/"))
		if !strings.Contains(page, `<td>learn-web.service <i>(learned)</i></td><td class="status">ok</td>`) || strings.Contains(page, "Discovery is learning") {
			t.Errorf("the landing page after learning:\n%s", page)
		}
	})
}

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

package probe

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// A failed probe's Diagnosis is its class and where it stopped, from the
// config and a closed set of kinds, against real peers on loopback: what
// the check's reason label says of it.
func TestDiagnosisAgainstRealPeers(t *testing.T) {
	cert, caPath, _ := selfSignedTLS(t, t.TempDir())
	silent := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { io.Copy(io.Discard, c) })
	wrong := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { fmt.Fprint(c, "HELLO\r\n") })
	resetter := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { c.(*net.TCPConn).SetLinger(0) })
	tlsPeer := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
	})
	long := strings.Repeat("x", 100)

	withTLS := func(p *config.Probe, tc *config.TLSConfig) *config.Probe {
		p.TLS, p.TLSConfig = true, tc
		return p
	}
	smtp := func(p *config.Probe) *config.Probe { p.TLS, p.StartTLS = true, "smtp"; return p }
	for _, tc := range []struct {
		name string
		p    *config.Probe
		want string
	}{
		{"a closed port", probeOf(testenv.FreeLoopbackAddr(t), 2*time.Second), "refused"},
		{"a full backlog", probeOf(fullBacklogAddr(t), 300*time.Millisecond), "timeout (connect)"},
		{"a silent peer", probeOf(silent, 300*time.Millisecond, config.Step{Send: "PING\r\n"}, config.Step{Expect: re(`^\+PONG`)}),
			`timeout (step 1: expect "^\\+PONG")`},
		{"a wrong answer", probeOf(wrong, 2*time.Second, config.Step{Expect: re(`^OK`)}), `expect (step 0: "^OK")`},
		{"a long pattern is clipped", probeOf(wrong, 2*time.Second, config.Step{Expect: re(long)}), `expect (step 0: "` + long[:maxWantInDiagnosis] + `…")`},
		{"a reset, wherever it lands", probeOf(resetter, 2*time.Second, config.Step{Expect: re(`^OK`)}), "reset"},
		{"an untrusted certificate", withTLS(probeOf(tlsPeer, 2*time.Second), nil), "tls (unknown authority)"},
		{"a name the certificate lacks", withTLS(probeOf(tlsPeer, 2*time.Second), &config.TLSConfig{CAFile: caPath, ServerName: "wrong.example"}), "tls (name mismatch)"},
		{"a plain-text peer", withTLS(probeOf(wrong, 2*time.Second), nil), "tls (not TLS)"},
		{"a CA file that cannot be read", withTLS(probeOf(tlsPeer, 2*time.Second), &config.TLSConfig{CAFile: filepath.Join(t.TempDir(), "none.pem")}), "tls (tls_config unusable)"},
		{"a wrong SMTP greeting", smtp(probeOf(wrong, 2*time.Second)), "expect (starttls: want 220)"},
		{"a name that does not resolve", probeOf("warden-probe-test.invalid:80", 2*time.Second), "dns (not found)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runProbe(t, tc.p)
			if got := r.Diagnosis(); got != tc.want {
				t.Errorf("Diagnosis() = %q, want %q (%s: %v)", got, tc.want, r.Reason, r.Err)
			}
		})
	}

	t.Run("a success has none", func(t *testing.T) {
		if got := runProbe(t, probeOf(silent, 2*time.Second)).Diagnosis(); got != "" {
			t.Errorf("Diagnosis() = %q", got)
		}
	})
}

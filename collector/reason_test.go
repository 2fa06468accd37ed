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

package collector

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// maxReasonLabel is the documented cap (docs/metrics.md) on warden_check_reason_info's reason
// (verdict.MaxDiagnosis).
const maxReasonLabel = 256

// reasonLabels returns warden_check_reason_info's reason label by check.
func reasonLabels(mfs []*dto.MetricFamily) map[string]string {
	out := map[string]string{}
	for _, mf := range mfs {
		if mf.GetName() != "warden_check_reason_info" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var check, reason string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "check":
					check = l.GetValue()
				case "reason":
					reason = l.GetValue()
				}
			}
			out[check] = reason
		}
	}
	return out
}

// labelRecord collects, per check, the distinct reason labels of many
// evaluations and the full reasons /checks gave beside them.
type labelRecord struct {
	labels map[string]map[string]int
	full   map[string][]string
}

func newLabelRecord() *labelRecord {
	return &labelRecord{labels: map[string]map[string]int{}, full: map[string][]string{}}
}

// add records one evaluation: its reason labels and /checks's verdicts.
func (r *labelRecord) add(t *testing.T, ev *Evaluation) {
	t.Helper()
	mfs, err := ev.Families()
	if err != nil {
		t.Fatal(err)
	}
	got := reasonLabels(mfs)
	for _, v := range ev.Verdicts {
		if r.labels[v.Check] == nil {
			r.labels[v.Check] = map[string]int{}
		}
		r.labels[v.Check][got[v.Check]]++
		r.full[v.Check] = append(r.full[v.Check], v.Reason)
	}
}

// assertOneLabel checks that check had one reason label in every
// evaluation, within the cap and valid UTF-8.
func (r *labelRecord) assertOneLabel(t *testing.T, check string) {
	t.Helper()
	labels := r.labels[check]
	if len(labels) != 1 {
		shown := 0
		for l, n := range labels {
			if shown++; shown <= 3 {
				t.Logf("%d× %q", n, l)
			}
		}
		t.Errorf("%d distinct reason labels in %d evaluations, want 1", len(labels), len(r.full[check]))
	}
	for l := range labels {
		if l == "" {
			t.Errorf("no warden_check_reason_info series for a failing check")
		}
		if len(l) > maxReasonLabel || !utf8.ValidString(l) {
			t.Errorf("reason label of %d bytes (valid UTF-8: %v), want ≤ %d: %.300q", len(l), utf8.ValidString(l), maxReasonLabel, l)
		}
	}
}

// testCert writes a self-signed certificate (its own CA) for 127.0.0.1 and
// dnsNames, valid from notBefore to notAfter, and returns it with the path
// of its PEM.
func testCert(t *testing.T, name string, notBefore, notAfter time.Time, ips []net.IP, dnsNames ...string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "warden " + name},
		NotBefore: notBefore, NotAfter: notAfter, IPAddresses: ips, DNSNames: dnsNames,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

// serveTLS answers every connection with a TLS handshake with cert.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	return testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		if tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}); tc.Handshake() == nil {
			io.WriteString(tc, "+PONG\r\n")
		}
	})
}

// Nine kinds of failing peer (the eight here, and a port held by many
// processes in TestReasonLabelNamesForeignOwnersBounded), each judged 30
// times through the exporter: one reason label each, under the cap, while
// /checks's reason keeps the detail that changes (issue 20: 30 distinct
// labels in 30 scrapes for a silent peer, a resetting one, a partial
// answer, an expired certificate, a banner with a counter or a date).
func TestReasonLabelIsOneSeriesPerDiagnosis(t *testing.T) {
	now := time.Now()
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	expiredCert, expiredCA := testCert(t, "expired", now.Add(-48*time.Hour), now.Add(-24*time.Hour), loopback)
	otherCert, otherCA := testCert(t, "other", now.Add(-time.Hour), now.Add(24*time.Hour), []net.IP{net.IPv4(127, 0, 0, 2)}, "other.example")
	var connections atomic.Int64

	pong := []config.Step{{Send: "PING\r\n"}, {Expect: re(`^\+PONG`)}}
	peers := []struct {
		name   string
		target string
		tls    string // the CA file of a TLS probe, "" for plain TCP
		steps  []config.Step
		// timeout bounds the probe: short where the peer makes it time
		// out, generous where it answers at once.
		timeout time.Duration
		reason  probe.Reason
		detail  string // what /checks's reason still says
	}{
		{"silent", testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { io.Copy(io.Discard, c) }),
			"", pong, 500 * time.Millisecond, probe.Timeout, "i/o timeout"},
		{"resetting", testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { c.(*net.TCPConn).SetLinger(0) }),
			"", []config.Step{{Expect: re(`^\+OK`)}}, 5 * time.Second, probe.Reset, "connection reset by peer"},
		{"partial answer", testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
			io.WriteString(c, "+PO")
			io.Copy(io.Discard, c) // until the probe gives up and closes
		}), "", pong, 500 * time.Millisecond, probe.Expect, `got "+PO"`},
		{"expired certificate", serveTLS(t, expiredCert), expiredCA, nil, 5 * time.Second, probe.TLS, "expired"},
		{"banner with a counter", testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
			bufio.NewReader(c).ReadString('\n') // PING: closing with it unread would reset
			fmt.Fprintf(c, "-ERR busy, connection %d\r\n", connections.Add(1))
		}), "", pong, 5 * time.Second, probe.Expect, "-ERR busy, connection "},
		{"banner with a date", testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
			bufio.NewReader(c).ReadString('\n')
			fmt.Fprintf(c, "-ERR maintenance, it is %s\r\n", time.Now().Format(time.RFC3339Nano))
		}), "", pong, 5 * time.Second, probe.Expect, "-ERR maintenance, it is "},
		{"refused", testenv.FreeLoopbackAddr(t), "", pong, 5 * time.Second, probe.Refused, "connection refused"},
		{"tls name mismatch", serveTLS(t, otherCert), otherCA, nil, 5 * time.Second, probe.TLS, "valid for 127.0.0.2, not 127.0.0.1"},
	}
	cfg := &config.Config{}
	for _, p := range peers {
		pr := config.Probe{Target: p.target, Timeout: model.Duration(p.timeout), IPProtocol: "auto", QueryResponse: p.steps}
		if p.tls != "" {
			pr.TLS, pr.TLSConfig = true, &config.TLSConfig{CAFile: p.tls}
		}
		cfg.Checks = append(cfg.Checks, config.Check{Name: p.name, Probes: []config.Probe{pr}})
	}
	e, err := New(Options{Logger: log.NewNopLogger(), Config: func() *config.Config { return cfg }, Probes: probe.New(probe.Options{})})
	if err != nil {
		t.Fatal(err)
	}

	const evaluations = 30
	rec := newLabelRecord()
	first := time.Now()
	for i := range evaluations {
		if i == evaluations/2 {
			// An expired certificate's error names the current time to
			// the second: the evaluations span at least two seconds
			// whatever the speed of the machine.
			time.Sleep(time.Until(first.Truncate(time.Second).Add(time.Second)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ev, err := e.Evaluate(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		rec.add(t, ev)
		for j, v := range ev.Verdicts {
			if v.Status != verdict.ProbeFailed || len(v.Probes) != 1 || v.Probes[0].Reason != string(peers[j].reason) {
				t.Fatalf("evaluation %d: %s is %s (%s), want probe_failed (%s)", i, v.Check, v.Status, v.Reason, peers[j].reason)
			}
		}
	}
	for i, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			rec.assertOneLabel(t, p.name)
			for j, full := range rec.full[p.name] {
				if !strings.Contains(full, p.detail) {
					t.Errorf("evaluation %d: /checks's reason %q lacks the detail %q", j, full, p.detail)
					break
				}
			}
			got := cfg.Checks[i].Probes[0].Target
			for l := range rec.labels[p.name] {
				t.Logf("label %q", l)
				if !strings.Contains(l, got) || !strings.Contains(l, string(p.reason)) {
					t.Errorf("label %q names neither the target %s nor the class %s", l, got, p.reason)
				}
			}
		})
	}
}

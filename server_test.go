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
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/warden-exporter/warden_exporter/collector"
	"github.com/warden-exporter/warden_exporter/internal/selfmetrics"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// writeSelfSignedCert writes a certificate for 127.0.0.1 and its key.
func writeSelfSignedCert(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "warden test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	writeFile(t, certPath, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyPath, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	return certPath, keyPath
}

func TestTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certPath, _ := writeSelfSignedCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	writeFile(t, webConfig, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: "+string(hash)+"\n")
	p := startExporter(t, "--web.config.file="+webConfig)
	p.waitForLog(t, `msg="TLS is enabled."`)

	pemData, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := "https://" + p.addr + "/metrics"

	for _, tc := range []struct {
		user, pass string
		want       int
	}{
		{"", "", http.StatusUnauthorized},
		{"alice", "wrong", http.StatusUnauthorized},
		{"mallory", "s3cret", http.StatusUnauthorized},
		{"alice", "s3cret", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.user, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("user %q: got %d, want %d", tc.user, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusOK && !strings.Contains(string(body), "warden_exporter_build_info") {
			t.Errorf("authorised scrape lacks metrics:\n%s", body)
		}
	}

	// Plain HTTP to the TLS port is refused.
	resp, err := httpClient.Get("http://" + p.addr + "/metrics")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP: got %d, want 400", resp.StatusCode)
		}
	}

	// And the operator's usual client: curl.
	curl := testenv.LookPath(t, "curl", "apt-get install curl")
	out, err := exec.Command(curl, "-sS", "--max-time", "10", "--cacert", certPath, "-u", "alice:s3cret", "-o", "/dev/null", "-w", "%{http_code}", url).CombinedOutput()
	if err != nil || string(out) != "200" {
		t.Errorf("curl with TLS and basic auth: %v %s", err, out)
	}
	out, _ = exec.Command(curl, "-sS", "--max-time", "10", "--cacert", certPath, "-o", "/dev/null", "-w", "%{http_code}", url).CombinedOutput()
	if string(out) != "401" {
		t.Errorf("curl without credentials: %s, want 401", out)
	}

}

func TestJSONLogsHaveOneFormat(t *testing.T) {
	p := startExporter(t, "--log.format=json")
	p.waitForLog(t, `"msg":"TLS is disabled."`)
	lines := strings.Split(strings.TrimSpace(p.logs.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("too few log lines:\n%s", p.logs.String())
	}
	for _, line := range lines {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("not JSON: %q", line)
			continue
		}
		for _, key := range []string{"level", "time", "caller", "msg"} {
			if _, ok := entry[key]; !ok {
				t.Errorf("line lacks %q: %s", key, line)
			}
		}
		if ts, ok := entry["time"].(string); !ok || !strings.HasSuffix(ts, "Z") {
			t.Errorf("time must be UTC RFC3339: %s", line)
		}
	}
	// exporter-toolkit's own lines come through the bridge in the same shape.
	if !strings.Contains(p.logs.String(), `"msg":"Listening on"`) {
		t.Errorf("exporter-toolkit's lines are missing:\n%s", p.logs.String())
	}
}

func TestLogLevelFilters(t *testing.T) {
	p := startExporter(t, "--log.level=warn", "--web.listen-address="+testenv.FreeLoopbackAddr(t))
	if code, _ := get(t, p.url("/metrics")); code != 200 {
		t.Fatal(code)
	}
	if strings.Contains(p.logs.String(), "level=info") {
		t.Errorf("info lines with --log.level=warn (including exporter-toolkit's):\n%s", p.logs.String())
	}
}

// blockingSource holds each update until the test releases it, and records
// the deadline it was given.
type blockingSource struct {
	started chan time.Time // the deadline of each update, as it starts
	release chan struct{}
}

func (s *blockingSource) Snapshot(ctx context.Context, _ []string) (*systemd.Snapshot, error) {
	deadline, _ := ctx.Deadline()
	s.started <- deadline
	select {
	case <-s.release:
		return nil, context.Canceled
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func newTestServer(t *testing.T, maxRequests int, src collector.UnitReader) *httptest.Server {
	srv, _ := newTestServerWithRegistry(t, maxRequests, src)
	return srv
}

func newTestServerWithRegistry(t *testing.T, maxRequests int, src collector.UnitReader) (*httptest.Server, *selfmetrics.Registry) {
	t.Helper()
	return newHandlerServer(t, serverOptions{maxRequests: maxRequests, timeoutOffset: 500 * time.Millisecond}, nil, collector.Options{Systemd: src})
}

func TestScrapeTimeout(t *testing.T) {
	const offset, fallback = 500 * time.Millisecond, 9 * time.Second
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", fallback},
		{"garbage", fallback},
		{"-3", fallback},
		{"0", fallback},
		{"NaN", fallback},
		{"+Inf", fallback},
		{"10", 9500 * time.Millisecond},
		{"2.5", 2 * time.Second},
		{"0.5", 50 * time.Millisecond}, // the offset would leave nothing: keep a tenth
		{"1e12", 24*time.Hour - offset},
	} {
		if got := scrapeTimeout(tc.header, offset, fallback); got != tc.want {
			t.Errorf("scrapeTimeout(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestMaxRequestsInFlight(t *testing.T) {
	src := &blockingSource{started: make(chan time.Time, 10), release: make(chan struct{})}
	srv, reg := newTestServerWithRegistry(t, 2, src)

	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := httpClient.Get(srv.URL + "/metrics")
			if err != nil {
				codes <- -1
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	// The second scrape joins the first's gather (concurrent scrapes share
	// one): wait until both hold a slot.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mfs, _ := reg.Gather()
		inFlight := 0.0
		for _, mf := range mfs {
			if mf.GetName() == "promhttp_metric_handler_requests_in_flight" {
				inFlight = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if inFlight == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scrapes did not start (in flight: %v)", inFlight)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Both slots are taken by scrapes blocked in the source: the third is refused.
	code, body := get(t, srv.URL+"/metrics")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "Limit of concurrent requests reached (2)") {
		t.Errorf("third scrape: %d %q", code, body)
	}
	close(src.release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("a scrape within the limit got %d", c)
		}
	}
	// The slots are free again, and the refusal was counted.
	go func() {
		for range src.started {
		}
	}()
	code, body = get(t, srv.URL+"/metrics")
	if code != 200 || !strings.Contains(body, `promhttp_metric_handler_requests_total{code="503"} 1`) {
		t.Errorf("after release: %d\n%s", code, body)
	}
}

func TestScrapeDeadlineComesFromPrometheusHeader(t *testing.T) {
	src := &blockingSource{started: make(chan time.Time, 1), release: make(chan struct{})}
	close(src.release) // answer at once; only the deadline matters here
	srv := newTestServer(t, 0, src)

	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"3", 2500 * time.Millisecond},
		{"", 9500 * time.Millisecond},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
		if tc.header != "" {
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		before := time.Now()
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		deadline := <-src.started
		// The deadline was set between before and now, so it lies in
		// [before+want, now+want]: a bound, not a timing assertion.
		if deadline.Before(before.Add(tc.want)) || deadline.After(time.Now().Add(tc.want)) {
			t.Errorf("header %q: deadline %v after the request, want %v", tc.header, deadline.Sub(before), tc.want)
		}
		if !strings.Contains(string(body), `warden_collector_success{collector="systemd"} 0`) {
			t.Errorf("a failing source must be a metric, not an error:\n%s", body)
		}
	}
}

// newTestServerWithConfig serves the handlers on a reloader of the file at
// path, which must load.
func newTestServerWithConfig(t *testing.T, path string) *httptest.Server {
	t.Helper()
	srv, _ := serveHandler(t, serverOptions{lifecycle: lifecycleOptions{enabled: true}}, path, nil, collector.Options{}, nil)
	return srv
}

// POST /-/reload answers whoever may call it: it names the file, the line,
// the field and the kind of problem, never what the file contains. YAML
// and validation messages quote the offending text, so a config path that
// is (or links to) a secret file, /etc/shadow say, used to send its first
// line back in the 500. The full message goes to the log only.
func TestReloadAnswerNeverQuotesTheFile(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "warden.yml")
	writeFile(t, cfgPath, "discovery: {enabled: true}\n")
	srv := newTestServerWithConfig(t, cfgPath)
	const secret = "secretHASH"
	shadow := filepath.Join(dir, "shadow")
	for _, tc := range []struct {
		name, content string
		want          []string // lines the answer must have
	}{
		// A shadow line ends in ":": YAML reads it as a key.
		{"a secret line (a symlink to a shadow file)", "root:$y$j9T$" + secret + ":19000:0:99999:7:::\n",
			[]string{cfgPath + ":1: unknown field"}},
		{"a value quoted by validation", "checks:\n  - name: a\n    unit: " + secret + "\n",
			[]string{cfgPath + ":3: checks[0].unit: invalid value"}},
		{"a value quoted by decoding", "checks:\n  - name: a\n    ports: [{port: " + secret + "}]\n",
			[]string{cfgPath + ":3: checks[0].ports[0].port: invalid value"}},
		{"a value quoted by a type's own decoding", "checks:\n  - name: a\n    probes:\n      - target: 127.0.0.1:1\n        timeout: " + secret + "\n",
			[]string{cfgPath + ":5: checks[0].probes[0].timeout: invalid value"}},
		{"a document that is one value", secret + "\n",
			[]string{cfgPath + ":1: invalid value"}},
		{"an unknown key", "checks:\n  - name: a\n    unit: a.service\n    " + secret + ": x\n",
			[]string{cfgPath + ":4: checks[0]: unknown field"}},
		{"invalid YAML", "checks:\n  - name: a\n    unit: [" + secret + "\n",
			[]string{cfgPath + ":2: invalid YAML"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, shadow, tc.content)
			os.Remove(cfgPath)
			if err := os.Symlink(shadow, cfgPath); err != nil {
				t.Fatal(err)
			}
			code, body := post(t, srv.URL+"/-/reload")
			if code != http.StatusInternalServerError || strings.Contains(body, secret) {
				t.Errorf("%d, the answer quotes the file:\n%s", code, body)
			}
			for _, want := range tc.want {
				if !strings.Contains(body, "\n"+want+"\n") {
					t.Errorf("the answer lacks the line %q:\n%s", want, body)
				}
			}
		})
	}
}

// /config shows a send_file step's path, never what the file holds.
func TestConfigPageShowsSendFilePathNotContent(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "auth.txt"), "AUTH hunter2\r\n")
	cfgPath := filepath.Join(dir, "warden.yml")
	writeFile(t, cfgPath, "checks:\n  - name: redis\n    probes:\n      - target: 127.0.0.1:6379\n        query_response:\n          - send_file: auth.txt\n          - expect: '^\\+OK'\n")
	srv := newTestServerWithConfig(t, cfgPath)
	code, body := get(t, srv.URL+"/config")
	if code != 200 || strings.Contains(body, "hunter2") || !strings.Contains(body, "- send_file: "+filepath.Join(dir, "auth.txt")+"\n") {
		t.Errorf("/config: %d\n%s", code, body)
	}
}

// A scrape's response says its length: it then leaves in one write. Made
// chunked by the flush that ends writeWithin, its end was a second write
// (and a second read for the client) after the handler returned.
func TestScrapeResponseHasItsLength(t *testing.T) {
	srv := newTestServer(t, 0, unitsOf{})
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	for _, encoding := range []string{"gzip", ""} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if encoding != "" {
			req.Header.Set("Accept-Encoding", encoding)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Fatalf("Accept-Encoding %q: status %d, %d bytes", encoding, resp.StatusCode, len(body))
		}
		if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) > 0 {
			t.Errorf("Accept-Encoding %q: Content-Length %d, Transfer-Encoding %q for a %d-byte body; want its length, not chunked",
				encoding, resp.ContentLength, resp.TransferEncoding, len(body))
		}
	}
}

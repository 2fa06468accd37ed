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
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// All servers here are real sockets on loopback.

func re(expr string) *config.Regexp { return &config.Regexp{Regexp: regexp.MustCompile(expr)} }

func probeOf(target string, timeout time.Duration, steps ...config.Step) *config.Probe {
	return &config.Probe{Target: target, Timeout: model.Duration(timeout), IPProtocol: "auto", QueryResponse: steps}
}

func runProbe(t *testing.T, p *config.Probe) Result {
	t.Helper()
	return New(Options{}).Probe(context.Background(), "c", p)
}

func wantResult(t *testing.T, name string, r Result, success bool, reason string) {
	t.Helper()
	if r.Success != success || (!success && string(r.Reason) != reason) {
		t.Errorf("%s: success %v reason %q (err %v), want success %v reason %q", name, r.Success, r.Reason, r.Err, success, reason)
	}
}

// fullBacklogAddr returns a loopback listener whose accept queue is full:
// further SYNs are dropped, so a connect times out.
func fullBacklogAddr(t *testing.T) string {
	t.Helper()
	// Not SOCK_CLOEXEC, which only some systems take at creation: this
	// package's tests start no processes the fd could leak into.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.CloseOnExec(fd)
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	// Fill the queue (backlog 0 still admits one), never accepting.
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

func selfSignedTLS(t *testing.T, dir string, dnsNames ...string) (tls.Certificate, string, time.Time) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	notAfter := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "warden probe test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: append([]string{"localhost"}, dnsNames...),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caPath := filepath.Join(dir, "ca.pem")
	os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caPath, notAfter
}

func TestProbeAgainstRealServers(t *testing.T) {
	accepting := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(net.Conn) {})
	silent := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { time.Sleep(5 * time.Second) })
	banner := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { fmt.Fprint(c, "220 mail.example ESMTP\r\n"); time.Sleep(5 * time.Second) })
	wrongThenClose := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { fmt.Fprint(c, "HELLO\r\n") })
	resetter := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		c.(*net.TCPConn).SetLinger(0) // close with RST
	})
	echo := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		// A token server: greets with a token, accepts it back.
		fmt.Fprint(c, "TOKEN abc123\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		if line == "AUTH abc123\r\n" {
			fmt.Fprint(c, "OK\r\n")
		} else {
			fmt.Fprintf(c, "DENIED %q\r\n", line)
		}
	})
	v6 := testenv.Serve(t, "tcp6", "[::1]:0", func(net.Conn) {})
	closed := testenv.FreeLoopbackAddr(t)

	wantResult(t, "accepting", runProbe(t, probeOf(accepting, 2*time.Second)), true, "")
	r := runProbe(t, probeOf(accepting, 2*time.Second))
	if r.Connect <= 0 || r.Duration < r.Connect {
		t.Errorf("durations: connect %v total %v", r.Connect, r.Duration)
	}
	wantResult(t, "closed port", runProbe(t, probeOf(closed, 2*time.Second)), false, "refused")
	wantResult(t, "full backlog", runProbe(t, probeOf(fullBacklogAddr(t), 500*time.Millisecond)), false, "timeout")
	wantResult(t, "never speaks", runProbe(t, probeOf(silent, 300*time.Millisecond, config.Step{Expect: re("^220")})), false, "timeout")
	wantResult(t, "banner", runProbe(t, probeOf(banner, 2*time.Second, config.Step{Expect: re(`^220 .*ESMTP`)})), true, "")
	wantResult(t, "wrong banner, then kept open", runProbe(t, probeOf(banner, 300*time.Millisecond, config.Step{Expect: re("^SSH-2.0")})), false, "expect")
	wantResult(t, "wrong banner, then closed", runProbe(t, probeOf(wrongThenClose, 2*time.Second, config.Step{Expect: re("^OK")})), false, "expect")
	wantResult(t, "reset", runProbe(t, probeOf(resetter, 2*time.Second, config.Step{Expect: re("^OK")})), false, "reset")
	wantResult(t, "captured group in a later send", runProbe(t, probeOf(echo, 2*time.Second,
		config.Step{Expect: re(`^TOKEN (\w+)`)}, config.Step{Send: "AUTH ${1}\r\n"}, config.Step{Expect: re(`OK`)})), true, "")
	wantResult(t, "IPv6 loopback", runProbe(t, probeOf(v6, 2*time.Second)), true, "")
	wantResult(t, "a name that does not resolve", runProbe(t, probeOf("warden-probe-test.invalid:80", 2*time.Second)), false, "dns")

	t.Run("http HEAD", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		defer srv.Close()
		p := probeOf(strings.TrimPrefix(srv.URL, "http://"), 2*time.Second,
			config.Step{Send: "HEAD / HTTP/1.0\r\n\r\n"}, config.Step{Expect: re(`^HTTP/1\.[01] [23]`)})
		wantResult(t, "http", runProbe(t, p), true, "")
	})

	t.Run("TLS", func(t *testing.T) {
		dir := t.TempDir()
		cert, caPath, notAfter := selfSignedTLS(t, dir)
		addr := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
			if tc.Handshake() == nil {
				fmt.Fprint(tc, "+READY\r\n")
			}
		})
		p := probeOf(addr, 2*time.Second)
		p.TLS = true
		wantResult(t, "self-signed, not trusted", runProbe(t, p), false, "tls")

		p.TLSConfig = &config.TLSConfig{CAFile: caPath}
		p.QueryResponse = []config.Step{{Expect: re(`^\+READY`)}}
		r := runProbe(t, p)
		wantResult(t, "with the CA", r, true, "")
		if !r.CertExpiry.Equal(notAfter) {
			t.Errorf("cert expiry %v, want %v", r.CertExpiry, notAfter)
		}
		p.TLSConfig = &config.TLSConfig{CAFile: caPath, ServerName: "wrong.example"}
		wantResult(t, "wrong server name", runProbe(t, p), false, "tls")
	})

	t.Run("STARTTLS smtp", func(t *testing.T) {
		dir := t.TempDir()
		cert, caPath, _ := selfSignedTLS(t, dir)
		addr := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
			br := bufio.NewReader(c)
			fmt.Fprint(c, "220 mx ESMTP\r\n")
			br.ReadString('\n') // EHLO
			fmt.Fprint(c, "250-mx\r\n250 STARTTLS\r\n")
			br.ReadString('\n') // STARTTLS
			fmt.Fprint(c, "220 go ahead\r\n")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
			if tc.Handshake() == nil {
				fmt.Fprint(tc, "250 still here\r\n")
			}
		})
		p := probeOf(addr, 2*time.Second, config.Step{Send: "NOOP\r\n"}, config.Step{Expect: re(`^250`)})
		p.TLS, p.StartTLS = true, "smtp"
		p.TLSConfig = &config.TLSConfig{CAFile: caPath}
		wantResult(t, "starttls", runProbe(t, p), true, "")
	})

	t.Run("STARTTLS against hostile peers: bounded reads", func(t *testing.T) {
		endless := func(unit string) func(net.Conn) {
			return func(c net.Conn) {
				chunk := []byte(strings.Repeat(unit, 64<<10/len(unit)))
				for {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}
		}
		for _, tc := range []struct {
			name string
			peer func(net.Conn)
		}{
			{"bytes without a newline", endless("x")},
			{"an endless multi-line greeting", endless("220-still greeting\r\n")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				addr := testenv.Serve(t, "tcp4", "127.0.0.1:0", tc.peer)
				p := probeOf(addr, 2*time.Second)
				p.TLS, p.StartTLS = true, "smtp"
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				r := runProbe(t, p)
				runtime.ReadMemStats(&after)
				// "expect", not "timeout": it stopped at the bound.
				wantResult(t, tc.name, r, false, "expect")
				// Before the bound: hundreds of MB in one probe.
				if grown := after.TotalAlloc - before.TotalAlloc; grown > 4<<20 {
					t.Errorf("the probe allocated %d KiB reading a hostile SMTP peer, want < 4 MiB", grown>>10)
				}
			})
		}
	})

	t.Run("address families", func(t *testing.T) {
		// A name with both families, as a dual-stack host's: the resolver
		// seam answers it; the dials are real, and only 127.0.0.1 listens.
		src := New(Options{Resolver: staticResolver{"dual.test": {
			netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1"),
		}}})
		port := strings.TrimPrefix(accepting, "127.0.0.1:")
		p := probeOf("dual.test:"+port, 2*time.Second)
		run := func() Result { return src.Probe(context.Background(), "c", p) }
		p.IPProtocol = "ip4"
		wantResult(t, "ip4", run(), true, "")
		p.IPProtocol = "ip6"
		wantResult(t, "ip6", run(), false, "refused")
		p.IPProtocol, p.AllAddresses = "auto", true
		wantResult(t, "all addresses, one refuses", run(), false, "refused")
		p.AllAddresses = false
		wantResult(t, "auto: ::1 first, refused, falls back to 127.0.0.1", run(), true, "")
		p.Target = "nothing.test:" + port
		wantResult(t, "no address", run(), false, "dns")
	})

	t.Run("source address", func(t *testing.T) {
		got := make(chan string, 1)
		addr := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { got <- c.RemoteAddr().(*net.TCPAddr).IP.String() })
		p := probeOf(addr, 2*time.Second)
		p.SourceAddress = "127.0.0.2"
		wantResult(t, "source address", runProbe(t, p), true, "")
		select {
		case ip := <-got:
			if ip != "127.0.0.2" {
				t.Errorf("the server saw %s", ip)
			}
		case <-time.After(5 * time.Second):
			t.Error("the server never saw the probe")
		}
	})
}

// staticResolver answers from a table, as a resolver seam for names with
// both address families.
type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	addrs, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return addrs, nil
}

func TestProbesRunConcurrentlyWithinTheScrape(t *testing.T) {
	silent := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { time.Sleep(5 * time.Second) })
	accepting := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(net.Conn) {})
	cfg := &config.Config{}
	for i := range 20 {
		target := accepting
		var steps []config.Step
		if i%5 == 0 {
			target, steps = silent, []config.Step{{Expect: re("never")}}
		}
		cfg.Checks = append(cfg.Checks, config.Check{Name: "c" + strconv.Itoa(i), Probes: []config.Probe{*probeOf(target, 300*time.Millisecond, steps...)}})
	}
	src := New(Options{Concurrency: 16})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := src.Run(ctx, Jobs(cfg))
	ok, timedOut := 0, 0
	for _, x := range res {
		if x.Success {
			ok++
		} else if x.Reason == "timeout" {
			timedOut++
		}
	}
	if ok != 16 || timedOut != 4 {
		t.Errorf("ok %d timeouts %d, want 16 and 4", ok, timedOut)
	}
	// The scrape's deadline bounds every probe, whatever its own timeout.
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	slow := &config.Config{Checks: []config.Check{{Name: "slow", Probes: []config.Probe{*probeOf(silent, time.Minute, config.Step{Expect: re("never")})}}}}
	start := time.Now()
	if x := src.Run(short, Jobs(slow))[0]; x.Success || x.Reason != "timeout" || time.Since(start) > 10*time.Second {
		t.Errorf("a probe must end with the scrape: %+v after %v", x, time.Since(start))
	}
}

func TestProbesCloseEveryConnection(t *testing.T) {
	accepting := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(net.Conn) {})
	closed := testenv.FreeLoopbackAddr(t)
	cfg := &config.Config{Checks: []config.Check{{Name: "x", Probes: []config.Probe{
		*probeOf(accepting, time.Second), *probeOf(closed, time.Second),
	}}}}
	src := New(Options{})
	before := testenv.CountFDs(t)
	for range 10000 {
		src.Run(context.Background(), Jobs(cfg))
	}
	// Let the server goroutines close their ends.
	deadline := time.Now().Add(10 * time.Second)
	for testenv.CountFDs(t) > before+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after := testenv.CountFDs(t); after > before+5 {
		t.Errorf("fds grew over 10,000 scrapes: %d -> %d", before, after)
	}
}

func TestClassify(t *testing.T) {
	for err, want := range map[error]Reason{
		fail("dns", fmt.Errorf("x")):                  "dns",
		&net.DNSError{Err: "no such host"}:            "dns",
		fmt.Errorf("dial: %w", unix.ECONNREFUSED):     "refused",
		fmt.Errorf("read: %w", unix.ECONNRESET):       "reset",
		fmt.Errorf("i/o: %w", os.ErrDeadlineExceeded): "timeout",
		fail("expect", os.ErrDeadlineExceeded):        "expect",
		fail("tls", fmt.Errorf("bad")):                "tls",
		x509.UnknownAuthorityError{}:                  "tls",
		fmt.Errorf("weird"):                           "other",
	} {
		if got := classify(err); got != want {
			t.Errorf("classify(%v) = %s, want %s", err, got, want)
		}
	}
}

// TestProbeRealRedis runs a real redis-server from Debian on loopback and
// probes it with the PING/PONG exchange of config.example.yml.
func TestProbeRealRedis(t *testing.T) {
	redis := testenv.LookPath(t, "redis-server", "apt-get install redis-server")
	addr := testenv.FreeLoopbackAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	cmd := exec.Command(redis, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := probeOf(addr, time.Second, config.Step{Send: "PING\r\n"}, config.Step{Expect: re(`^\+PONG`)})
	deadline := time.Now().Add(15 * time.Second)
	var r Result
	for {
		if r = runProbe(t, p); r.Success || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantResult(t, "redis PING", r, true, "")
	p.QueryResponse = []config.Step{{Send: "PING\r\n"}, {Expect: re(`^\+PANG`)}}
	wantResult(t, "redis wrong reply", runProbe(t, p), false, "expect")

}

// A send_file step sends the file's content as loaded with the config,
// with the same ${n} expansion as send: the server receives exactly that.
func TestProbeSendsSendFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "auth.txt"), []byte("AUTH ${1} hunter2\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	addr := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		fmt.Fprint(c, "TOKEN abc123\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		got <- line
		if line == "AUTH abc123 hunter2\r\n" {
			fmt.Fprint(c, "+OK\r\n")
		}
	})
	cfg, err := config.Parse([]byte("checks:\n  - name: a\n    probes:\n      - target: '"+addr+"'\n        query_response:\n"+
		"          - expect: '^TOKEN (\\w+)\\r\\n'\n          - send_file: auth.txt\n          - expect: '^\\+OK'\n"), filepath.Join(dir, "c.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// The file may change or go: what was loaded is sent.
	os.Remove(filepath.Join(dir, "auth.txt"))
	wantResult(t, "send_file", runProbe(t, &cfg.Checks[0].Probes[0]), true, "")
	select {
	case line := <-got:
		if line != "AUTH abc123 hunter2\r\n" {
			t.Errorf("the server received %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server received nothing within 10s")
	}
}

// The exchanges config.example.yml ships must work against real servers of
// their kind: an HTTP server, an SMTP-like banner, an FTP-like banner.
func TestExampleConfigExchanges(t *testing.T) {
	cfg, err := config.Load("../../config.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	steps := func(check string, probe int) []config.Step {
		for _, c := range cfg.Checks {
			if c.Name == check {
				return c.Probes[probe].QueryResponse
			}
		}
		t.Fatalf("no check %s in the example", check)
		return nil
	}
	web := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer web.Close()
	smtp := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) { fmt.Fprint(c, "220 mx.example ESMTP Postfix\r\n"); time.Sleep(time.Second) })
	ftp := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		fmt.Fprint(c, "220 (vsFTPd 3.0.3)\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		if line == "QUIT\r\n" {
			fmt.Fprint(c, "221 Goodbye.\r\n")
		}
	})
	for _, tc := range []struct {
		check, target string
	}{
		{"web-http", strings.TrimPrefix(web.URL, "http://")},
		{"mail", smtp},
		{"ftp", ftp},
	} {
		wantResult(t, tc.check, runProbe(t, probeOf(tc.target, 2*time.Second, steps(tc.check, 0)...)), true, "")
	}
}

// A peer that dribbles one byte per write must not make the expect regex
// run over the whole buffer after every byte: the old reader scanned
// 64 KiB of dribble 65,536 times (2 GiB of regex input, 7.2 s of CPU).
func TestDribblingPeerIsScannedGeometrically(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		server.SetDeadline(time.Now().Add(30 * time.Second))
		one := []byte{'x'}
		for range maxExpectBuffer {
			if _, err := server.Write(one); err != nil {
				return
			}
		}
		io.Copy(io.Discard, server)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	x := newExchange(ctx, client)
	done := make(chan error, 1)
	go func() { done <- x.expect(re("never")) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the expect step did not end")
	}
	if classify(err) != "expect" {
		t.Fatalf("err %v (%s), want the buffer limit (expect)", err, classify(err))
	}
	if limit := 8 * maxExpectBuffer; x.scanned > limit {
		t.Errorf("the regex ran over %d bytes of a %d-byte dribble, want ≤ %d", x.scanned, maxExpectBuffer, limit)
	}
	t.Logf("scanned %d bytes for a %d-byte dribble", x.scanned, maxExpectBuffer)
}

// The answer's last part can be too small for the growth rule to scan it
// again: the pause after it does, and the probe matches long before its
// deadline.
func TestAnswerTailIsMatchedAtThePause(t *testing.T) {
	addr := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		c.(*net.TCPConn).SetNoDelay(true)
		c.Write([]byte(strings.Repeat("# banner line\r\n", 100)))
		time.Sleep(50 * time.Millisecond)
		c.Write([]byte("+PONG\r\n"))
		time.Sleep(20 * time.Second)
	})
	r := runProbe(t, probeOf(addr, 15*time.Second, config.Step{Expect: re(`(?m)^\+PONG`)}))
	wantResult(t, "tail after a banner", r, true, "")
	if r.Duration > 10*time.Second {
		t.Errorf("matched only after %v: the pause must trigger a scan", r.Duration)
	}
}

// staticDialer fails every dial with err.
type staticDialer struct{ err error }

func (d staticDialer) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, d.err
}

// A probe's error quotes what the peer sent, and ends up in /checks, the
// log and the reason label: its text is valid UTF-8 and bounded, and it
// still unwraps to what happened.
func TestProbeErrorTextIsFitToExport(t *testing.T) {
	t.Run("a certificate with 98 long names", func(t *testing.T) {
		// Go names up to 99 of them in the error: 19,400 bytes here.
		var names []string
		for i := range 98 {
			names = append(names, fmt.Sprintf("n%03d.%s.%s.%s.example", i, strings.Repeat("a", 60), strings.Repeat("b", 60), strings.Repeat("c", 60)))
		}
		cert, caPath, _ := selfSignedTLS(t, t.TempDir(), names...)
		addr := testenv.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
			tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
		})
		p := probeOf(addr, 5*time.Second)
		p.TLS = true
		p.TLSConfig = &config.TLSConfig{CAFile: caPath, ServerName: "wrong.example"}
		r := runProbe(t, p)
		wantResult(t, "wrong server name", r, false, "tls")
		var hostErr x509.HostnameError
		if r.Err == nil || !errors.As(r.Err, &hostErr) {
			t.Fatalf("err %v: want an x509.HostnameError inside", r.Err)
		}
		if full := hostErr.Error(); len(full) < 10*maxErrorText {
			t.Fatalf("the premise: the peer's error is %d bytes, want a long one", len(full))
		}
		if text := r.Err.Error(); len(text) > maxErrorText || !strings.Contains(text, "x509: certificate is valid for localhost, n000.") {
			t.Errorf("error text of %d bytes (want at most %d, its start kept): %.200q", len(text), maxErrorText, text)
		}
	})
	t.Run("bytes that are not UTF-8", func(t *testing.T) {
		dialErr := fmt.Errorf("dial: %w: \xff\xfeevil", syscall.ECONNREFUSED)
		r := New(Options{NewDialer: func(net.Addr) Dialer { return staticDialer{dialErr} }}).Probe(context.Background(), "c", probeOf("127.0.0.1:1", time.Second))
		wantResult(t, "refused", r, false, "refused")
		if text := r.Err.Error(); text != "dial: connection refused: \uFFFDevil" {
			t.Errorf("error text %q, want valid UTF-8", text)
		}
		if !errors.Is(r.Err, syscall.ECONNREFUSED) {
			t.Error("the cleaned error no longer unwraps to what happened")
		}
	})
}

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

// Hostile and careless clients of the HTTP side (issue #12): each test
// here failed on the code before its fix.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/common/model"

	"github.com/warden-exporter/warden_exporter/collector"
	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/selfmetrics"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// newHandlerServer serves newHandler over a real loopback listener, with
// the config cfg (nil: the embedded default) and the given sources.
func newHandlerServer(t *testing.T, opts serverOptions, cfg *config.Config, layers collector.Options) (*httptest.Server, *selfmetrics.Registry) {
	t.Helper()
	return serveHandler(t, opts, "", cfg, layers, nil)
}

// serveHandler serves newHandler on a reloader of the file at path ("":
// the embedded default, replaced by cfg when it is not nil).
//
// layers are the Exporter's options: its Logger and Config are set here.
//
// listener, when not nil, is the one the server accepts on.
func serveHandler(t *testing.T, opts serverOptions, path string, cfg *config.Config, layers collector.Options, listener net.Listener) (*httptest.Server, *selfmetrics.Registry) {
	t.Helper()
	logger := log.NewNopLogger()
	reg := selfmetrics.NewRegistry()
	rl := newReloader(path, logger, reg)
	if err := rl.Reload(); err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		rl.current.Store(cfg)
	}
	layers.Logger, layers.Config = logger, rl.Config
	exp, err := collector.New(layers)
	if err != nil {
		t.Fatal(err)
	}
	if opts.telemetryPath == "" {
		opts.telemetryPath = "/metrics"
	}
	if opts.timeoutOffset == 0 {
		opts.timeoutOffset = 500 * time.Millisecond
	}
	if opts.defaultTimeout == 0 {
		opts.defaultTimeout = 9500 * time.Millisecond
	}
	srv := httptest.NewUnstartedServer(newHandler(opts, exp, reg, rl, logger))
	if listener != nil {
		srv.Listener.Close()
		srv.Listener = listener
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, reg
}

// smallSendBufferListener listens on loopback with SO_SNDBUF set, which
// the kernel doubles, fixes (no autotuning) and passes to every accepted
// connection. It returns the effective size. Left to autotuning, a
// connection's send buffer grows to net.ipv4.tcp_wmem's maximum: 4 MiB on
// one machine of ours, so a 3 MB response was taken whole by the kernel
// and a client that never read was never cut off.
func smallSendBufferListener(t *testing.T, size int) (net.Listener, int) {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, size)
		}); err != nil {
			return err
		}
		return serr
	}}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening with SO_SNDBUF %d: %v", size, err)
	}
	raw, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	}); err != nil || gerr != nil {
		t.Fatalf("reading SO_SNDBUF back: %v %v", err, gerr)
	}
	return l, got
}

// bigListeners reads n listeners on long IPv6 addresses: with no cap on
// the inventory, a response larger than any socket buffer (~100 bytes a
// series), like the inventory of a busy host.
type bigListeners struct{ n int }

func (b bigListeners) Read(context.Context) (*listeners.Reading, error) {
	ls := make([]listeners.Listener, b.n)
	for i := range ls {
		ls[i] = listeners.Listener{Proto: "tcp", Addr: netip.MustParseAddr("fd00:1234:5678:9abc:def0:1234:5678:9abc"), Port: uint16(i + 1), IPv6: true}
	}
	return &listeners.Reading{Listeners: ls, Backend: "netlink"}, nil
}

func (bigListeners) InNetnsOf(context.Context, int) ([]listeners.Listener, uint64, error) {
	return nil, 0, errors.New("no namespaces here")
}

// bigResponse is an exporter whose /metrics is seriesCount inventory
// series.
func bigResponse(seriesCount int) collector.Options {
	return collector.Options{Listeners: bigListeners{n: seriesCount}, MaxListenerSeries: -1}
}

// Clients that ask for /metrics and never read must not hold the
// --web.max-requests slots: the slot is freed once the response is ready,
// and a client that does not take it within --web.write-timeout loses its
// connection. (Before: every slot stayed taken and every scrape got 503
// for as long as the readers stayed.)
func TestSlowReadersDoNotLockOutScrapes(t *testing.T) {
	const slots = 4
	const seriesCount = 40000 // ~3 MB
	// The premise, made rather than assumed: the response is many times
	// what the kernel holds for a connection (the server's send buffer,
	// fixed here, and the client's receive buffer, 4 KiB asked), so a
	// client that does not read blocks the server's write.
	serve := func(t *testing.T, opts serverOptions) (*httptest.Server, *selfmetrics.Registry) {
		l, sndbuf := smallSendBufferListener(t, 64<<10)
		if held := sndbuf + 2*4096; seriesCount*75 < 8*held {
			t.Fatalf("a %d-byte send buffer: the response (~%d bytes) is not many times what the kernel holds (%d)", sndbuf, seriesCount*75, held)
		}
		return serveHandler(t, opts, "", nil, bigResponse(seriesCount), l)
	}
	askAndNeverRead := func(t *testing.T, srv *httptest.Server, reg *selfmetrics.Registry, n int) []net.Conn {
		var conns []net.Conn
		for range n {
			c := testenv.DialNonReader(t, srv.Listener.Addr().String())
			fmt.Fprint(c, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n")
			conns = append(conns, c)
		}
		// Wait (bounded) until their requests are all in the handler.
		deadline := time.Now().Add(20 * time.Second)
		for inFlight(reg) < float64(n) {
			if time.Now().After(deadline) {
				t.Fatalf("the non-reading clients' requests did not arrive (in flight: %v)", inFlight(reg))
			}
			time.Sleep(10 * time.Millisecond)
		}
		return conns
	}

	t.Run("their slots are freed once the response is ready", func(t *testing.T) {
		srv, reg := serve(t, serverOptions{maxRequests: slots, writeTimeout: time.Minute})
		conns := askAndNeverRead(t, srv, reg, slots)
		// Each is being answered (its status line came) and not reading.
		for i, c := range conns {
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			status := make([]byte, len("HTTP/1.1 200"))
			if _, err := io.ReadFull(c, status); err != nil || string(status) != "HTTP/1.1 200" {
				t.Fatalf("client %d: %q %v", i, status, err)
			}
		}
		for i := range 5 {
			code, body := get(t, srv.URL+"/metrics")
			if code != http.StatusOK || !strings.Contains(body, "warden_listener_info") {
				t.Fatalf("scrape %d beside %d clients that never read: %d %.200q", i, slots, code, body)
			}
		}
		for _, c := range conns {
			c.Close()
		}
	})

	t.Run("a client that does not read is cut off after the write timeout", func(t *testing.T) {
		srv, reg := serve(t, serverOptions{maxRequests: slots, writeTimeout: time.Second})
		conns := askAndNeverRead(t, srv, reg, 2)
		// The response is being written once its status line arrives
		// (building 40,000 series takes seconds under -race): from then
		// on, not reading for longer than the write timeout.
		for i, c := range conns {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			status := make([]byte, len("HTTP/1.1 200"))
			if _, err := io.ReadFull(c, status); err != nil || string(status) != "HTTP/1.1 200" {
				t.Fatalf("client %d: %q %v", i, status, err)
			}
		}
		time.Sleep(2 * time.Second) // past the write timeout, not reading
		for i, c := range conns {
			// Draining ends (the server closed it) with less than the
			// whole response.
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := io.Copy(io.Discard, c)
			if isTimeout(err) {
				t.Fatalf("client %d that never read is still connected after 30 s", i)
			}
			if n >= seriesCount*80 {
				t.Errorf("client %d got the whole response (%d bytes): the write timeout did not cut it", i, n)
			}
		}
	})
}

func inFlight(reg *selfmetrics.Registry) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "promhttp_metric_handler_requests_in_flight" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

// /checks runs every probe: it goes through --web.max-requests and shares
// the evaluation in progress, with other /checks and with scrapes. (Before:
// 200 parallel GET /checks against 10 probes opened 2,000 connections.)
// The probes answer only once every request has arrived, so the limit is
// certain, not a race: 40 requests hold the slots and wait on the
// evaluation, the other 160 are refused.
func TestChecksShareTheLimitAndTheScrape(t *testing.T) {
	var dials atomic.Int64
	release := make(chan struct{})
	cfg := &config.Config{}
	for i := range 10 {
		cfg.Checks = append(cfg.Checks, config.Check{Name: "c" + strconv.Itoa(i), Probes: []config.Probe{{
			Target: countingServer(t, &dials, "+PONG\r\n", release), Timeout: model.Duration(9 * time.Second), IPProtocol: "auto",
			QueryResponse: []config.Step{{Expect: &config.Regexp{Regexp: regexp.MustCompile(`PONG`)}}},
		}}})
	}
	const limit, clients = 40, 200
	srv, _ := newHandlerServer(t, serverOptions{maxRequests: limit}, cfg, collector.Options{Probes: probe.New(probe.Options{})})
	codes := make(chan int, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/checks"
			if i%4 == 0 {
				path = "/metrics"
			}
			resp, err := httpClient.Get(srv.URL + path)
			if err != nil {
				codes <- -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	count := map[int]int{}
	for range clients - limit { // the refused ones answer at once
		select {
		case c := <-codes:
			count[c]++
		case <-time.After(30 * time.Second):
			t.Fatalf("only %v answered while the evaluation waits: want %d refusals", count, clients-limit)
		}
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		count[c]++
	}
	if count[200] != limit || count[503] != clients-limit {
		t.Errorf("status codes %v: want %d × 200 (the limit) and %d × 503", count, limit, clients-limit)
	}
	// One evaluation, or a few: a request whose deadline is earlier than
	// the one in progress (two requests computing theirs in one order and
	// reaching the Exporter in the other) starts its own rather than wait
	// past its deadline.
	if n := dials.Load(); n < 10 || n > 50 {
		t.Errorf("%d dials for %d requests against 10 probes, want 10 to 50: /checks and /metrics share the evaluation", n, clients)
	}
}

// panicUnits panics while the units are read, with text that must reach
// the log but never a client.
type panicUnits struct{}

func (panicUnits) Snapshot(context.Context, []string) (*systemd.Snapshot, error) {
	panic("secret-internal-state")
}

func TestChecksShowNoStackTraceToClients(t *testing.T) {
	cfg := &config.Config{Checks: []config.Check{{Name: "web", Unit: "web.service"}}}
	srv, _ := newHandlerServer(t, serverOptions{maxRequests: 4}, cfg, collector.Options{Systemd: panicUnits{}})
	// A layer that panics is that layer's failure: its checks are unknown,
	// the scrape and /checks are served, and the panic stays in the log.
	code, body := get(t, srv.URL+"/checks")
	if code != http.StatusOK || !strings.Contains(body, `"status": "unknown"`) {
		t.Fatalf("/checks with a panicking layer: %d, want 200 and the check unknown:\n%s", code, body)
	}
	metricsCode, metrics := get(t, srv.URL+"/metrics")
	if metricsCode != http.StatusOK || !strings.Contains(metrics, `warden_collector_success{collector="systemd"} 0`) {
		t.Fatalf("/metrics with a panicking layer: %d, want 200 and systemd success 0", metricsCode)
	}
	for _, leak := range []string{"secret-internal-state", "goroutine", "stack trace", ".go:"} {
		if strings.Contains(body, leak) || strings.Contains(metrics, leak) {
			t.Errorf("a client is shown %q", leak)
		}
	}
}

// A cross-site form post must not reload the config; curl, config
// managers and same-origin pages still can.
func TestReloadRefusesCrossSitePosts(t *testing.T) {
	srv, _ := newHandlerServer(t, serverOptions{maxRequests: 4, lifecycle: lifecycleOptions{enabled: true}}, nil, collector.Options{})
	post := func(header map[string]string) int {
		return statusOf(t, http.MethodPost, srv.URL+"/-/reload", "x=1",
			maps.All(map[string]string{"Content-Type": "application/x-www-form-urlencoded"}), maps.All(header))
	}
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"curl or a config manager (no browser headers)", nil, http.StatusOK},
		{"a page of the exporter itself", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"a typed URL or bookmark", map[string]string{"Sec-Fetch-Site": "none"}, http.StatusOK},
		{"a cross-site form (modern browser)", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"a same-site other origin", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://other.localhost"}, http.StatusForbidden},
		{"an old browser sending only Origin", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
	} {
		if got := post(tc.header); got != tc.want {
			t.Errorf("%s: POST /-/reload = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// Idle kept-alive connections past --web.max-connections are closed,
// longest-idle first, so they neither pile up goroutines nor lock out a
// new client. (Before: 2,000 idle connections held 2,000 goroutines for
// the 2-minute idle timeout.)
func TestIdleConnectionsAreCapped(t *testing.T) {
	const max, idle = 50, 300
	p := startExporter(t, "--no-collector.systemd", "--no-collector.probes", "--web.max-connections="+strconv.Itoa(max))
	var conns []net.Conn
	for range idle {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// One request, then the connection idles, kept alive.
		fmt.Fprint(c, "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, c)
	}
	// Wait (bounded) until the server answered or closed each: then
	// those it holds are idle.
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			var got []byte
			buf := make([]byte, 512)
			for !strings.Contains(string(got), "Healthy") {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if code, _ := get(t, p.url("/metrics")); code != 200 {
		t.Fatalf("a new client beside %d idle connections got %d", idle, code)
	}
	// The server closed all but max of them: reading each ends, bounded.
	// Drained side by side, each bounded: a read past an expired deadline
	// fails without looking at the socket, so one shared bound read in
	// turn would count closed connections as open.
	var closedCount atomic.Int64
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, c); !isTimeout(err) {
				closedCount.Add(1)
			}
		}()
	}
	wg.Wait()
	closed := int(closedCount.Load())
	t.Logf("closed %d", closed)
	// Our own client's kept-alive connection holds one of the places.
	if closed < idle-max {
		t.Errorf("%d of %d idle connections closed, want at least %d (cap %d)", closed, idle, idle-max, max)
	}
	_, body := get(t, p.url("/metrics"))
	var held, evicted float64
	for _, line := range strings.Split(body, "\n") {
		fmt.Sscanf(line, "warden_web_connections %g", &held)
		fmt.Sscanf(line, "warden_web_connections_evicted_total %g", &evicted)
	}
	t.Logf("held %v evicted %v", held, evicted)
	if held < 1 || held > max || evicted < idle-max {
		t.Errorf("warden_web_connections %v (want 1..%d), warden_web_connections_evicted_total %v (want ≥ %d)", held, max, evicted, idle-max)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// POST /-/forget has a reload's protections: POST only, a check named,
// cross-site refused; an unknown name is a 404.
func TestForgetEndpoint(t *testing.T) {
	srv, _ := newHandlerServer(t, serverOptions{maxRequests: 4, lifecycle: lifecycleOptions{enabled: true}}, nil, collector.Options{})
	do := func(method, path string, header map[string]string) int {
		return statusOf(t, method, srv.URL+path, "", maps.All(header))
	}
	for _, tc := range []struct {
		method, path string
		header       map[string]string
		want         int
	}{
		{http.MethodGet, "/-/forget?check=db.service", nil, http.StatusMethodNotAllowed},
		{http.MethodPost, "/-/forget", nil, http.StatusBadRequest},
		{http.MethodPost, "/-/forget?check=db.service", nil, http.StatusNotFound},
		{http.MethodPost, "/-/forget?check=db.service", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
	} {
		if got := do(tc.method, tc.path, tc.header); got != tc.want {
			t.Errorf("%s %s %v: %d, want %d", tc.method, tc.path, tc.header, got, tc.want)
		}
	}
}

// statusOf sends one request with the given headers and returns its status.
func statusOf(t *testing.T, method, url, body string, headers ...iter.Seq2[string, string]) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		for k, v := range h {
			req.Header.Set(k, v)
		}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

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
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	commonconfig "github.com/prometheus/common/config"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/hosttext"
)

// Reason is why a probe failed: the `reason` label of warden_probe_failure.
type Reason string

// The reasons a probe fails for.
const (
	Refused Reason = "refused"
	Timeout Reason = "timeout"
	DNS     Reason = "dns"
	TLS     Reason = "tls"
	Expect  Reason = "expect"
	Reset   Reason = "reset"
	Other   Reason = "other"
)

// Reasons are the series of warden_probe_failure, in order.
var Reasons = []Reason{Refused, Timeout, DNS, TLS, Expect, Reset, Other}

// Dialer opens connections; *net.Dialer outside tests.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Resolver resolves names; *net.Resolver outside tests.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configures a Prober.
type Options struct {
	// Concurrency bounds the probes running at once in one Run.
	Concurrency int
	Resolver    Resolver
	// NewDialer returns the dialer of a probe; nil for net.Dialer.
	NewDialer func(local net.Addr) Dialer
	Logger    log.Logger
}

// Prober dials the checks' probe targets. Only targets from the config are
// ever dialed: no request parameter names one.
type Prober struct {
	opts Options
}

// New returns a Prober.
func New(opts Options) *Prober {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.NewDialer == nil {
		opts.NewDialer = func(local net.Addr) Dialer { return &net.Dialer{LocalAddr: local} }
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	return &Prober{opts: opts}
}

// Result is the outcome of one probe.
type Result struct {
	Check, Target string
	Success       bool
	Reason        Reason // one of Reasons when !Success
	// Failure is where a failed probe stopped: what stays the same from
	// one run to the next, which Err's text does not (it carries the local
	// port, the clock, the peer's bytes).
	Failure    Failure
	Err        error
	Duration   time.Duration
	Connect    time.Duration
	CertExpiry time.Time // zero unless a TLS handshake saw certificates
	// CutShort says the run was ended by its caller's deadline before the
	// probe's own timeout: it says nothing of the target (a client that
	// asked for a 0.6 s scrape made a 200 ms service "time out"), so it is
	// neither a failure to count nor a result to keep.
	CutShort bool
}

// Job is one probe of one check.
type Job struct {
	Check string
	Probe *config.Probe
}

// Jobs lists every probe of every check of cfg, in config order.
func Jobs(cfg *config.Config) []Job {
	var jobs []Job
	for i := range cfg.Checks {
		for j := range cfg.Checks[i].Probes {
			jobs = append(jobs, Job{cfg.Checks[i].Name, &cfg.Checks[i].Probes[j]})
		}
	}
	return jobs
}

// Run runs jobs, at most Concurrency at once, each bounded by its timeout
// and by ctx; the results are in the jobs' order.
func (s *Prober) Run(ctx context.Context, jobs []Job) []Result {
	// Probes end a little before the scrape does. Cut at the scrape's own
	// deadline, the source returned at that instant and often lost the
	// race with the exporter giving up on it: one hung probe then blanked
	// every probed check (8 scrapes in 10 with a 2 s probe timeout and a
	// 2 s scrape_timeout). A probe that runs out of time is that probe's
	// timeout; the others' results stand.
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-deadlineReserve(time.Until(deadline))))
		defer cancel()
	}
	results := make([]Result, len(jobs))
	sem := make(chan struct{}, s.opts.Concurrency)
	var wg sync.WaitGroup
	for i, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			// Out of time before this probe could start.
			results[i] = Result{Check: j.Check, Target: j.Probe.Target, Reason: Timeout, Failure: Failure{Kind: "not started"}, Err: ctx.Err(), CutShort: true}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = s.Probe(ctx, j.Check, j.Probe)
		}()
	}
	wg.Wait()
	for _, r := range results {
		if !r.Success {
			level.Debug(s.opts.Logger).Log("msg", "probe failed", "check", r.Check, "target", r.Target, "reason", r.Reason, "err", r.Err)
		}
	}
	return results
}

// deadlineReserve is how long before the scrape's deadline the probes
// stop: enough for the source to hand its results over and the exporter to
// judge, emit and encode them (a scheduling hiccup on a busy 2-core host
// is tens of milliseconds). A twentieth of the time left, within 20-250 ms.
func deadlineReserve(left time.Duration) time.Duration {
	return min(max(left/20, 20*time.Millisecond), 250*time.Millisecond)
}

// Probe runs one probe.
func (s *Prober) Probe(ctx context.Context, check string, p *config.Probe) Result {
	start := time.Now()
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, time.Duration(p.Timeout))
	defer cancel()
	r := Result{Check: check, Target: p.Target}
	err := s.run(ctx, p, &r)
	r.Duration = time.Since(start)
	if err != nil {
		r.Err, r.Reason = peerText(err), classify(err)
		r.Failure.Kind = kindOf(r.Reason, err)
		r.CutShort = cutShort(caller, start.Add(time.Duration(p.Timeout)))
		return r
	}
	r.Success, r.Failure = true, Failure{}
	return r
}

// cutShort says a probe that failed was ended by its caller's context
// rather than by its own timeout, which would have come at own. The
// connection's deadline is the caller's, and the netpoller can fire it
// microseconds before the context's timer says so: the deadline is
// compared too, not only the context's error.
func cutShort(caller context.Context, own time.Time) bool {
	if caller.Err() != nil {
		return true
	}
	deadline, ok := caller.Deadline()
	return ok && deadline.Before(own) && !time.Now().Before(deadline)
}

// maxErrorText bounds a probe's error text: it quotes what the peer sent
// (a certificate with 98 names of 195 bytes made one of 19,400 bytes), and
// it is in /checks, the log and the reason.
const maxErrorText = 512

// cleanedError is an error whose text was made fit to export; it unwraps
// to the original.
type cleanedError struct {
	text string
	err  error
}

func (e *cleanedError) Error() string { return e.text }
func (e *cleanedError) Unwrap() error { return e.err }

// peerText returns err with its text valid UTF-8 of at most maxErrorText
// bytes (hosttext): the peer chose part of it, and it ends up in a label
// value.
func peerText(err error) error {
	text := err.Error()
	if clean := hosttext.Clean(text, maxErrorText); clean != text {
		return &cleanedError{text: clean, err: err}
	}
	return err
}

// probeError marks the step that failed, for classification.
type probeError struct {
	reason string
	err    error
}

func (e *probeError) Error() string { return e.err.Error() }
func (e *probeError) Unwrap() error { return e.err }

func fail(reason string, err error) error { return &probeError{reason: reason, err: err} }

func (s *Prober) run(ctx context.Context, p *config.Probe, r *Result) error {
	host, port, err := net.SplitHostPort(p.Target)
	if err != nil {
		return fail("other", err)
	}
	r.Failure = Failure{Phase: PhaseResolve}
	addrs, err := s.resolve(ctx, host, p.IPProtocol)
	if err != nil {
		return err
	}
	var local net.Addr
	if p.SourceAddress != "" {
		a, err := netip.ParseAddr(strings.Trim(p.SourceAddress, "[]"))
		if err != nil {
			return fail("other", err)
		}
		local = &net.TCPAddr{IP: a.AsSlice()}
	}
	dialer := s.opts.NewDialer(local)
	if p.AllAddresses {
		for _, a := range addrs {
			if err := s.probeAddr(ctx, dialer, p, host, a.String(), port, r); err != nil {
				return fmt.Errorf("%s: %w", a, err)
			}
		}
		return nil
	}
	// Without all_addresses, the first family that answers wins: try the
	// addresses of the first one's family, then the others.
	var lastErr error
	for _, a := range orderByFirstFamily(addrs) {
		err := s.probeAddr(ctx, dialer, p, host, a.String(), port, r)
		if err == nil {
			return nil
		}
		lastErr = err
		var pe *probeError
		if !errors.As(err, &pe) || pe.reason != "connect" || ctx.Err() != nil {
			return err // it connected: the answer is this address's
		}
	}
	return lastErr
}

func orderByFirstFamily(addrs []netip.Addr) []netip.Addr {
	if len(addrs) == 0 {
		return nil
	}
	first := addrs[0].Is4()
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a.Is4() == first {
			out = append(out, a)
		}
	}
	for _, a := range addrs {
		if a.Is4() != first {
			out = append(out, a)
		}
	}
	return out
}

// resolve returns the target's addresses of the wanted families. An IP
// literal is not resolved.
func (s *Prober) resolve(ctx context.Context, host, ipProtocol string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	network := "ip"
	switch ipProtocol {
	case "ip4":
		network = "ip4"
	case "ip6":
		network = "ip6"
	}
	addrs, err := s.opts.Resolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, fail("dns", err)
	}
	out := make([]netip.Addr, 0, len(addrs)) // not addrs[:0]: the resolver may share it
	for _, a := range addrs {
		a = a.Unmap()
		if ipProtocol == "ip4" && !a.Is4() || ipProtocol == "ip6" && !a.Is6() {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fail("dns", fmt.Errorf("%s has no %s address", host, network))
	}
	return out, nil
}

// probeAddr dials one address and runs the exchange on it.
func (s *Prober) probeAddr(ctx context.Context, dialer Dialer, p *config.Probe, host, addr, port string, r *Result) error {
	r.Failure = Failure{Phase: PhaseConnect}
	t0 := time.Now()
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(addr, port))
	r.Connect = time.Since(t0)
	if err != nil {
		return &probeError{reason: "connect", err: err}
	}
	defer conn.Close()
	// Every read and write below ends with the probe's deadline.
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	rw := newExchange(ctx, conn)
	if p.TLS {
		if p.StartTLS == "smtp" {
			if err := startTLSSMTP(rw); err != nil {
				r.Failure = rw.at
				return err
			}
		}
		r.Failure = Failure{Phase: PhaseTLS}
		tlsConn, expiry, err := handshake(ctx, conn, p, host)
		if err != nil {
			return err
		}
		r.CertExpiry = expiry
		rw = newExchange(ctx, tlsConn)
	}
	err = rw.run(p.QueryResponse)
	r.Failure = rw.at
	return err
}

func handshake(ctx context.Context, conn net.Conn, p *config.Probe, host string) (*tls.Conn, time.Time, error) {
	var cfg *tls.Config
	if p.TLSConfig != nil {
		var err error
		if cfg, err = commonconfig.NewTLSConfig(p.TLSConfig.Common()); err != nil {
			return nil, time.Time{}, fail("tls", &tlsConfigError{err})
		}
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host // SNI, and the name (or IP) the certificate must carry
	}
	c := tls.Client(conn, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		return nil, time.Time{}, fail("tls", err)
	}
	var earliest time.Time
	st := c.ConnectionState()
	for _, cert := range st.PeerCertificates {
		if earliest.IsZero() || cert.NotAfter.Before(earliest) {
			earliest = cert.NotAfter
		}
	}
	return c, earliest, nil
}

// maxExpectBuffer bounds what an expect step holds while it waits for a
// match: a server that streams forever cannot grow the exporter.
const maxExpectBuffer = 64 << 10

// exchange runs send/expect steps on a connection.
type exchange struct {
	conn   net.Conn
	ctx    context.Context // the probe's: its deadline is the reads'
	buf    []byte          // read, not yet consumed by a match
	groups []byte          // what the last expect matched in, for ${n} in sends
	match  []int
	re     *config.Regexp
	// scanned counts the bytes the expect regexes ran over, to keep the
	// cost of a dribbling peer measurable (FuzzExchange bounds it).
	scanned int
	// at is the step (or STARTTLS reply) running: where a failure stopped.
	at Failure
}

func newExchange(ctx context.Context, c net.Conn) *exchange { return &exchange{conn: c, ctx: ctx} }

func (x *exchange) run(steps []config.Step) error {
	for i, st := range steps {
		x.at = Failure{Phase: PhaseStep, Step: i}
		if st.Expect != nil {
			x.at.Want = st.Expect.String()
			if err := x.expect(st.Expect); err != nil {
				return fmt.Errorf("step %d (expect %q): %w", i, st.Expect.String(), err)
			}
			continue
		}
		if _, err := io.WriteString(x.conn, x.expand(st.Payload())); err != nil {
			return fmt.Errorf("step %d (send): %w", i, err)
		}
	}
	return nil
}

// expand replaces ${1}, ${name} by the groups the last expect captured.
func (x *exchange) expand(send string) string {
	if x.re == nil || !strings.Contains(send, "$") {
		return send
	}
	return string(x.re.Expand(nil, []byte(send), x.groups, x.match))
}

// A regex runs over everything an expect step has read, so running it
// after every read costs O(n²) against a peer that dribbles a byte per
// write: 7.2 s of CPU for one probe. The buffer is scanned again only once
// it has grown by a quarter since the last scan, or when the peer pauses
// (no byte for settleFirst, doubling up to settleMax): a dribble then costs
// O(n log n), and an answer that stops short of the growth rule is matched
// at the first pause.
const (
	settleFirst = 5 * time.Millisecond
	settleMax   = 200 * time.Millisecond
)

// expect reads until re matches what has arrived, then consumes through
// the end of the match.
func (x *exchange) expect(re *config.Regexp) error {
	chunk := make([]byte, 4096)
	var readErr error
	scannedLen := -1 // len(x.buf) at the last scan
	settle := settleFirst
	paused := false
	for {
		grown := len(x.buf) - scannedLen
		if scannedLen < 0 || grown >= max(1, scannedLen/4) || paused || readErr != nil || len(x.buf) >= maxExpectBuffer {
			if grown > 0 || scannedLen < 0 {
				x.scanned += len(x.buf)
				if loc := re.FindSubmatchIndex(x.buf); loc != nil {
					x.groups = append(x.groups[:0], x.buf...)
					x.match, x.re = loc, re
					x.buf = x.buf[loc[1]:]
					return nil
				}
				scannedLen = len(x.buf)
			}
			paused = false
		}
		if len(x.buf) >= maxExpectBuffer {
			return fail("expect", fmt.Errorf("no match in the first %d bytes", maxExpectBuffer))
		}
		if readErr != nil {
			got := fmt.Sprintf("got %q", truncate(x.buf, 80))
			switch {
			case errors.Is(readErr, io.EOF):
				return fail("expect", fmt.Errorf("connection closed, %s", got))
			case isTimeout(readErr) && len(x.buf) > 0:
				// An answer came, and it was not the expected one.
				return fail("expect", fmt.Errorf("%w, %s", readErr, got))
			}
			return readErr
		}
		waitingForPause := len(x.buf) > scannedLen
		if waitingForPause {
			x.readUntil(time.Now().Add(settle))
		}
		var n int
		n, readErr = x.conn.Read(chunk)
		x.buf = append(x.buf, chunk[:n]...)
		if waitingForPause {
			x.readUntil(time.Time{})
			if n == 0 && isTimeout(readErr) && x.ctx.Err() == nil && !x.pastDeadline() {
				// The peer paused, not the probe's time ran out.
				readErr, paused = nil, true
				settle = min(2*settle, settleMax)
			}
		}
	}
}

// readUntil sets the read deadline to t, never past the probe's own
// deadline; the zero time restores the probe's. A probe cancelled
// meanwhile keeps its reads cut (its AfterFunc may have run before us).
func (x *exchange) readUntil(t time.Time) {
	deadline, ok := x.ctx.Deadline()
	if !ok || !t.IsZero() && t.Before(deadline) {
		deadline = t
	}
	x.conn.SetReadDeadline(deadline)
	if x.ctx.Err() != nil {
		x.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

func (x *exchange) pastDeadline() bool {
	deadline, ok := x.ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// SMTP replies before STARTTLS are read within bounds: a line of at most
// maxSMTPLine bytes (RFC 5321 allows 512 for a reply line; we take the
// 1,000 of a text line), and at most maxExpectBuffer bytes for the whole
// exchange. Without them a peer streaming bytes without a newline took
// the exporter from 15 MB to 855 MB in one 500 ms probe.
const maxSMTPLine = 1000

// startTLSSMTP speaks the plain part of SMTP up to STARTTLS.
func startTLSSMTP(x *exchange) error {
	br := bufio.NewReaderSize(x.conn, maxSMTPLine)
	total := 0
	reply := func(code string) error {
		x.at = Failure{Phase: PhaseStartTLS, Want: code}
		for {
			line, err := br.ReadSlice('\n')
			total += len(line)
			switch {
			case errors.Is(err, bufio.ErrBufferFull):
				return fail("expect", fmt.Errorf("starttls: a reply line longer than %d bytes: %q...", maxSMTPLine, truncate(line, 80)))
			case err != nil:
				return fmt.Errorf("starttls: %w", err)
			case total > maxExpectBuffer:
				return fail("expect", fmt.Errorf("starttls: no complete reply in the first %d bytes", maxExpectBuffer))
			}
			if !strings.HasPrefix(string(line), code) {
				return fail("expect", fmt.Errorf("starttls: want %s, got %q", code, strings.TrimSpace(string(truncate(line, 80)))))
			}
			if len(line) < 4 || line[3] != '-' { // the last line of a reply
				return nil
			}
		}
	}
	if err := reply("220"); err != nil {
		return err
	}
	if _, err := io.WriteString(x.conn, "EHLO warden-exporter\r\n"); err != nil {
		return err
	}
	if err := reply("250"); err != nil {
		return err
	}
	if _, err := io.WriteString(x.conn, "STARTTLS\r\n"); err != nil {
		return err
	}
	if err := reply("220"); err != nil {
		return err
	}
	if br.Buffered() > 0 {
		x.at = Failure{Phase: PhaseStartTLS}
		return fail("other", errors.New("starttls: the server sent data before the handshake"))
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

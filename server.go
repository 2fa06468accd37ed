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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/warden-exporter/warden_exporter/collector"
	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/discovery"
	"github.com/warden-exporter/warden_exporter/internal/selfmetrics"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// serverOptions is what the HTTP side needs from the flags.
type serverOptions struct {
	telemetryPath  string
	maxRequests    int
	timeoutOffset  time.Duration
	defaultTimeout time.Duration
	// writeTimeout is how long a client has to take a response once it
	// is ready; 0 means defaultWriteTimeout.
	writeTimeout time.Duration
	// lifecycle guards /-/reload and /-/forget (lifecycle.go).
	lifecycle lifecycleOptions
}

const defaultWriteTimeout = 30 * time.Second

// newHandler routes every endpoint the exporter serves; anything else is a
// plain 404.
func newHandler(opts serverOptions, exporter *collector.Exporter, selfRegistry *selfmetrics.Registry, rl *reloader, logger log.Logger) http.Handler {
	if opts.writeTimeout <= 0 {
		opts.writeTimeout = defaultWriteTimeout
	}
	// /metrics and /checks both read every layer and dial every probe:
	// one limit covers both, and the Exporter shares one evaluation
	// between the requests that arrive while it runs.
	gate := newRequestGate(opts.maxRequests)
	mux := http.NewServeMux()
	mux.Handle(opts.telemetryPath, newMetricsHandler(opts, gate, exporter, selfRegistry, logger))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, r *http.Request) {
		if rl.Config() == nil {
			http.Error(w, "Not ready: no configuration loaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.Handle("/-/reload", opts.lifecycle.guard("Use POST to reload the configuration.", func(w http.ResponseWriter, r *http.Request) {
		if err := rl.Reload(); err != nil {
			http.Error(w, fmt.Sprintf("Reload failed, the previous configuration stays in effect (the log has each error in full):\n%s", config.Summary(err)), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Configuration reloaded.")
	}))
	// POST /-/forget?check=NAME drops what discovery learned of one check
	// (say, a service retired on purpose).
	mux.Handle("/-/forget", opts.lifecycle.guard("Use POST /-/forget?check=NAME to forget a learned check.", func(w http.ResponseWriter, r *http.Request) {
		forget(w, r, exporter, logger)
	}))
	mux.HandleFunc("/checks", func(w http.ResponseWriter, r *http.Request) {
		ev, err := gate.evaluate(r, exporter, opts.defaultTimeout)
		switch {
		case errors.Is(err, errBusy):
			gate.refuse(w)
			return
		case errors.Is(err, collector.ErrNoEvaluationInTime):
			http.Error(w, "No evaluation ended in time (the one in progress was started for a longer deadline); try again.", http.StatusServiceUnavailable)
			return
		case err != nil:
			// The error can carry a recovered panic's stack trace: it is
			// for the operator's log, not for whoever asked.
			level.Error(logger).Log("msg", "evaluating the checks for /checks failed", "err", err)
			http.Error(w, "Evaluating the checks failed; the exporter's log says why.", http.StatusInternalServerError)
			return
		}
		verdicts := ev.Verdicts
		if verdicts == nil {
			verdicts = []verdict.Verdict{}
		}
		var body bytes.Buffer
		enc := json.NewEncoder(&body)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Checks      []verdict.Verdict   `json:"checks"`
			FailedUnits verdict.FailedUnits `json:"failed_units"`
			Learning    discovery.Learning  `json:"learning"`
		}{verdicts, ev.FailedUnits, exporter.Learning()}); err != nil {
			level.Error(logger).Log("msg", "encoding /checks failed", "err", err)
			http.Error(w, "Encoding the checks failed; the exporter's log says why.", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		writeWithin(w, opts.writeTimeout, http.StatusOK, body.Bytes())
	})
	mux.HandleFunc("/config", func(w http.ResponseWriter, r *http.Request) {
		cfg := rl.Config()
		out, err := cfg.YAML()
		if err != nil {
			http.Error(w, fmt.Sprintf("cannot render the configuration: %v", err), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "# source: %s\n", sourceName(cfg))
		w.Write(out)
	})

	mux.Handle("/", &landingPage{
		telemetryPath: opts.telemetryPath,
		timeout:       opts.defaultTimeout,
		writeTimeout:  opts.writeTimeout,
		gate:          gate,
		exporter:      exporter,
		logger:        logger,
		now:           time.Now,
	})
	return securityHeaders(mux)
}

// securityHeaders sets, on every response, the headers that keep a browser
// from sniffing content types or framing the pages; what /checks and
// /config show is current state, never to be cached.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if r.URL.Path == "/checks" || r.URL.Path == "/config" {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// newMetricsHandler serves one scrape per request. The request's deadline
// (from Prometheus's header) bounds the evaluation, which concurrent
// scrapes share through the Exporter (Evaluate); the response is encoded
// once per evaluation and kind of request (evaluationResponses), so
// scrapes that joined one evaluation get the same bytes. The in-flight
// limit lives here, not in promhttp.HandlerOpts.MaxRequestsInFlight,
// because /checks and the landing page share it.
func newMetricsHandler(opts serverOptions, gate *requestGate, exporter *collector.Exporter, selfRegistry *selfmetrics.Registry, logger log.Logger) http.Handler {
	errorLog := promhttpLogger{level.Error(logger)}
	var responses evaluationResponses
	texts := newTextEncoder()
	var inFlight atomic.Int32
	// promhttp registers promhttp_metric_handler_errors_total when a
	// handler is made with the registry; the text path encodes without
	// one, so it is made here, once: the family is served from the first
	// scrape, as before the text path had its own encoder.
	promhttp.HandlerFor(noFamilies, promhttp.HandlerOpts{Registry: selfRegistry})
	// Instrumented outside the limit, so the 503s are counted too.
	return promhttp.InstrumentMetricHandler(selfRegistry, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, ok := gate.acquire()
		if !ok {
			gate.refuse(w)
			return
		}
		var self prometheus.Gatherer = selfRegistry
		if inFlight.Add(1) == 1 {
			// A scrape alone (Prometheus's, every interval) gathers the
			// exporter's own metrics while the evaluation waits on systemd
			// and the kernel, on the other core: the process collector reads
			// /proc (0.09 ms on the 2-core VM; client_golang's was 0.25–0.46
			// ms, a quarter of a default scrape). None of them depends on
			// the evaluation. Scrapes that overlap gather once per
			// evaluation, below, as before.
			self = gatherNow(selfRegistry)
		}
		defer inFlight.Add(-1)
		timeout := scrapeTimeout(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), opts.timeoutOffset, opts.defaultTimeout)
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		ev, err := exporter.Evaluate(ctx)
		if err != nil {
			// No evaluation for this scrape: the one it joined was given
			// more time than this scrape has and had not ended (or it
			// failed). A 503 says so; the exporter's own series alone,
			// with 200, would be a scrape that silently lost every check.
			release()
			level.Debug(logger).Log("msg", "scrape answered 503: no evaluation in time", "timeout", timeout, "err", err)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			writeWithin(w, opts.writeTimeout, http.StatusServiceUnavailable,
				[]byte(fmt.Sprintf("No evaluation ended within this scrape's %s (the one in progress was started for a longer deadline, or failed); the exporter's log says which.\n", timeout)))
			return
		}
		resp := responses.of(ev, r, func() *recorder {
			gatherer := concatGatherers{self, prometheus.GathererFunc(ev.Families)}
			if rec, ok := texts.encode(r, gatherer); ok {
				return rec
			}
			return encode(r, selfRegistry, errorLog, gatherer)
		})
		// The slot covers the scrape, not the client's reading of it: 40
		// clients that asked and never read held every slot while their
		// writes were blocked, and every scrape got 503.
		release()
		if r.Context().Err() != nil {
			return // the client left before the response was ready
		}
		for k, v := range resp.header {
			w.Header()[k] = v
		}
		writeWithin(w, opts.writeTimeout, resp.status, resp.body.Bytes())
	}))
}

// scrapeTimeout derives the time a scrape may take from Prometheus's
// X-Prometheus-Scrape-Timeout-Seconds header, minus offset to leave room for
// encoding and the network. Without a usable header it returns fallback.
// When the offset would leave nothing, it keeps a tenth of the header's
// timeout rather than failing every layer outright.
func scrapeTimeout(header string, offset, fallback time.Duration) time.Duration {
	if header == "" {
		return fallback
	}
	seconds, err := strconv.ParseFloat(header, 64)
	if err != nil || seconds <= 0 || math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		return fallback
	}
	if seconds > 24*3600 {
		seconds = 24 * 3600
	}
	timeout := time.Duration(seconds * float64(time.Second))
	if timeout-offset <= timeout/10 {
		return timeout / 10
	}
	return timeout - offset
}

// evaluationResponses are the responses derived from each evaluation, by
// what the request asked (its Accept and Accept-Encoding headers and
// query): the scrapes that joined one evaluation share its encoding. An
// evaluation's responses live as long as the evaluation does (the requests
// answered from it hold it), not longer: keeping the last four evaluations
// instead held 20 MiB more at peak in bench/load.sh (100 checks, full unit
// series).
type evaluationResponses struct {
	mu   sync.Mutex
	byEv map[weak.Pointer[collector.Evaluation]]map[string]*sharedResponse
}

type sharedResponse struct {
	once sync.Once
	resp *recorder
}

// of returns the response to r from ev, made by build once per evaluation
// and kind of request.
func (c *evaluationResponses) of(ev *collector.Evaluation, r *http.Request, build func() *recorder) *recorder {
	key := r.Header.Get("Accept") + "|" + r.Header.Get("Accept-Encoding") + "|" + r.URL.RawQuery
	evKey := weak.Make(ev)
	c.mu.Lock()
	if c.byEv == nil {
		c.byEv = map[weak.Pointer[collector.Evaluation]]map[string]*sharedResponse{}
	}
	byKey := c.byEv[evKey]
	if byKey == nil {
		byKey = map[string]*sharedResponse{}
		c.byEv[evKey] = byKey
		runtime.AddCleanup(ev, func(k weak.Pointer[collector.Evaluation]) {
			c.mu.Lock()
			defer c.mu.Unlock()
			delete(c.byEv, k)
		}, evKey)
	}
	shared := byKey[key]
	if shared == nil {
		shared = &sharedResponse{}
		byKey[key] = shared
	}
	c.mu.Unlock()
	shared.once.Do(func() { shared.resp = build() })
	return shared.resp
}

// gatherNow starts gathering g and returns the gathering as a Gatherer,
// which waits for it.
func gatherNow(g prometheus.Gatherer) prometheus.Gatherer {
	done := make(chan struct{})
	var mfs []*dto.MetricFamily
	var err error
	go func() {
		defer close(done)
		// On a goroutine of its own a panic would end the process; the
		// registry recovers its collectors' but not its own.
		defer func() {
			if p := recover(); p != nil {
				mfs, err = nil, fmt.Errorf("gathering the exporter's own metrics panicked: %v", p)
			}
		}()
		mfs, err = g.Gather()
	}()
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		<-done
		return mfs, err
	})
}

// encode is the response promhttp gives r for gatherer: its content
// negotiation, compression and error handling, recorded.
func encode(r *http.Request, selfRegistry *selfmetrics.Registry, errorLog promhttp.Logger, gatherer prometheus.Gatherer) *recorder {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorLog:      errorLog,
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      selfRegistry, // promhttp_metric_handler_errors_total
	}).ServeHTTP(rec, r)
	return rec
}

// requestGate is the --web.max-requests limit of the requests that
// evaluate the checks; 0 or less means no limit.
type requestGate struct {
	limit int
	slots chan struct{}
}

func newRequestGate(limit int) *requestGate {
	return &requestGate{limit: limit, slots: make(chan struct{}, max(limit, 1))}
}

// acquire takes a slot without waiting: a request over the limit is
// refused at once rather than queued behind a slow layer.
func (g *requestGate) acquire() (release func(), ok bool) {
	if g.limit <= 0 {
		return func() {}, true
	}
	select {
	case g.slots <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-g.slots }) }, true
	default:
		return nil, false
	}
}

// errBusy is gate.verdicts refused by the limit.
var errBusy = errors.New("too many evaluations at once (--web.max-requests)")

// evaluate runs one evaluation for a person's request (/checks, the
// landing page): under the limit of a scrape, sharing the evaluation in
// progress, bounded like a scrape without Prometheus's header.
func (g *requestGate) evaluate(r *http.Request, exporter *collector.Exporter, timeout time.Duration) (*collector.Evaluation, error) {
	release, ok := g.acquire()
	if !ok {
		return nil, errBusy
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	return exporter.Evaluate(ctx)
}

func (g *requestGate) refuse(w http.ResponseWriter) {
	http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", g.limit), http.StatusServiceUnavailable)
}

// writeWithin writes a ready response, giving the client timeout to take
// it: one that does not read loses its connection then, rather than
// holding a goroutine and the response for as long as it likes. The
// deadline is cleared afterwards, because net/http keeps a connection's
// write deadline across kept-alive requests when Server.WriteTimeout is 0
// (it is: a scrape may take as long as Prometheus allows it).
func writeWithin(w http.ResponseWriter, timeout time.Duration, status int, body []byte) {
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(timeout))
	defer rc.SetWriteDeadline(time.Time{})
	// The length said up front: the response then goes out in one write,
	// where the Flush below made it chunked and its end a second write
	// (and a second read for the client) after the handler returned.
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
	// The buffered tail too, within the deadline: after the handler
	// returns, net/http would flush it without one.
	rc.Flush()
}

// recorder is an http.ResponseWriter that keeps the response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

// concatGatherers serves the families of each gatherer one after the other.
// Unlike prometheus.Gatherers it does not merge and re-check every series:
// the two sets have no family name in common (the exporter's own metrics
// against the scrape's), which the tests check with promtool.
type concatGatherers []prometheus.Gatherer

func (g concatGatherers) Gather() ([]*dto.MetricFamily, error) {
	var all []*dto.MetricFamily
	var errs []error
	for _, gatherer := range g {
		mfs, err := gatherer.Gather()
		all = append(all, mfs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	slices.SortFunc(all, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return all, errors.Join(errs...)
}

type promhttpLogger struct{ logger log.Logger }

func (l promhttpLogger) Println(v ...any) { l.logger.Log("msg", fmt.Sprint(v...)) }

// connLimiter caps the connections the server holds (Server.ConnState).
// Past the cap it closes the connection idle the longest, so kept-alive
// connections nobody uses (2,000 of them held 2,000 goroutines for the
// idle timeout) make room for new clients instead of locking them out;
// when none is idle, the new connection is the one closed. Connections
// busy with a request are bounded by the read and write timeouts.
type connLimiter struct {
	max    int
	mu     sync.Mutex
	conns  map[net.Conn]time.Time // open connections → when they went idle (zero: busy)
	closed atomic.Uint64
}

func newConnLimiter(max int) *connLimiter {
	return &connLimiter{max: max, conns: map[net.Conn]time.Time{}}
}

// track is the Server.ConnState hook.
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateNew, http.StateActive:
		l.conns[c] = time.Time{}
	case http.StateIdle:
		l.conns[c] = time.Now()
	case http.StateHijacked, http.StateClosed:
		delete(l.conns, c)
		return
	}
	if state != http.StateNew || l.max <= 0 || len(l.conns) <= l.max {
		return
	}
	victim := c
	var oldest time.Time
	for conn, idleSince := range l.conns {
		if !idleSince.IsZero() && (oldest.IsZero() || idleSince.Before(oldest)) {
			victim, oldest = conn, idleSince
		}
	}
	// Closing makes the connection's own goroutine end and report
	// StateClosed, which removes it; removing it now keeps the count true.
	delete(l.conns, victim)
	l.closed.Add(1)
	victim.Close()
}

// open returns the number of connections held.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

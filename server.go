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
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/warden-exporter/warden_exporter/collector"
	"github.com/warden-exporter/warden_exporter/config"
)

// serverOptions is what the HTTP side needs from the flags.
type serverOptions struct {
	telemetryPath  string
	maxRequests    int
	timeoutOffset  time.Duration
	defaultTimeout time.Duration
}

// newHandler routes every endpoint the exporter serves; anything else is a
// plain 404.
func newHandler(opts serverOptions, exporter *collector.Exporter, selfRegistry *prometheus.Registry, rl *reloader, logger log.Logger) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle(opts.telemetryPath, newMetricsHandler(opts, exporter, selfRegistry, logger))
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
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "Use POST to reload the configuration.", http.StatusMethodNotAllowed)
			return
		}
		if err := rl.Reload(); err != nil {
			http.Error(w, fmt.Sprintf("Reload failed, the previous configuration stays in effect (the log has each error in full):\n%s", config.Summary(err)), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Configuration reloaded.")
	})
	mux.HandleFunc("/checks", func(w http.ResponseWriter, r *http.Request) {
		// A human is asking: the same evaluation as a scrape, bounded like
		// one without Prometheus's header.
		ctx, cancel := context.WithTimeout(r.Context(), opts.defaultTimeout)
		defer cancel()
		verdicts, err := exporter.Verdicts(ctx)
		if err != nil {
			http.Error(w, fmt.Sprintf("evaluating the checks: %v", err), http.StatusInternalServerError)
			return
		}
		if verdicts == nil {
			verdicts = []collector.Verdict{}
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			Checks []collector.Verdict `json:"checks"`
		}{verdicts})
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

	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "warden_exporter",
		Description: "Is each service running, listening where it should, and answering? Which layer failed?",
		Version:     version.Info(),
		ExtraHTML:   checksTableHTML,
		ExtraCSS:    checksTableCSS,
		Links: []web.LandingLinks{
			{Address: "/checks", Text: "Checks", Description: "every check's verdict, per layer, as JSON"},
			{Address: opts.telemetryPath, Text: "Metrics"},
			{Address: "/config", Text: "Configuration", Description: "the configuration in effect, secrets redacted"},
			{Address: "/-/healthy", Text: "Health"},
		},
	})
	if err != nil {
		return nil, err
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		landing.ServeHTTP(w, r)
	})
	return securityHeaders(mux), nil
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

// checksTableHTML renders /checks as a table on the landing page, in the
// browser: the page itself stays static.
const checksTableHTML = `<h2>Checks</h2>
<table id="warden-checks"><thead><tr><th>check</th><th>status</th><th>why</th><th>service</th><th>ports</th><th>probes</th></tr></thead>
<tbody><tr><td colspan="6">loading…</td></tr></tbody></table>
<script>
fetch("/checks").then(r => r.json()).then(d => {
  const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
  const rows = d.checks.map(c => {
    const unit = c.unit ? esc(c.unit.name) + ": " + esc(c.unit.known ? c.unit.active_state + "/" + c.unit.sub_state : "unknown") : "";
    const ports = (c.ports || []).map(p => esc(p.proto + " " + (p.address || "*") + ":" + p.port) + " " +
      (p.known ? (p.listening ? "listening" : "<b>not listening</b>") + (p.owned === "no" ? ", <b>held by " + esc((p.seen || []).map(s => s.owner || "?").join(", ")) + "</b>" : "") : "unknown")).join("<br>");
    const probes = (c.probes || []).map(p => esc(p.target) + " " + (p.known ? (p.success ? "ok" : "<b>" + esc(p.reason) + "</b>") + " " + (p.duration_seconds * 1000).toFixed(1) + " ms" : "unknown")).join("<br>");
    return "<tr class=\"" + esc(c.status) + "\"><td>" + esc(c.check) + (c.implicit ? " <i>(learned)</i>" : "") + "</td><td>" + esc(c.status) + "</td><td>" + esc(c.reason) + "</td><td>" + unit + "</td><td>" + ports + "</td><td>" + probes + "</td></tr>";
  });
  document.querySelector("#warden-checks tbody").innerHTML = rows.join("") || "<tr><td colspan=\"6\">no checks</td></tr>";
}).catch(e => { document.querySelector("#warden-checks tbody").innerHTML = "<tr><td colspan=\"6\">" + e + "</td></tr>"; });
</script>`

const checksTableCSS = `#warden-checks { border-collapse: collapse; margin-top: 1em; }
#warden-checks td, #warden-checks th { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; }
#warden-checks tr.ok td:nth-child(2) { background: #c8f0c8; }
#warden-checks tr:not(.ok) td:nth-child(2) { background: #f8c8c8; }
#warden-checks tr.unknown td:nth-child(2), #warden-checks tr.probe_failed td:nth-child(2) { background: #f8e8b0; }`

// newMetricsHandler serves one scrape per request. Each request gets its own
// gatherer bound to the request's deadline, because a Gatherer has no
// context of its own. For the same reason the in-flight limit lives here:
// promhttp.HandlerOpts.MaxRequestsInFlight counts per handler instance, and
// we build one per request.
func newMetricsHandler(opts serverOptions, exporter *collector.Exporter, selfRegistry *prometheus.Registry, logger log.Logger) http.Handler {
	inFlight := make(chan struct{}, max(opts.maxRequests, 1))
	shared := &sharedResponses{}
	errorLog := promhttpLogger{level.Error(logger)}
	// Instrumented outside the limit, so the 503s are counted too.
	return promhttp.InstrumentMetricHandler(selfRegistry, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.maxRequests > 0 {
			select {
			case inFlight <- struct{}{}:
				defer func() { <-inFlight }()
			default:
				http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", opts.maxRequests), http.StatusServiceUnavailable)
				return
			}
		}
		timeout := collector.ScrapeTimeout(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), opts.timeoutOffset, opts.defaultTimeout)
		deadline := time.Now().Add(timeout)
		shared.serve(w, r, deadline, func(w http.ResponseWriter, r *http.Request) {
			// Detached from the first client: the scrapes that joined it
			// must not fail when it leaves. The deadline bounds it.
			ctx, cancel := context.WithDeadline(context.WithoutCancel(r.Context()), deadline)
			defer cancel()
			promhttp.HandlerFor(concatGatherers{selfRegistry, exporter.Gatherer(ctx)}, promhttp.HandlerOpts{
				ErrorLog:      errorLog,
				ErrorHandling: promhttp.ContinueOnError,
				Registry:      selfRegistry, // promhttp_metric_handler_errors_total
			}).ServeHTTP(w, r.WithContext(ctx))
		})
	}))
}

// sharedResponses lets concurrent scrapes that ask for the same encoding
// share one response: the first gathers and encodes, those arriving while
// it runs (with a deadline no earlier than its) get the same bytes. Every
// response is gathered during its request, never before it. Under load it
// is what keeps latency at about one scrape and CPU flat (bench/load.sh).
type sharedResponses struct {
	mu      sync.Mutex
	flights map[string]*sharedResponse
}

type sharedResponse struct {
	done     chan struct{}
	deadline time.Time
	status   int
	header   http.Header
	body     []byte
}

func (s *sharedResponses) serve(w http.ResponseWriter, r *http.Request, deadline time.Time, produce http.HandlerFunc) {
	key := r.Header.Get("Accept") + "|" + r.Header.Get("Accept-Encoding") + "|" + r.URL.RawQuery
	s.mu.Lock()
	if s.flights == nil {
		s.flights = map[string]*sharedResponse{}
	}
	if f := s.flights[key]; f != nil && !f.deadline.After(deadline) {
		s.mu.Unlock()
		select {
		case <-f.done:
			f.writeTo(w)
		case <-r.Context().Done():
		}
		return
	}
	f := &sharedResponse{done: make(chan struct{}), deadline: deadline}
	s.flights[key] = f
	s.mu.Unlock()

	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	produce(rec, r)
	f.status, f.header, f.body = rec.status, rec.header, rec.body.Bytes()
	close(f.done)
	s.mu.Lock()
	if s.flights[key] == f {
		delete(s.flights, key)
	}
	s.mu.Unlock()
	f.writeTo(w)
}

func (f *sharedResponse) writeTo(w http.ResponseWriter) {
	for k, v := range f.header {
		w.Header()[k] = v
	}
	w.WriteHeader(f.status)
	w.Write(f.body)
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

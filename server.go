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
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/warden-exporter/warden_exporter/collector"
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
			http.Error(w, fmt.Sprintf("Reload failed, the previous configuration stays in effect:\n%v", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Configuration reloaded.")
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
		Links: []web.LandingLinks{
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
	return mux, nil
}

// newMetricsHandler serves one scrape per request. Each request gets its own
// gatherer bound to the request's deadline, because a Gatherer has no
// context of its own. For the same reason the in-flight limit lives here:
// promhttp.HandlerOpts.MaxRequestsInFlight counts per handler instance, and
// we build one per request.
func newMetricsHandler(opts serverOptions, exporter *collector.Exporter, selfRegistry *prometheus.Registry, logger log.Logger) http.Handler {
	inFlight := make(chan struct{}, max(opts.maxRequests, 1))
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
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()

		promhttp.HandlerFor(concatGatherers{selfRegistry, exporter.Gatherer(ctx)}, promhttp.HandlerOpts{
			ErrorLog:      errorLog,
			ErrorHandling: promhttp.ContinueOnError,
			Registry:      selfRegistry, // promhttp_metric_handler_errors_total
		}).ServeHTTP(w, r)
	}))
}

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

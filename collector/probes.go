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
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/probe"
)

// ProbeRunner runs the checks' probes: *probe.Prober outside tests.
type ProbeRunner interface {
	Run(ctx context.Context, jobs []probe.Job) []probe.Result
}

type probesSource struct {
	runner ProbeRunner
	descs  probeDescs
}

type probeDescs struct {
	success, failure, duration, connect, certExpiry *prometheus.Desc
}

func newProbesSource(runner ProbeRunner) *probesSource {
	labels := []string{"check", "target"}
	return &probesSource{runner: runner, descs: probeDescs{
		success: prometheus.NewDesc("warden_probe_success",
			"1 if the last dial (and TLS handshake, and send/expect steps) of the target succeeded.", labels, nil),
		failure: prometheus.NewDesc("warden_probe_failure",
			"Why the probe failed: exactly one reason is 1 on failure, all are 0 on success.", append(labels, "reason"), nil),
		duration: prometheus.NewDesc("warden_probe_duration_seconds",
			"How long the whole probe took.", labels, nil),
		connect: prometheus.NewDesc("warden_probe_connect_duration_seconds",
			"How long the TCP connect took (the last one, with several addresses).", labels, nil),
		certExpiry: prometheus.NewDesc("warden_probe_tls_cert_expiry_timestamp_seconds",
			"The earliest NotAfter of the certificates the TLS server presented, as a Unix time.", labels, nil),
	}}
}

func (s *probesSource) Name() string { return "probes" }

func (s *probesSource) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.descs.success
	ch <- s.descs.failure
	ch <- s.descs.duration
	ch <- s.descs.connect
	ch <- s.descs.certExpiry
}

func (s *probesSource) Update(ctx context.Context, cfg *config.Config) (Reading, error) {
	return &probesReading{source: s, results: s.runner.Run(ctx, probe.Jobs(cfg))}, nil
}

// probesReading is one scrape's probe results.
type probesReading struct {
	source  *probesSource
	results []probe.Result
}

// Collect implements Reading.
func (r *probesReading) Collect(ch chan<- prometheus.Metric) {
	d := r.source.descs
	for _, res := range r.results {
		labels := []string{res.Check, res.Target}
		ok := 0.0
		if res.Success {
			ok = 1
		}
		ch <- prometheus.MustNewConstMetric(d.success, prometheus.GaugeValue, ok, labels...)
		for _, reason := range probe.Reasons {
			v := 0.0
			if !res.Success && res.Reason == reason {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(d.failure, prometheus.GaugeValue, v, res.Check, res.Target, string(reason))
		}
		ch <- prometheus.MustNewConstMetric(d.duration, prometheus.GaugeValue, res.Duration.Seconds(), labels...)
		ch <- prometheus.MustNewConstMetric(d.connect, prometheus.GaugeValue, res.Connect.Seconds(), labels...)
		if !res.CertExpiry.IsZero() {
			ch <- prometheus.MustNewConstMetric(d.certExpiry, prometheus.GaugeValue, float64(res.CertExpiry.Unix()), labels...)
		}
	}
}

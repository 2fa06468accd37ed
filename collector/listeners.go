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
	"github.com/warden-exporter/warden_exporter/internal/listeners"
)

// ListenerReader reads the kernel's listeners: *listeners.Reader outside
// tests.
type ListenerReader interface {
	// Read reads the host's listeners.
	Read(ctx context.Context) (*listeners.Reading, error)
	// InNetnsOf reads those of the network namespace pid is in, and
	// returns the namespace's id.
	InNetnsOf(ctx context.Context, pid int) ([]listeners.Listener, uint64, error)
	// CloseNetnsExcept releases what is kept for namespaces not in used.
	CloseNetnsExcept(used map[uint64]bool)
}

type listenersSource struct {
	reader     ListenerReader
	sourceDesc *prometheus.Desc
}

func newListenersSource(r ListenerReader) *listenersSource {
	return &listenersSource{reader: r, sourceDesc: prometheus.NewDesc("warden_listeners_source_info",
		"Which kernel interface the listener source reads (netlink sock_diag, or /proc/net when netlink is unavailable), and why it fell back.",
		[]string{"source", "fallback_reason"}, nil)}
}

func (s *listenersSource) Name() string                        { return "listeners" }
func (s *listenersSource) Describe(ch chan<- *prometheus.Desc) { ch <- s.sourceDesc }

func (s *listenersSource) Update(ctx context.Context, _ *config.Config) (Reading, error) {
	r, err := s.reader.Read(ctx)
	if err != nil {
		return nil, err
	}
	return &listenersReading{source: s, Reading: r}, nil
}

// listenersReading is one scrape's listeners.
type listenersReading struct {
	source *listenersSource
	*listeners.Reading
}

// Collect implements Reading. The inventory needs owners, so the join
// emits it; this emits only which interface was read.
func (r *listenersReading) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(r.source.sourceDesc, prometheus.GaugeValue, 1, r.Backend, r.Fallback)
}

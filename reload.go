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
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-exporter/warden_exporter/config"
)

// reloader owns the config in effect. Scrapes read it without locking;
// reloads (SIGHUP, POST /-/reload) are serialised and replace it only when
// the new file is valid.
type reloader struct {
	path    string // "" means the embedded default
	logger  log.Logger
	current atomic.Pointer[config.Config]
	mu      sync.Mutex

	lastSuccessful prometheus.Gauge
	lastSuccessAt  prometheus.Gauge
}

func newReloader(path string, logger log.Logger, reg prometheus.Registerer) *reloader {
	r := &reloader{
		path:   path,
		logger: logger,
		lastSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "warden_config_last_reload_successful",
			Help: "1 if the last configuration load or reload succeeded, 0 if it failed (the previous configuration stays in effect).",
		}),
		lastSuccessAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "warden_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load or reload.",
		}),
	}
	reg.MustRegister(r.lastSuccessful, r.lastSuccessAt)
	return r
}

// Config returns the config in effect.
func (r *reloader) Config() *config.Config { return r.current.Load() }

// load reads the config; on success it takes effect. On failure the config
// in effect (if any) stays.
func (r *reloader) load() (*config.Config, error) {
	if r.path == "" {
		return config.Default(), nil
	}
	return config.Load(r.path)
}

// Reload re-reads the config file. The error says why a reload was refused.
func (r *reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := r.load()
	// Parsing built a YAML tree of up to ~25 MB (a file at the size
	// limit); it is garbage now, but the runtime would keep it until its
	// next GC and hand the pages back only slowly, while nothing else in
	// the exporter needs that much. A reload is rare: a forced GC and
	// release cost little.
	debug.FreeOSMemory()
	if err != nil {
		r.lastSuccessful.Set(0)
		msg := "config reload failed, keeping the previous config"
		if r.current.Load() == nil { // at start-up there is none: the exporter exits
			msg = "cannot load the config, not starting"
		}
		level.Error(r.logger).Log("msg", msg, "file", r.path, "err", err)
		return err
	}
	r.current.Store(cfg)
	r.lastSuccessful.Set(1)
	r.lastSuccessAt.Set(float64(time.Now().UnixNano()) / 1e9)
	level.Info(r.logger).Log("msg", "config loaded", "file", sourceName(cfg), "checks", len(cfg.Checks), "discovery", cfg.Discovery.Enabled)
	return nil
}

func sourceName(cfg *config.Config) string {
	if cfg.Source == "" {
		return "(embedded default)"
	}
	return cfg.Source
}

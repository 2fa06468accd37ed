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

package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
)

// The retry of a failed write: soon enough that a disk freed or remounted
// is written within a minute, seldom enough that a disk that stays full
// costs one attempt a minute.
const (
	stateRetryMin = time.Second
	stateRetryMax = time.Minute
)

// errWriterStopped is a wait's answer once the exporter closed the writer.
var errWriterStopped = errors.New("the state file writer is stopped (the exporter is shutting down)")

// stateWriter writes the newest state it was given, one write at a time,
// from a goroutine that lives while there is something to write: a state
// handed over while one is being written replaces any older one still
// waiting, so a burst of changes costs at most two writes. A failed write
// is tried again, with backoff, until it succeeds or a newer state
// replaces it.
type stateWriter struct {
	path   string
	logger log.Logger
	write  func(path string, data []byte) error

	failures      prometheus.Counter
	lastSucceeded prometheus.Gauge
	lastSuccessAt prometheus.Gauge

	mu      sync.Mutex
	pending []byte        // the newest state not yet written; nil: none
	seq     uint64        // the number of the newest state handed over
	done    uint64        // the number of the newest state a write of which ended...
	err     error         // ...and how it ended
	ended   chan struct{} // closed, and replaced, when a write ends
	running bool          // a goroutine is writing
	failing bool          // the last write failed (logged once per streak)
	stopped bool          // Close: no more retries
	wake    chan struct{} // cuts a retry's backoff short: someone waits
}

func newStateWriter(path string, logger log.Logger, reg prometheus.Registerer) *stateWriter {
	w := &stateWriter{
		path:   path,
		logger: logger,
		write:  writeFileAtomic,
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "warden_discovery_state_write_failures_total",
			Help: "Writes of the discovery state file (--discovery.state-file) that failed; each is tried again, at most a minute later.",
		}),
		lastSucceeded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "warden_discovery_state_last_write_successful",
			Help: "1 if the last write of the discovery state file succeeded (or none was needed since the start), 0 if it failed: what was learned or forgotten since would be lost on a restart.",
		}),
		lastSuccessAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "warden_discovery_state_last_write_success_timestamp_seconds",
			Help: "Unix time the discovery state file last held what discovery knows: its last successful write, or the exporter's start.",
		}),
		ended: make(chan struct{}),
		wake:  make(chan struct{}, 1),
	}
	// At the start the file holds what was loaded from it.
	w.lastSucceeded.Set(1)
	w.lastSuccessAt.SetToCurrentTime()
	if reg != nil && path != "" {
		reg.MustRegister(w.failures, w.lastSucceeded, w.lastSuccessAt)
	}
	return w
}

// submit hands data over to be written and returns its number, for wait.
func (w *stateWriter) submit(data []byte) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	w.pending = data
	if !w.running {
		w.running = true
		go w.loop()
	}
	return w.seq
}

// wait waits until a write of state seq, or of a newer one, has ended, and
// returns how it ended. Someone waiting cuts a retry's backoff short.
func (w *stateWriter) wait(ctx context.Context, seq uint64) error {
	w.mu.Lock()
	for w.done < seq {
		if w.stopped && !w.running {
			w.mu.Unlock()
			return errWriterStopped
		}
		ended := w.ended
		select {
		case w.wake <- struct{}{}:
		default:
		}
		w.mu.Unlock()
		select {
		case <-ended:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
	err := w.err
	w.mu.Unlock()
	return err
}

// flush waits until the newest state handed over has been tried once
// (at once, if a retry was waiting), and returns how that ended.
func (w *stateWriter) flush() error {
	w.mu.Lock()
	seq := w.seq
	w.mu.Unlock()
	return w.wait(context.Background(), seq)
}

// close tries the newest state once more and stops retrying: on the way
// out, what cannot be written is lost (and was logged).
func (w *stateWriter) close() error {
	err := w.flush()
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return err
}

func (w *stateWriter) loop() {
	retry := stateRetryMin
	for {
		w.mu.Lock()
		data, seq := w.pending, w.seq
		if data == nil {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.pending = nil
		w.mu.Unlock()

		err := w.write(w.path, data)
		w.record(err)

		w.mu.Lock()
		w.done, w.err = seq, err
		close(w.ended)
		w.ended = make(chan struct{})
		if err != nil && w.pending == nil && !w.stopped {
			w.pending = data // nothing newer came: this one again
		}
		w.mu.Unlock()
		if err == nil {
			retry = stateRetryMin
			continue
		}
		t := time.NewTimer(retry)
		select {
		case <-t.C:
		case <-w.wake:
		}
		t.Stop()
		retry = min(2*retry, stateRetryMax)
	}
}

// record counts and logs a write's outcome: a warning when writes start
// failing (a full disk fails every retry: one line, not one a minute) and
// a note when they succeed again.
func (w *stateWriter) record(err error) {
	w.mu.Lock()
	was := w.failing
	w.failing = err != nil
	w.mu.Unlock()
	if err != nil {
		w.failures.Inc()
		w.lastSucceeded.Set(0)
		if !was {
			level.Warn(w.logger).Log("msg", "cannot write the discovery state file: retrying, at most a minute apart; until it succeeds, what was learned or forgotten since its last write would be lost on a restart (warden_discovery_state_write_failures_total)", "file", w.path, "err", err)
		} else {
			level.Debug(w.logger).Log("msg", "the discovery state file still cannot be written", "file", w.path, "err", err)
		}
		return
	}
	w.lastSucceeded.Set(1)
	w.lastSuccessAt.SetToCurrentTime()
	if was {
		level.Info(w.logger).Log("msg", "the discovery state file is written again", "file", w.path)
	}
}

// writeFileAtomic replaces path with data: written to a temporary file in
// the same directory, synced, renamed over it.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// saveLocked hands the learned state to the writer (d.mu held) and returns
// its number (0: no state file): it is encoded here, under the lock, and
// written and synced by the writer's goroutine, outside the lock and off
// the evaluation's path.
func (d *Discovery) saveLocked() uint64 {
	if d.opts.StateFile == "" {
		return 0
	}
	data, err := d.encode()
	if err != nil {
		level.Warn(d.opts.Logger).Log("msg", "cannot encode the discovery state", "err", err)
		return 0
	}
	d.saved = d.opts.Now()
	return d.writer.submit(data)
}

// encode is the state file's content (d.mu held).
func (d *Discovery) encode() ([]byte, error) { return json.MarshalIndent(d.st, "", " ") }

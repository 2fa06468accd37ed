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
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
)

// seriesSink builds series and hands them on. A series that cannot be
// built (a label value that is not valid UTF-8 slipped past the readers, a
// label count that does not match its description) is left out and
// counted, and the rest are built: with prometheus.MustNewConstMetric, a
// check whose reason named a process renamed "\xff\xfeevil" panicked,
// client_golang recovered, and every series after it in the scrape was
// lost (the later checks, the listener inventory) while it answered 200.
type seriesSink struct {
	families *familyBuilder
	errors   *seriesErrors
}

func (s seriesSink) gauge(desc *prometheus.Desc, v float64, labels ...string) {
	s.add(desc, prometheus.GaugeValue, v, labels)
}

func (s seriesSink) counter(desc *prometheus.Desc, v float64, labels ...string) {
	s.add(desc, prometheus.CounterValue, v, labels)
}

func (s seriesSink) add(desc *prometheus.Desc, vt prometheus.ValueType, v float64, labels []string) {
	if err := s.families.add(desc, vt, v, labels); err != nil {
		s.errors.note(desc.String(), err)
	}
}

// guard runs emit, the series of one thing (kind name: check "web"): a
// panic there (a bug) loses that thing's series from where it happened,
// is counted and logged, and the series of everything else are built.
func (s seriesSink) guard(kind, name string, emit func()) {
	defer func() {
		if p := recover(); p != nil {
			s.errors.note(kind+" "+strconv.Quote(name), fmt.Errorf("panic: %v", p))
		}
	}()
	emit()
}

// seriesErrorLogInterval bounds the log lines of series that cannot be
// built: the same series fails in every evaluation (5,760 times a day at a
// 15 s interval), and warden_series_errors_total counts them all.
const seriesErrorLogInterval = 10 * time.Minute

// seriesErrors counts the series left out since the exporter started, and
// logs the first, then at most one every seriesErrorLogInterval.
type seriesErrors struct {
	logger  log.Logger
	now     func() time.Time
	total   atomic.Uint64
	lastLog atomic.Int64 // unix nanoseconds of the last line; 0 before the first
	logged  atomic.Uint64
}

func (c *seriesErrors) note(series string, err error) {
	total := c.total.Add(1)
	now := c.now().UnixNano()
	last := c.lastLog.Load()
	if last != 0 && now-last < int64(seriesErrorLogInterval) || !c.lastLog.CompareAndSwap(last, now) {
		return
	}
	before := c.logged.Swap(total)
	level.Error(c.logger).Log("msg", "a series could not be built and is left out of the scrape; the rest are served",
		"series", series, "err", err, "errors_total", total, "not_logged", total-before-1,
		"next_line_after", seriesErrorLogInterval)
}

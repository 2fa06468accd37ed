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

package verdict

import (
	"fmt"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
)

// ProbeRef names one probe of one check.
type ProbeRef struct{ Check, Target string }

// StaleSlack is how much later than its schedule allows a probe's result
// may be read before it is stale: a background run starts when its timer
// fires, which a busy 2-core host delays by tens of milliseconds (a GC
// pause, a scheduler hiccup) — a second is ten times that and more.
const StaleSlack = time.Second

// StaleAfter is the age past which the result of a probe with an interval
// says nothing of its target now: the newest result is at most interval +
// timeout old when every run starts on time (the previous run ended at
// once, the next one took its whole timeout), plus StaleSlack. 0 for a
// probe without an interval: its result is never stale (a scrape runs it,
// the watch reads the last scrape's).
func StaleAfter(p config.Probe) time.Duration {
	if p.Interval <= 0 {
		return 0
	}
	return time.Duration(p.Interval) + time.Duration(p.Timeout) + StaleSlack
}

// staleness words a probe's stale result in a reason's two wordings: the
// full one with its age, the stable one without (the age changes at every
// evaluation, and the diagnosis is a label value).
func staleness(p config.Probe, age time.Duration) (full, stable string) {
	interval := p.Interval.String()
	full = fmt.Sprintf("probe result for %s is %.0f s old (interval %s)", p.Target, age.Seconds(), interval)
	stable = fmt.Sprintf("probe result for %s is stale (interval %s)", p.Target, interval)
	return full, stable
}

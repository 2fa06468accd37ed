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
	"errors"
	"fmt"

	"github.com/go-kit/log/level"
)

// ErrNotLearned is returned by Forget for a name discovery has not learned.
var ErrNotLearned = errors.New("not a learned check")

// ErrNotPersisted is returned by Forget when the state file could not be
// written: the check is not forgotten, as a restart would bring it back.
var ErrNotPersisted = errors.New("the discovery state file cannot be written")

// Forgetting is for a service retired on purpose: /-/forget drops one
// learned check, in memory and in the state file, and answers only once the
// file says so.

// Learned reports whether unit is a learned check.
func (d *Discovery) Learned(unit string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.st.Units[unit]
	return ok
}

// Forget drops what was learned of unit and waits (within ctx) until the
// state file says so. When it cannot be written, the unit is put back and
// the error wraps ErrNotPersisted: answering "forgotten" for a unit a
// restart would load again is how a full disk went unnoticed.
func (d *Discovery) Forget(ctx context.Context, unit string) error {
	d.mu.Lock()
	lu, ok := d.st.Units[unit]
	if !ok {
		d.mu.Unlock()
		return fmt.Errorf("%q: %w", unit, ErrNotLearned)
	}
	delete(d.st.Units, unit)
	if d.opts.StateFile == "" {
		d.mu.Unlock()
		level.Info(d.opts.Logger).Log("msg", "forgot a learned check on request", "unit", unit)
		return nil
	}
	seq := d.saveLocked()
	d.mu.Unlock()
	err := errors.New("the state cannot be encoded")
	if seq != 0 {
		err = d.writer.wait(ctx, seq)
	}
	if err == nil {
		level.Info(d.opts.Logger).Log("msg", "forgot a learned check on request", "unit", unit, "file", d.opts.StateFile)
		return nil
	}
	// Put back as it was (a candidate noted since by a scrape is replaced
	// by what was learned), and hand the writer that state: its retry
	// must not write the forget after all.
	d.mu.Lock()
	d.st.Units[unit] = lu
	d.saveLocked()
	d.mu.Unlock()
	level.Warn(d.opts.Logger).Log("msg", "did not forget a learned check: the state file cannot be written", "unit", unit, "file", d.opts.StateFile, "err", err)
	return fmt.Errorf("%w (%s): %w", ErrNotPersisted, d.opts.StateFile, err)
}

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
	"errors"
	"fmt"

	"github.com/warden-exporter/warden_exporter/internal/discovery"
)

// ErrStillLoaded is returned by Forget, without force, for a unit systemd
// still has loaded: the service is there, and forgetting its check would
// hide it (and a unit that still listens is learned again).
var ErrStillLoaded = errors.New("systemd still has the unit loaded")

// ErrUnitUnread is returned by Forget, without force, when systemd could
// not be asked whether the unit is still loaded.
var ErrUnitUnread = errors.New("cannot tell whether systemd still has the unit loaded")

// Forget drops what discovery learned of the check named name (its unit),
// in memory and in the state file (discovery.ErrNotPersisted when that cannot be
// written: nothing is forgotten then). Without force, a unit systemd
// still has loaded is refused (ErrStillLoaded): forgetting is for a
// service retired on purpose. A unit that still listens is learned again
// after the min age, unless the config excludes it.
func (e *Exporter) Forget(ctx context.Context, name string, force bool) error {
	if !e.discovery.Learned(name) {
		return fmt.Errorf("%q: %w", name, discovery.ErrNotLearned)
	}
	if !force {
		if e.unitReader == nil {
			return fmt.Errorf("%q: %w: the systemd collector is off", name, ErrUnitUnread)
		}
		// Read by name, as a scrape reads a check's unit: a unit with a
		// unit file reads loaded even when stopped; a removed one
		// not-found.
		units, err := e.unitReader.Snapshot(ctx, []string{name})
		if err != nil {
			return fmt.Errorf("%q: %w: %w", name, ErrUnitUnread, err)
		}
		if u, ok := units.Unit(name); ok && u.Loaded() {
			return fmt.Errorf("%q is %s/%s: %w", name, u.ActiveState, u.SubState, ErrStillLoaded)
		}
	}
	return e.discovery.Forget(ctx, name)
}

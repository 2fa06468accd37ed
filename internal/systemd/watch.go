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

package systemd

import (
	"errors"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
)

// maxPendingChanges bounds the views a slow watch has not taken yet;
// past it the newest is dropped (Cached still has it): a burst of more
// state changes than this between two looks is coalesced.
const maxPendingChanges = 64

// Changes returns the views of the units that follow each change of state
// (ActiveState) of a unit read by name (the checks' units): every state it
// passes through, in order, as the cache applies the manager's signals.
// The units read by name are not in them (see WithNamed). Calling it turns
// the watch on: from then on the cache also publishes its view for Cached.
func (s *Client) Changes() <-chan *Snapshot {
	s.watching.Store(true)
	return s.changes
}

func (s *Client) notifyChange(v *cacheView) {
	select {
	case s.changes <- &Snapshot{snap: v}:
	default:
	}
}

// ErrNoView is Cached's error before the cache has a view to give: not
// connected or not synced yet, or Changes was never called.
var ErrNoView = errors.New("no view of the units yet")

// Cached returns the units as the cache last saw them, without a call to
// the manager: what a watch reads between scrapes, WithNamed(last).
func (s *Client) Cached(last *Snapshot) (*Snapshot, error) {
	s.mu.Lock()
	cache := s.cache
	s.mu.Unlock()
	if cache == nil {
		return nil, ErrNoView
	}
	view := cache.latest.Load()
	if view == nil {
		return nil, ErrNoView
	}
	return (&Snapshot{snap: view, conn: cache.number}).WithNamed(last), nil
}

// WithNamed returns r with the units last read by name (in last; nil for
// none) that r's cache view does not hold (not loaded): they have no
// object to signal about until they are loaded, which the cache sees.
func (r *Snapshot) WithNamed(last *Snapshot) *Snapshot {
	out := &Snapshot{snap: r.snap, conn: r.conn}
	if last != nil {
		for name, st := range last.named {
			if _, cached := r.snap.units[name]; !cached {
				if out.named == nil {
					out.named = map[string]sdbus.UnitStatus{}
				}
				out.named[name] = st
			}
		}
		out.extras = last.extras
	}
	return out
}

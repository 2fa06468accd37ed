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
// Each carries the units the last Snapshot read by name, as Cached does.
// Calling it turns the watch on: from then on the cache also publishes its
// view for Cached.
func (s *Client) Changes() <-chan *Snapshot {
	s.watching.Store(true)
	return s.changes
}

func (s *Client) notifyChange(v *cacheView, conn uint64) {
	select {
	case s.changes <- s.view(v, conn):
	default:
	}
}

// ErrNoView is Cached's error before the cache has a view to give: not
// connected or not synced yet, or Changes was never called.
var ErrNoView = errors.New("no view of the units yet")

// Cached returns the units as the cache last saw them, without a call to
// the manager (what a watch reads between scrapes), with the units the
// last Snapshot read by name.
func (s *Client) Cached() (*Snapshot, error) {
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
	return s.view(view, cache.number), nil
}

// namedRead is what one Snapshot read by name: the units' status and the
// loaded ones' extras (file state, state change time, start limit).
type namedRead struct {
	named  map[string]sdbus.UnitStatus
	extras map[string]namedExtras
}

// view returns the cache view v read on connection conn, with the units
// the last Snapshot read by name that v does not hold (not loaded): they
// have no object to signal about until they are loaded, which the cache
// sees. The extras of all of them come from that read too: the cache does
// not keep them.
func (s *Client) view(v *cacheView, conn uint64) *Snapshot {
	out := &Snapshot{snap: v, conn: conn}
	last := s.lastNamed.Load()
	if last == nil {
		return out
	}
	for name, st := range last.named {
		if _, cached := v.units[name]; !cached {
			if out.named == nil {
				out.named = map[string]sdbus.UnitStatus{}
			}
			out.named[name] = st
		}
	}
	out.extras = last.extras
	return out
}

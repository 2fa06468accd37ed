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
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
)

// The views a watch reads between scrapes, Cached's and each one Changes
// gives, carry the units the last Snapshot read by name, without the
// caller handing that snapshot back: a unit that is not loaded (known
// from the read only: it has no object to signal about), and the unit
// file state of a loaded one (read by name, not kept by the cache). A
// loaded unit's state is the cache's, newer than the read: so is not its
// StateChangeTimestamp, which only a read by name gives.
func TestViewsCarryTheLastReadByName(t *testing.T) {
	m := systemdtest.Start(t)
	const (
		failed = "vw-failed.service"
		ghost  = "vw-ghost.service" // no such unit
		flip   = "vw-flip.service"
	)
	m.Run(t, failed, "/bin/false")
	m.Run(t, flip, "/bin/sleep", "infinity")
	systemdtest.WaitFor(t, 10*time.Second, failed+" to fail", func() bool { return m.Show(t, failed, "ActiveState") == "failed" })

	c := New(Options{Endpoint: Endpoint{Path: filepath.Join(m.RuntimeDir, "systemd", "private"), Direct: true}, Include: defaultInclude, Logger: log.NewNopLogger()})
	t.Cleanup(c.Close)
	changes := c.Changes() // the watch is on: the cache publishes its views
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	read, err := c.Snapshot(ctx, []string{failed, ghost, flip})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := read.Unit(failed); u.ActiveState != "failed" || read.FileState(failed) != "transient" {
		t.Fatalf("premise: %s read by name is %+v, file state %q, want failed and transient", failed, u, read.FileState(failed))
	}
	if u, _ := read.Unit(ghost); u.LoadState != "not-found" {
		t.Fatalf("premise: %s read by name is %+v, want not-found", ghost, u)
	}
	check := func(what string, s *Snapshot) {
		t.Helper()
		if u, ok := s.Unit(ghost); !ok || u.LoadState != "not-found" || !s.Named(ghost) {
			t.Errorf("%s: %s is %+v (known %v), want not-found as the last read by name saw it", what, ghost, u, ok)
		}
		if u, ok := s.Unit(failed); !ok || u.ActiveState != "failed" || s.FileState(failed) != "transient" {
			t.Errorf("%s: %s is %+v (known %v), file state %q, want failed and transient as read by name",
				what, failed, u, ok, s.FileState(failed))
		}
	}

	var cached *Snapshot
	systemdtest.WaitFor(t, 10*time.Second, "the cache to publish a view", func() bool {
		cached, err = c.Cached()
		if err != nil && !errors.Is(err, ErrNoView) {
			t.Fatal(err)
		}
		return err == nil
	})
	check("Cached", cached)

	// A unit read by name changes state: the cache gives the view that
	// follows it on Changes.
	m.Systemctl(t, "stop", flip)
	select {
	case v := <-changes:
		check("a view from Changes", v)
	case <-time.After(10 * time.Second):
		t.Fatalf("no view on Changes 10 s after %s was stopped", flip)
	}
}

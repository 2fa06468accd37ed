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
	"path/filepath"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
)

// A crash that Restart= undoes within a second is counted from the
// manager's signals, by systemd's Result, and so is every state the unit
// passes through, whatever instant a reading is taken at.
func TestCrashLoopIsCountedFromSignals(t *testing.T) {
	m := systemdtest.Start(t)
	c := New(Options{Endpoint: Endpoint{Path: filepath.Join(m.RuntimeDir, "systemd", "private"), Direct: true}, Include: defaultInclude, Logger: log.NewNopLogger()})
	t.Cleanup(c.Close)
	read := func() Unit {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := c.Snapshot(ctx, []string{"crash.service"})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := s.Unit("crash.service")
		return u
	}
	read() // connected and synced before the unit starts
	m.Run(t, "crash.service", "--property=Restart=always", "--property=RestartSec=500ms", "--property=StartLimitIntervalSec=0",
		"/bin/sh", "-c", "sleep 0.3; kill -KILL $$$$") // systemd reads $$ as $
	var u Unit
	deadline := time.Now().Add(30 * time.Second)
	for {
		u = read()
		if u.Failures["signal"] >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not counted: %+v\nNRestarts %s Result %s", u, m.Show(t, "crash.service", "NRestarts"), m.Show(t, "crash.service", "Result"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if u.StateChanges["activating"] < 3 || u.StateChanges["active"] < 3 {
		t.Errorf("state changes %v: every crash passes through activating and back to active", u.StateChanges)
	}
	for result := range u.Failures {
		if result != "signal" {
			t.Errorf("failures %v: the unit only ever died by SIGKILL", u.Failures)
		}
	}
}

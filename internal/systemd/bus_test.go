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
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
)

// A budget larger than the bus allows: the calls the bus refuses with
// LimitsExceeded are issued again until every one is answered, and the
// connection stays usable.
func TestBusBudgetRetriesWhatTheBusRefuses(t *testing.T) {
	m := systemdtest.Start(t)
	conn := m.DialBus(t)
	manager := conn.Object(dbusSystemdName, dbusSystemdPath)
	n := 4 * systemdtest.SystemBusReplyLimit
	budget := newBusBudget(int64(n))
	calls := make([]*busCall, n)
	for i := range calls {
		calls[i] = &busCall{obj: manager, method: dbusPropsIface + ".Get", args: []any{dbusManagerIface, "Version"}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := budget.pipeline(ctx, calls); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	for i, c := range calls {
		if c.call.Err != nil {
			t.Fatalf("call %d: %v", i, c.call.Err)
		}
	}

	// One call at a time through do, beside a flood that fills the bus's
	// quota: do waits the refusals out.
	flood := make([]*dbus.Call, n)
	for i := range flood {
		flood[i] = manager.GoWithContext(ctx, dbusPropsIface+".Get", 0, nil, dbusManagerIface, "Version")
	}
	err := budget.do(ctx, func(ctx context.Context) error {
		return manager.CallWithContext(ctx, dbusPropsIface+".Get", 0, dbusManagerIface, "Version").Err
	})
	if err != nil {
		t.Fatalf("do beside a flood: %v", err)
	}
	for _, c := range flood {
		<-c.Done
	}
}

// A refusal that lasts past the deadline is reported as the bus's limit,
// not as a lost connection.
func TestBusBudgetGivesUpAtTheDeadline(t *testing.T) {
	b := newBusBudget(1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	refusal := dbus.Error{Name: errLimitsExceeded}
	tries := 0
	err := b.do(ctx, func(context.Context) error { tries++; return refusal })
	if !errors.Is(err, context.DeadlineExceeded) || !isLimitsExceeded(err) {
		t.Fatalf("err = %v, want the refusal and the deadline", err)
	}
	if tries < 2 {
		t.Fatalf("tried %d times, want retries until the deadline", tries)
	}
}

func TestExplainBusRefusal(t *testing.T) {
	bus := Endpoint{Path: "/run/dbus/system_bus_socket"}
	for _, tc := range []struct {
		name, step string
		err        error
		ep         Endpoint
		want       []string
	}{
		{"access denied", "subscribing to unit changes", dbus.Error{Name: errAccessDenied, Body: []any{"denied"}}, bus,
			[]string{"subscribing to unit changes", "denied", "uid " + strconv.Itoa(os.Getuid()), "static system user", "DynamicUser"}},
		{"closed at Hello", "registering with the bus", errors.New("dbus: connection closed by user"), bus,
			[]string{"closed the connection", "DynamicUser=yes", "static system user"}},
		{"private socket", "registering with the bus", errors.New("eof"), Endpoint{Path: "/run/systemd/private", Direct: true},
			[]string{"registering with the bus: eof"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := explainBusRefusal(tc.err, tc.step, tc.ep)
			if errors.Unwrap(err) == nil || !strings.Contains(err.Error(), tc.err.Error()) {
				t.Errorf("%v does not wrap %v", err, tc.err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

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
	"fmt"
	"os"
	"os/user"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sync/semaphore"
)

// The bus's limits, and how we stay inside them.
//
// dbus-daemon allows a connection max_replies_per_connection calls waiting
// for a reply: 128 on the system bus, 50,000 on a session bus. Beyond it a
// call fails at once with LimitsExceeded. That is back-pressure, not a lost
// connection: the calls already in flight are answered as usual. Seen on a
// booted Debian host before the budget: 16 units x 10 pipelined reads kept
// up to 160 calls in flight, the cache took LimitsExceeded for a broken
// connection and reconnected, and the systemd source failed for 10-18 s
// after start and after every daemon-reload (~250 units).

// callBudget is how many calls we keep in flight on one connection: half the
// system bus's limit, so an administrator's lower limit (or another client
// sharing our credentials' quota) still leaves room, and a refusal is rare
// rather than the steady state.
const callBudget = 64

// Calls made outside the unit fetches: a listing at a time plus the
// scrapes' pings and by-name listings. The fetches get the rest.
const reservedCalls = 8

const (
	errLimitsExceeded = "org.freedesktop.DBus.Error.LimitsExceeded"
	errAccessDenied   = "org.freedesktop.DBus.Error.AccessDenied"
)

// busBudget bounds the calls in flight on one connection and retries the
// ones the bus refuses for its limits.
type busBudget struct {
	sem   *semaphore.Weighted
	calls atomic.Uint64 // calls issued, refused ones included
}

func newBusBudget(calls int64) *busBudget { return &busBudget{sem: semaphore.NewWeighted(calls)} }

// isLimitsExceeded reports whether err is the bus refusing a call for its
// per-connection limits.
func isLimitsExceeded(err error) bool {
	var de dbus.Error
	return errors.As(err, &de) && de.Name == errLimitsExceeded
}

// backPressure waits before retrying a refused call: from 5 ms, doubling to
// 200 ms; false once ctx is done.
func backPressure(ctx context.Context, attempt int) bool {
	wait := min(5*time.Millisecond<<min(attempt, 6), 200*time.Millisecond)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// do runs f, which makes one call, within the budget; a LimitsExceeded
// refusal is retried until ctx ends.
func (b *busBudget) do(ctx context.Context, f func(context.Context) error) error {
	if err := b.sem.Acquire(ctx, 1); err != nil {
		return err
	}
	defer b.sem.Release(1)
	for attempt := 0; ; attempt++ {
		b.calls.Add(1)
		err := f(ctx)
		if !isLimitsExceeded(err) {
			return err
		}
		if !backPressure(ctx, attempt) {
			return fmt.Errorf("the bus kept refusing calls (%w) until: %w", err, ctx.Err())
		}
	}
}

// busCall is one call of a pipeline.
type busCall struct {
	obj    dbus.BusObject
	method string
	args   []any
	call   *dbus.Call
}

// pipeline issues calls all at once within the budget and waits for every
// answer; calls the bus refused for its limits are issued again (after a
// backoff) until ctx ends. Each call's own error stays in its call.
func (b *busBudget) pipeline(ctx context.Context, calls []*busCall) error {
	n := int64(len(calls))
	if err := b.sem.Acquire(ctx, n); err != nil {
		return err
	}
	defer b.sem.Release(n)
	pending := calls
	for attempt := 0; ; attempt++ {
		b.calls.Add(uint64(len(pending)))
		for _, c := range pending {
			c.call = c.obj.GoWithContext(ctx, c.method, 0, nil, c.args...)
		}
		refused := pending[:0:0]
		for _, c := range pending {
			<-c.call.Done
			if isLimitsExceeded(c.call.Err) {
				refused = append(refused, c)
			}
		}
		if len(refused) == 0 {
			return nil
		}
		if !backPressure(ctx, attempt) {
			return fmt.Errorf("the bus kept refusing calls (%s) until: %w", errLimitsExceeded, ctx.Err())
		}
		pending = refused
	}
}

// explainBusRefusal turns the bus turning us away into an error that names
// the user and the fix. dbus-daemon rejects a user it cannot resolve (a
// DynamicUser=yes service: systemd issue 22737) by closing the connection
// during Hello, and answers AccessDenied where its policy forbids a call.
func explainBusRefusal(err error, step string, ep Endpoint) error {
	uid := strconv.Itoa(os.Getuid())
	who := "uid " + uid
	if u, lookupErr := user.LookupId(uid); lookupErr == nil {
		who = fmt.Sprintf("user %s (uid %s)", u.Username, u.Uid)
	}
	var de dbus.Error
	switch {
	case errors.As(err, &de) && de.Name == errAccessDenied:
		return fmt.Errorf("%s: the bus denied %s access to systemd: %w; run the exporter as a static system user the bus policy allows (the package's warden_exporter user), not with DynamicUser=yes", step, who, err)
	case !ep.Direct && step == "registering with the bus":
		return fmt.Errorf("%s: the bus closed the connection of %s: %w; dbus-daemon rejects users it cannot resolve, such as DynamicUser=yes services: run the exporter as a static system user (the package's warden_exporter user)", step, who, err)
	}
	return fmt.Errorf("%s: %w", step, err)
}

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

package systemdtest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// Connect opens a go-systemd connection to the manager over its user bus.
func (m *Manager) Connect(ctx context.Context) (*sdbus.Conn, error) {
	return sdbus.NewConnection(func() (*dbus.Conn, error) { return m.dialBus(ctx) })
}

// DialBus opens a plain connection to the manager's user bus, registered
// with the bus and closed when the test ends.
func (m *Manager) DialBus(t testing.TB) *dbus.Conn {
	t.Helper()
	// godbus closes a connection when its context ends: the test's.
	conn, err := m.dialBus(t.Context())
	if err != nil {
		t.Fatalf("connecting to the user bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// DialPrivate opens a plain connection to the manager's private socket
// (no bus: the manager is the peer), closed when the test ends.
func (m *Manager) DialPrivate(t testing.TB) *dbus.Conn {
	t.Helper()
	conn, err := dial(t.Context(), m.PrivateAddress(), false)
	if err != nil {
		t.Fatalf("connecting to the manager's private socket: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func (m *Manager) dialBus(ctx context.Context) (*dbus.Conn, error) {
	return dial(ctx, m.BusAddress(), true)
}

// dial connects and authenticates to address, and registers with the bus
// if it is one (hello).
func dial(ctx context.Context, address string, hello bool) (*dbus.Conn, error) {
	conn, err := dbus.Dial(address, dbus.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		conn.Close()
		return nil, err
	}
	if hello {
		if err := conn.Hello(); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// StartOneshots starts n transient oneshot units named PREFIX-N.service that
// run /bin/true and stay active (RemainAfterExit=yes): loaded, active units
// without a process each, for scale tests. It waits (bounded) until all are
// active.
func (m *Manager) StartOneshots(t testing.TB, prefix string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := m.Connect(ctx)
	if err != nil {
		t.Fatalf("connecting to the manager: %v", err)
	}
	defer conn.Close()
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			done := make(chan string, 1)
			_, err := conn.StartTransientUnitContext(ctx, fmt.Sprintf("%s-%d.service", prefix, i), "replace", []sdbus.Property{
				sdbus.PropExecStart([]string{"/bin/true"}, false),
				sdbus.PropType("oneshot"),
				sdbus.PropRemainAfterExit(true),
			}, done)
			if err == nil {
				select {
				case res := <-done:
					if res != "done" {
						err = fmt.Errorf("job result %q", res)
					}
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("starting %d units: %v", n, firstErr)
	}
}

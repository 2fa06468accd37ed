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
	"net"
	"os"
	"strconv"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// connect opens and prepares a connection. Every step is bounded: a manager
// that accepts but never answers (frozen, or systemd 252's private socket
// ignoring a small first call) costs one attempt, not a hang.
func (s *Client) connect(ctx context.Context) (*dbus.Conn, *sdbus.Conn, *signalQueue, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	ep := s.opts.Endpoint
	path := ep.Path
	if ep.Abstract {
		path = "@" + path
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, nil, nil, err
	}
	deadline, _ := ctx.Deadline()
	// The deadline covers the handshake, which dbus does with plain
	// blocking reads; it is lifted once the connection is ready.
	nc.SetDeadline(deadline)
	signals := newSignalQueue()
	conn, err := dialConn(nc, dbus.WithSignalHandler(signals))
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	fail := func(step string, err error) (*dbus.Conn, *sdbus.Conn, *signalQueue, error) {
		conn.Close()
		return nil, nil, nil, explainBusRefusal(err, step, ep)
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		return fail("authenticating", err)
	}
	if !ep.Direct {
		if err := conn.Hello(); err != nil {
			return fail("registering with the bus", err)
		}
	}
	manager := conn.Object(dbusSystemdName, dbusSystemdPath)
	if err := firstCall(ctx, manager); err != nil {
		return fail("reading the manager's version", err)
	}
	if !ep.Direct {
		// On a bus only the signals we match reach us. The Service and
		// Socket interfaces' property changes too: their Result, sent just
		// before each Unit signal, is what a failure is counted by
		// (failures.go); read after the Unit signal, a restart had already
		// reset it to success (0 of 5 crashes counted). It costs a second
		// signal per change of a service: 983 bytes beside the Unit one's
		// 1,110-1,160 (systemd 252), ~50 us to decode on a 2-core VM. Not
		// every type's: mounts, devices and scopes change far more often.
		for _, rule := range []string{
			"type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',arg0='org.freedesktop.systemd1.Unit'",
			"type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',arg0='org.freedesktop.systemd1.Service'",
			"type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',arg0='org.freedesktop.systemd1.Socket'",
			"type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='UnitNew'",
			"type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='UnitRemoved'",
			"type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='Reloading'",
			"type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.freedesktop.systemd1'",
		} {
			if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.AddMatch", 0, rule).Err; err != nil {
				return fail("adding a match rule", err)
			}
		}
	}
	if err := manager.CallWithContext(ctx, dbusManagerIface+".Subscribe", 0).Err; err != nil {
		return fail("subscribing to unit changes", err)
	}
	// go-systemd gives typed listings. It wants two connections (calls and
	// signals); one serves both here, since all our signals go through our
	// own handler.
	sd, err := sdbus.NewConnection(func() (*dbus.Conn, error) { return conn, nil })
	if err != nil {
		return fail("setting up go-systemd", err)
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return fail("clearing the handshake deadline", err)
	}
	return conn, sd, signals, nil
}

// nudgeInterval is how long the first call may go unanswered before we
// write again.
const nudgeInterval = 200 * time.Millisecond

// firstCall makes the connection's first call, reading the manager's
// version. systemd 252 sometimes leaves the first message on a fresh
// private-socket connection unread until the client writes again (seen in
// 13-17 of 20 tries for small calls); so while no answer has come, we repeat
// the call, and each write wakes the manager up.
func firstCall(ctx context.Context, manager dbus.BusObject) error {
	done := make(chan *dbus.Call, 16)
	for {
		manager.GoWithContext(ctx, dbusPropsIface+".Get", 0, done, dbusManagerIface, "Version")
		timer := time.NewTimer(nudgeInterval)
		select {
		case call := <-done:
			timer.Stop()
			return call.Err
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

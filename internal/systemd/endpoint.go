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
	"fmt"
	"path/filepath"
	"strings"
)

// Endpoint is where the manager is reached.
type Endpoint struct {
	// Path of the unix socket; with Abstract, a name in the abstract
	// namespace.
	Path     string
	Abstract bool
	// Direct is true for a manager's private socket (peer to peer, no bus
	// daemon: no Hello, no match rules, every signal is delivered).
	Direct bool
}

func (e Endpoint) String() string {
	kind := "bus"
	if e.Direct {
		kind = "private socket"
	}
	if e.Abstract {
		return fmt.Sprintf("%s unix:abstract=%s", kind, e.Path)
	}
	return fmt.Sprintf("%s unix:path=%s", kind, e.Path)
}

// ErrBadAddress is returned for an address we cannot dial.
var ErrBadAddress = errors.New("unsupported D-Bus address")

// ResolveEndpoint picks the socket for scope ("system" or "user") and
// an optional address: a D-Bus address ("unix:path=/run/user/1000/bus"), or a
// socket path. A socket named systemd/private is the manager's own and is
// spoken to directly; anything else is a bus. getenv is os.Getenv outside
// tests.
func ResolveEndpoint(scope, address string, getenv func(string) string) (Endpoint, error) {
	if address == "" {
		switch scope {
		case "system":
			address = getenv("DBUS_SYSTEM_BUS_ADDRESS")
			if address == "" {
				address = "unix:path=/run/dbus/system_bus_socket"
			}
		case "user":
			address = getenv("DBUS_SESSION_BUS_ADDRESS")
			if address == "" {
				dir := getenv("XDG_RUNTIME_DIR")
				if dir == "" {
					return Endpoint{}, fmt.Errorf("%w: --systemd.scope=user needs DBUS_SESSION_BUS_ADDRESS or XDG_RUNTIME_DIR, or --systemd.address", ErrBadAddress)
				}
				address = "unix:path=" + filepath.Join(dir, "bus")
			}
		default:
			return Endpoint{}, fmt.Errorf("%w: unknown scope %q (system or user)", ErrBadAddress, scope)
		}
	}
	var ep Endpoint
	if strings.HasPrefix(address, "/") {
		ep.Path = address
	} else {
		// A D-Bus address may list several alternatives; take the first
		// unix one.
		for alt := range strings.SplitSeq(address, ";") {
			transport, params, ok := strings.Cut(alt, ":")
			if !ok || transport != "unix" {
				continue
			}
			for kv := range strings.SplitSeq(params, ",") {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "path":
					ep.Path = unescapeHex(v, '%')
				case "abstract":
					ep.Path, ep.Abstract = unescapeHex(v, '%'), true
				}
			}
			if ep.Path != "" {
				break
			}
		}
		if ep.Path == "" {
			return Endpoint{}, fmt.Errorf("%w %q: only unix:path= and unix:abstract= are supported", ErrBadAddress, address)
		}
	}
	ep.Direct = !ep.Abstract && filepath.Base(ep.Path) == "private" && filepath.Base(filepath.Dir(ep.Path)) == "systemd"
	return ep, nil
}

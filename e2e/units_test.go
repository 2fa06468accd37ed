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

package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeRedisConf writes a redis-server configuration for port on loopback,
// saving nothing: the units below read it at each start, so rewriting it
// and restarting moves the service (or, with port 99999, which redis
// refuses, makes every start fail).
func writeRedisConf(t *testing.T, path string, port int) {
	t.Helper()
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\n", port, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeUnit writes a unit file into dir.
func writeUnit(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// nonEphemeralPort returns a loopback TCP port below the kernel's
// ephemeral range (net.ipv4.ip_local_port_range, 32768 by default) that
// was free a moment ago: discovery learns only those, and a port the
// kernel never hands out to a client cannot be taken meanwhile by one.
func nonEphemeralPort(t *testing.T) int {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				lo = n
			}
		}
	}
	const floor = 10000 // above the well-known and registered services a test host may run
	if lo <= floor+100 {
		t.Fatalf("the ephemeral range starts at %d: no room below it for a port discovery learns", lo)
	}
	for range 100 {
		port := floor + rand.IntN(lo-floor)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatalf("no free port in [%d, %d) after 100 tries", floor, lo)
	return 0
}

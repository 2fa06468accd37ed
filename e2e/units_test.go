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
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-exporter/warden_exporter/internal/servicestest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
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

// siteUnit is nginx run as Debian's nginx.service runs it: from its
// configuration file, reloaded by "nginx -s reload".
const siteUnit = "e2e-site.service"

// siteNginx is siteUnit's nginx: its prefix directory, configuration and
// ports.
type siteNginx struct {
	dir, conf     string
	port, sslPort int
	extra         string // a line added to its server block
}

func newSiteNginx(t *testing.T, dir, unitDir string) *siteNginx {
	t.Helper()
	nginx := testenv.LookPath(t, "nginx", "apt-get install nginx")
	n := &siteNginx{dir: filepath.Join(dir, "site"), port: testenv.FreePort(t), sslPort: testenv.FreePort(t)}
	n.conf = filepath.Join(n.dir, "nginx.conf")
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n.writeConf(t)
	args := nginx + " -p " + n.dir + " -c " + n.conf + " -g 'daemon off;'"
	writeUnit(t, unitDir, siteUnit, "[Service]\nExecStart="+args+"\nExecReload="+args+" -s reload\n")
	return n
}

// writeConf writes the configuration, with n.extra in its server block.
func (n *siteNginx) writeConf(t *testing.T) {
	t.Helper()
	conf := servicestest.NginxConf(n.dir, n.port, n.extra)
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// addListen adds line to the server block and returns its line number.
func (n *siteNginx) addListen(t *testing.T, line string) int {
	t.Helper()
	n.extra = "    " + line + "\n"
	n.writeConf(t)
	n.extra = ""
	b, err := os.ReadFile(n.conf)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == line {
			return i + 1
		}
	}
	t.Fatalf("%q not in %s", line, n.conf)
	return 0
}

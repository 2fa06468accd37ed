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

// Package servicestest runs real nginx and redis-server from Debian as
// transient units under a test systemd manager, on loopback ports.
package servicestest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// Unit names of the services.
const (
	NginxUnit = "sc-nginx.service"
	RedisUnit = "sc-redis.service"
)

// Services are nginx and redis running as units of M.
type Services struct {
	M                    *systemdtest.Manager
	Dir                  string
	NginxPort, RedisPort int
	nginx, redis         string
}

// WaitDial waits (at most 20s) until addr accepts connections.
func WaitDial(t testing.TB, addr string) {
	t.Helper()
	systemdtest.WaitFor(t, 20*time.Second, addr+" to accept", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// Start runs a manager with nginx and redis as units, both listening.
func Start(t testing.TB) *Services {
	t.Helper()
	s := &Services{
		M:     systemdtest.Start(t),
		Dir:   t.TempDir(),
		nginx: testenv.LookPath(t, "nginx", "apt-get install nginx"),
		redis: testenv.LookPath(t, "redis-server", "apt-get install redis-server"),
	}
	s.NginxPort, s.RedisPort = testenv.FreePort(t), testenv.FreePort(t)
	s.WriteNginxConf(t, s.NginxPort)
	s.M.Run(t, "sc-nginx", s.nginx, "-p", s.Dir, "-c", filepath.Join(s.Dir, "nginx.conf"), "-g", "daemon off;")
	s.StartRedis(t)
	WaitDial(t, "127.0.0.1:"+strconv.Itoa(s.NginxPort))
	return s
}

// WriteNginxConf writes nginx's configuration for port (read at start and
// on reload).
func (s *Services) WriteNginxConf(t testing.TB, port int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.Dir, "nginx.conf"), []byte(NginxConf(s.Dir, port, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// NginxConf is an nginx configuration for an unprivileged nginx run with
// -p dir: one server on 127.0.0.1:port, with extra lines in its block.
func NginxConf(dir string, port int, extra string) string {
	return fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen 127.0.0.1:%[2]d;
    location / { return 200 "ok\n"; }
%[3]s  }
}
`, dir, port, extra)
}

// MoveNginx reconfigures nginx to listen on port instead and reloads it
// (SIGHUP), waiting until the new port accepts.
func (s *Services) MoveNginx(t testing.TB, port int) {
	t.Helper()
	s.WriteNginxConf(t, port)
	s.M.Systemctl(t, "kill", "--signal=SIGHUP", NginxUnit)
	WaitDial(t, "127.0.0.1:"+strconv.Itoa(port))
}

// StartBrokenRedis runs redis-server as RedisUnit with an option it
// refuses, so the unit fails at once (as with a bad redis.conf), and waits
// (bounded) until systemd has it failed.
func (s *Services) StartBrokenRedis(t testing.TB) {
	t.Helper()
	s.M.Run(t, "sc-redis", s.redis, "--port", strconv.Itoa(s.RedisPort), "--no-such-option", "yes")
	systemdtest.WaitFor(t, 20*time.Second, RedisUnit+" failed", func() bool { return s.M.Show(t, RedisUnit, "ActiveState") == "failed" })
}

// StartRedis runs redis-server as RedisUnit, with extra arguments.
func (s *Services) StartRedis(t testing.TB, extra ...string) {
	t.Helper()
	args := append([]string{s.redis, "--port", strconv.Itoa(s.RedisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.Dir}, extra...)
	s.M.Run(t, "sc-redis", args...)
	WaitDial(t, "127.0.0.1:"+strconv.Itoa(s.RedisPort))
}

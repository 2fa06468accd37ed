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

//go:build linux

package host

import (
	"cmp"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/sysboxtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// daemonConfig is a check's "daemon_config" in /checks (issue 23): what the
// exporter read in the configuration of the daemon its unit runs.
type daemonConfig struct {
	Daemon     string   `json:"daemon"`
	File       string   `json:"file"`
	Error      string   `json:"error"`
	NotApplied bool     `json:"not_applied"`
	Configured []string `json:"configured"`
	Listening  []string `json:"listening"`
}

// sources are the sources of the check's ports on port.
func (v verdict) sources(port int) []string {
	var out []string
	for _, p := range v.Ports {
		if p.Port == port {
			out = append(out, p.Source)
		}
	}
	return out
}

// hasSource says whether a port of v on port has a source matching re.
func (v verdict) hasSource(port int, re string) bool {
	for _, s := range v.sources(port) {
		if regexp.MustCompile(re).MatchString(s) {
			return true
		}
	}
	return false
}

// namesWhere says whether a port of v on port has a source of daemon that
// names where ("FILE:LINE"): as its port's directive, or as its address's
// when another directive gives the port ("FILE:64 (port), :60 (address)").
func (v verdict) namesWhere(port int, daemon, where string) bool {
	file, line, _ := strings.Cut(where, ":")
	for _, s := range v.sources(port) {
		if s == daemon+": "+where || strings.HasPrefix(s, daemon+": "+where+" (port)") ||
			strings.HasSuffix(s, ", "+where+" (address)") ||
			strings.HasPrefix(s, daemon+": "+file+":") && strings.HasSuffix(s, ", :"+line+" (address)") {
			return true
		}
	}
	return false
}

// daemon is one of Debian's daemons, as installed, and the edits of its
// configuration the test makes. The scripts run in bash -e inside the
// container, after daemonShell; each checks what the daemon did.
type daemon struct {
	unit, name, file string // the check (its unit), the daemon's name, its main config file
	// defaults: the default install's ports and their sources (regexps:
	// where the daemon's documentation leaves the line open, either).
	defaults map[int]string
	// edit changes the listening port in the configuration, apply makes
	// the daemon take it (reload or restart); moved is the new port and
	// where its source is (the script prints "FILE:LINE").
	edit, apply string
	moved       int
	// broken adds (or moves to) a port the daemon cannot bind and applies
	// it; brokenStatus is what the check says then (port_down where the
	// daemon keeps running on its old port, service_and_port_down where
	// it dies), brokenPort the port. The script prints "FILE:LINE".
	broken       string
	brokenStatus string
	brokenPort   int
	// brokenReason is the FILE:LINE the reason of brokenStatus names when
	// it is not the broken line: a daemon that died has every port down,
	// and the reason names the first (Apache's Listen 80, not the line
	// after it that it could not bind).
	brokenReason string
	// restore puts the backup (cp -p: the old mtime too) back and applies it.
	restore string
	// unreadable makes locked, the file of its configuration an
	// administrator would protect, unreadable to the exporter's user; the
	// daemon, which reads it as root or as its owner, serves on. readable
	// puts its mode back; grant, instead, gives the exporter's user the
	// file's group (a restart of the exporter: done after the others).
	locked, unreadable, readable, grant string
}

// daemonShell is the prelude of every script: listens PORT [ADDR] says
// whether something listens on TCP PORT (on ADDR); backup FILE keeps a copy
// (and its mtime) in /root/wbak; at FILE PATTERN prints FILE:LINE of the
// first line matching PATTERN.
const daemonShell = `
listens() { ss -ltnH "sport = :$1" | awk -v a="${2:-}" 'a == "" || index($4, a ":") == 1 { found = 1 } END { exit !found }'; }
backup() { mkdir -p /root/wbak; [ -e "/root/wbak/$(basename "$1")" ] || cp -p "$1" /root/wbak/; }
restore() { cp -p "/root/wbak/$(basename "$1")" "$1"; }
at() { echo "$1:$(grep -n -m1 -- "$2" "$1" | cut -d: -f1)"; }
`

// The addresses the tests cannot bind: TEST-NET-1 (RFC 5737) is on no
// interface of the container; ports below 1024 need a capability the
// daemons' users lack.
const unbindable = "192.0.2.1"

// debianDaemons are the daemons the first boot runs, each with its port
// edits. Measured on Debian 12 (what each does is in its broken script).
var debianDaemons = []daemon{{
	unit: "nginx.service", name: "nginx", file: "/etc/nginx/nginx.conf",
	defaults: map[int]string{80: `^nginx: /etc/nginx/sites-enabled/default:2[23]$`},
	edit: `backup /etc/nginx/sites-enabled/default
sed -i 's/listen 80 default_server/listen 8080 default_server/; s/listen \[::\]:80 default_server/listen [::]:8080 default_server/' /etc/nginx/sites-enabled/default
at /etc/nginx/sites-enabled/default 'listen 8080'`,
	apply: `systemctl reload nginx; for i in $(seq 50); do listens 8080 && ! listens 80 && break; sleep 0.1; done; listens 8080`,
	moved: 8080,
	// The reload fails (nginx -s reload reads the config first: "cannot
	// load certificate"), the master never gets SIGHUP and keeps serving
	// 80; systemd records the failed ExecReload (status=1, start_time).
	broken: `backup /etc/nginx/sites-enabled/default
sed -i 's|^\tlisten \[::\]:80 default_server;|&\n\tlisten 8443 ssl;\n\tssl_certificate /etc/ssl/warden-missing.pem;\n\tssl_certificate_key /etc/ssl/warden-missing.key;|' /etc/nginx/sites-enabled/default
! systemctl reload nginx 2>/dev/null
systemctl is-active -q nginx && listens 80 && ! listens 8443
at /etc/nginx/sites-enabled/default 'listen 8443 ssl'`,
	brokenStatus: "port_down", brokenPort: 8443,
	restore: `restore /etc/nginx/sites-enabled/default; systemctl reload nginx`,
	// The site that holds the listen lines (an include of nginx.conf, a
	// symlink to sites-available/default, which chmod changes), o-r as
	// CIS's NGINX benchmark has every file under /etc/nginx.
	locked:     "/etc/nginx/sites-enabled/default",
	unreadable: `chmod 640 /etc/nginx/sites-enabled/default`,
	readable:   `chmod 644 /etc/nginx/sites-enabled/default`,
}, {
	unit: "redis-server.service", name: "redis", file: "/etc/redis/redis.conf",
	// bind 127.0.0.1 -::1 (line 87), port 6379 (line 138).
	defaults: map[int]string{6379: `^redis: /etc/redis/redis\.conf:138 \(port\), :87 \(address\)$`},
	edit: `backup /etc/redis/redis.conf
sed -i 's/^port 6379$/port 6380/' /etc/redis/redis.conf
at /etc/redis/redis.conf '^port 6380'`,
	apply: `systemctl restart redis-server; listens 6380 127.0.0.1 && ! listens 6379`,
	moved: 6380,
	// A bind address without "-" that is on no interface: redis exits 1
	// ("Could not create server TCP listening socket"), Restart=always
	// tries again until the start limit, the unit fails.
	broken: `backup /etc/redis/redis.conf
sed -i 's/^bind 127.0.0.1 -::1$/bind 127.0.0.1 -::1 ` + unbindable + `/' /etc/redis/redis.conf
! systemctl restart redis-server 2>/dev/null
for i in $(seq 100); do systemctl is-failed -q redis-server && break; sleep 0.1; done
systemctl is-failed -q redis-server && ! listens 6379
at /etc/redis/redis.conf '^bind 127.0.0.1 -::1 '`,
	brokenStatus: "service_and_port_down", brokenPort: 6379,
	restore: `restore /etc/redis/redis.conf; systemctl reset-failed redis-server; systemctl restart redis-server`,
	// Debian's own: 0640 redis:redis. The README's grant makes it readable.
	locked:     "/etc/redis/redis.conf",
	unreadable: `stat -c '%a %U:%G' /etc/redis/redis.conf | grep -qx '640 redis:redis'`,
	grant: `mkdir -p /etc/systemd/system/warden_exporter.service.d
printf '[Service]\nSupplementaryGroups=redis\n' > /etc/systemd/system/warden_exporter.service.d/redis.conf
systemctl daemon-reload && systemctl restart warden_exporter`,
}, {
	unit: "postgresql@15-main.service", name: "postgresql", file: "/etc/postgresql/15/main/postgresql.conf",
	// port = 5432 (line 64); listen_addresses is commented out: localhost.
	defaults: map[int]string{5432: `^postgresql: /etc/postgresql/15/main/postgresql\.conf:64( \(port\), :60 \(address\))?$`},
	edit: `backup /etc/postgresql/15/main/postgresql.conf
sed -i 's/^port = 5432/port = 5433/' /etc/postgresql/15/main/postgresql.conf
at /etc/postgresql/15/main/postgresql.conf '^port = 5433'`,
	// A reload (SIGHUP) leaves the port: "cannot be changed without
	// restarting the server".
	apply: `systemctl restart postgresql@15-main; listens 5433 127.0.0.1 && ! listens 5432`,
	moved: 5433,
	// postgres warns "could not bind IPv4 address" and runs on the others.
	broken: `backup /etc/postgresql/15/main/postgresql.conf
sed -i "s/^#listen_addresses = 'localhost'/listen_addresses = 'localhost,` + unbindable + `'/" /etc/postgresql/15/main/postgresql.conf
systemctl restart postgresql@15-main
systemctl is-active -q postgresql@15-main && listens 5432 127.0.0.1 && ! listens 5432 ` + unbindable + `
at /etc/postgresql/15/main/postgresql.conf '^listen_addresses'`,
	brokenStatus: "port_down", brokenPort: 5432,
	restore: `restore /etc/postgresql/15/main/postgresql.conf; systemctl restart postgresql@15-main`,
	// The main file, 0640 postgres:postgres as Debian makes the cluster's
	// pg_hba.conf beside it (postgres, its owner, reads it).
	locked:     "/etc/postgresql/15/main/postgresql.conf",
	unreadable: `chmod 640 /etc/postgresql/15/main/postgresql.conf`,
	readable:   `chmod 644 /etc/postgresql/15/main/postgresql.conf`,
}, {
	unit: "mariadb.service", name: "mariadb", file: "/etc/mysql/my.cnf",
	// bind-address = 127.0.0.1 (50-server.cnf line 27), port: the default.
	defaults: map[int]string{3306: `^mariadb: (/etc/mysql/mariadb\.conf\.d/50-server\.cnf:27|/etc/mysql/(my|mariadb)\.cnf \(default\))$`},
	edit: `backup /etc/mysql/mariadb.conf.d/50-server.cnf
sed -i 's/^bind-address .*/&\nport                    = 3307/' /etc/mysql/mariadb.conf.d/50-server.cnf
at /etc/mysql/mariadb.conf.d/50-server.cnf '^port '`,
	apply: `systemctl restart mariadb; listens 3307 127.0.0.1 && ! listens 3306`,
	moved: 3307,
	// Not an address on no interface: mariadbd binds with IP_FREEBIND and
	// listens on 192.0.2.1 all the same. A port below 1024: bind fails
	// (EACCES, user mysql), mariadbd aborts, Restart=on-abnormal does not
	// restart an exit code: the unit fails.
	broken: `backup /etc/mysql/mariadb.conf.d/50-server.cnf
sed -i 's/^bind-address .*/&\nport                    = 1023/' /etc/mysql/mariadb.conf.d/50-server.cnf
! systemctl restart mariadb 2>/dev/null
systemctl is-failed -q mariadb && ! listens 3306 && ! listens 1023
at /etc/mysql/mariadb.conf.d/50-server.cnf '^port '`,
	brokenStatus: "service_and_port_down", brokenPort: 1023,
	restore: `restore /etc/mysql/mariadb.conf.d/50-server.cnf; systemctl reset-failed mariadb; systemctl restart mariadb`,
	// The server's file in my.cnf's !includedir, 0640 root:mysql (mariadbd
	// reads it as mysql; debian.cnf beside it is 0600 already).
	locked:     "/etc/mysql/mariadb.conf.d/50-server.cnf",
	unreadable: `chgrp mysql /etc/mysql/mariadb.conf.d/50-server.cnf; chmod 640 /etc/mysql/mariadb.conf.d/50-server.cnf`,
	readable:   `chgrp root /etc/mysql/mariadb.conf.d/50-server.cnf; chmod 644 /etc/mysql/mariadb.conf.d/50-server.cnf`,
}, {
	unit: "ssh.service", name: "openssh", file: "/etc/ssh/sshd_config",
	defaults: map[int]string{22: `^openssh: /etc/ssh/sshd_config \(default\)$`},
	edit: `backup /etc/ssh/sshd_config
sed -i 's/^#Port 22$/Port 2222/' /etc/ssh/sshd_config
at /etc/ssh/sshd_config '^Port 2222'`,
	// Reload: sshd -t, then SIGHUP: sshd re-executes itself (same PID).
	apply: `systemctl reload ssh; for i in $(seq 50); do listens 2222 && ! listens 22 && break; sleep 0.1; done; listens 2222`,
	moved: 2222,
	// sshd -t passes (it binds nothing); after SIGHUP sshd logs "Bind to
	// port 2222 on 192.0.2.1 failed" and listens on the others.
	broken: `printf 'ListenAddress 0.0.0.0\nListenAddress ::\nListenAddress ` + unbindable + `:2222\n' > /etc/ssh/sshd_config.d/warden.conf
systemctl reload ssh
for i in $(seq 50); do journalctl -q -u ssh --since=-10s | grep -q 'Bind to port 2222' && break; sleep 0.1; done
systemctl is-active -q ssh && listens 22 && ! listens 2222
at /etc/ssh/sshd_config.d/warden.conf ':2222'`,
	brokenStatus: "port_down", brokenPort: 2222,
	restore: `rm -f /etc/ssh/sshd_config.d/warden.conf; [ ! -e /root/wbak/sshd_config ] || restore /etc/ssh/sshd_config; systemctl reload ssh`,
	// The main file, 0600 as CIS's benchmarks have it.
	locked:     "/etc/ssh/sshd_config",
	unreadable: `chmod 600 /etc/ssh/sshd_config`,
	readable:   `chmod 644 /etc/ssh/sshd_config`,
}, {
	unit: "memcached.service", name: "memcached", file: "/etc/memcached.conf",
	// -p 11211 (line 26), -l 127.0.0.1 (line 35).
	defaults: map[int]string{11211: `^memcached: /etc/memcached\.conf:26 \(port\), :35 \(address\)$`},
	edit: `backup /etc/memcached.conf
sed -i 's/^-p 11211$/-p 11212/' /etc/memcached.conf
at /etc/memcached.conf '^-p 11212'`,
	// Type=simple: restart returns before memcached binds.
	apply: `systemctl restart memcached; for i in $(seq 50); do listens 11212 && break; sleep 0.1; done; listens 11212 127.0.0.1 && ! listens 11211`,
	moved: 11212,
	// memcached exits 71 ("failed to listen on one of interface(s)"),
	// Restart=always until the start limit: the unit fails.
	broken: `backup /etc/memcached.conf
sed -i 's/^-l 127.0.0.1$/-l 127.0.0.1,` + unbindable + `/' /etc/memcached.conf
systemctl restart memcached
for i in $(seq 100); do systemctl is-failed -q memcached && break; sleep 0.1; done
systemctl is-failed -q memcached && ! listens 11211
at /etc/memcached.conf '^-l 127.0.0.1,'`,
	brokenStatus: "service_and_port_down", brokenPort: 11211,
	restore: `restore /etc/memcached.conf; systemctl reset-failed memcached; systemctl restart memcached`,
	// Debian's wrapper's argument, root's, made 0600.
	locked:     "/etc/memcached.conf",
	unreadable: `chmod 600 /etc/memcached.conf`,
	readable:   `chmod 644 /etc/memcached.conf`,
}, {
	// Debian's haproxy.cfg has a global and a defaults section only: it
	// listens on nothing. The test adds a frontend first.
	unit: "haproxy.service", name: "haproxy", file: "/etc/haproxy/haproxy.cfg",
	defaults: map[int]string{},
	edit: `backup /etc/haproxy/haproxy.cfg
printf '\nfrontend warden\n\tbind 127.0.0.1:8404\n' >> /etc/haproxy/haproxy.cfg
at /etc/haproxy/haproxy.cfg 'bind 127.0.0.1:8404'`,
	// Reload: haproxy -c, then SIGUSR2: the master re-executes itself
	// (same PID) and starts a new worker.
	apply: `systemctl reload haproxy; for i in $(seq 50); do listens 8404 && break; sleep 0.1; done; listens 8404 127.0.0.1`,
	moved: 8404,
	// On top of the applied frontend (8404). haproxy -c passes (it binds
	// nothing) and systemd says "Reloaded"; the master cannot bind, logs
	// "Loading failure!" and keeps the old worker, on 8404 alone.
	broken: `backup /etc/haproxy/haproxy.cfg
printf '\nfrontend warden\n\tbind 127.0.0.1:8404\n' >> /etc/haproxy/haproxy.cfg
systemctl reload haproxy; for i in $(seq 50); do listens 8404 && break; sleep 0.1; done
printf '\tbind ` + unbindable + `:8405\n' >> /etc/haproxy/haproxy.cfg
systemctl reload haproxy
for i in $(seq 50); do journalctl -q -u haproxy --since=-10s | grep -q 'Loading failure' && break; sleep 0.1; done
systemctl is-active -q haproxy && listens 8404 && ! listens 8405
at /etc/haproxy/haproxy.cfg ':8405'`,
	brokenStatus: "port_down", brokenPort: 8405,
	restore: `restore /etc/haproxy/haproxy.cfg; systemctl reload haproxy; for i in $(seq 50); do ! listens 8404 && break; sleep 0.1; done`,
	// The main file, 0640 as for a stats userlist's passwords (haproxy
	// reads it as root).
	locked:     "/etc/haproxy/haproxy.cfg",
	unreadable: `chmod 640 /etc/haproxy/haproxy.cfg`,
	readable:   `chmod 644 /etc/haproxy/haproxy.cfg`,
}, {
	// MongoDB has no Debian package: mongodStandIn runs, as mongod.service
	// with upstream's ExecStart, what listens where upstream's own
	// mongod.conf says (net.port 27017 at line 22, net.bindIp at 23).
	unit: "mongod.service", name: "mongodb", file: "/etc/mongod.conf",
	defaults: map[int]string{27017: `^mongodb: /etc/mongod\.conf:22 \(port\), :23 \(address\)$`},
	edit: `backup /etc/mongod.conf
sed -i 's/^  port: 27017$/  port: 27018/' /etc/mongod.conf
at /etc/mongod.conf '^  port: 27018'`,
	// mongod binds at start only: a restart applies the edit.
	apply: `systemctl restart mongod; for i in $(seq 50); do listens 27018 && break; sleep 0.1; done; listens 27018 127.0.0.1 && ! listens 27017`,
	moved: 27018,
	// The stand-in cannot bind 192.0.2.1 and exits 1, as mongod does
	// ("Failed to set up listener"): no Restart=, the unit fails.
	broken: `backup /etc/mongod.conf
sed -i 's/^  bindIp: 127.0.0.1$/  bindIp: 127.0.0.1,` + unbindable + `/' /etc/mongod.conf
systemctl restart mongod
for i in $(seq 100); do systemctl is-failed -q mongod && break; sleep 0.1; done
systemctl is-failed -q mongod && ! listens 27017
at /etc/mongod.conf '^  bindIp: 127.0.0.1,'`,
	brokenStatus: "service_and_port_down", brokenPort: 27017,
	restore: `restore /etc/mongod.conf; systemctl reset-failed mongod; systemctl restart mongod`,
	// The main file, 0600 (the stand-in, as upstream's unit without
	// User=, reads it as root).
	locked:     "/etc/mongod.conf",
	unreadable: `chmod 600 /etc/mongod.conf`,
	readable:   `chmod 644 /etc/mongod.conf`,
}}

// mongodStandIn installs mongod.service as upstream's package has it
// (ExecStart=/usr/bin/mongod --config /etc/mongod.conf), with upstream's
// mongod.conf (the parser's fixture, from mongodb/mongo's debian/), and
// for /usr/bin/mongod a script that listens where the file's net.port and
// net.bindIp say — with redis-server, which the tests install — so the
// exporter reads the real upstream format of a unit that really listens.
const mongodStandIn = `install -m 0644 ` + sysboxtest.BindTarget + `/mongod.conf /etc/mongod.conf
printf '%s\n' '#!/bin/sh' \
  '# A stand-in for MongoDB mongod: listens on net.port at net.bindIp of --config FILE.' \
  'port=$(awk '"'"'$1 == "port:" { print $2 }'"'"' "$2")' \
  'bind=$(awk '"'"'$1 == "bindIp:" { print $2 }'"'"' "$2" | tr , " ")' \
  'exec /usr/bin/redis-server --port "$port" --bind $bind --save "" --appendonly no --daemonize no --dir /tmp' > /usr/bin/mongod
chmod 0755 /usr/bin/mongod
printf '[Unit]\nDescription=MongoDB stand-in\n[Service]\nExecStart=/usr/bin/mongod --config /etc/mongod.conf\n' > /etc/systemd/system/mongod.service
systemctl daemon-reload
systemctl start mongod`

// apache2 is booted on its own: it wants :80, as nginx does.
var apache2 = daemon{
	unit: "apache2.service", name: "apache", file: "/etc/apache2/apache2.conf",
	defaults: map[int]string{80: `^apache: /etc/apache2/ports\.conf:5$`},
	edit: `backup /etc/apache2/ports.conf
sed -i 's/^Listen 80$/Listen 8081/' /etc/apache2/ports.conf
at /etc/apache2/ports.conf '^Listen 8081'`,
	// Reload: apachectl graceful (configtest, then SIGUSR1).
	apply: `systemctl reload apache2; for i in $(seq 50); do listens 8081 && ! listens 80 && break; sleep 0.1; done; listens 8081`,
	moved: 8081,
	// configtest passes; on the graceful restart apache cannot bind
	// ("AH00072: make_sock: could not bind"), finds "no listening sockets
	// available, shutting down", and exits 1: the unit fails
	// (Restart=on-abort does not restart an exit code).
	broken: `backup /etc/apache2/ports.conf
sed -i 's/^Listen 80$/Listen 80\nListen ` + unbindable + `:8082/' /etc/apache2/ports.conf
systemctl reload apache2
for i in $(seq 50); do systemctl is-failed -q apache2 && break; sleep 0.1; done
systemctl is-failed -q apache2 && ! listens 80
at /etc/apache2/ports.conf ':8082'`,
	brokenStatus: "service_and_port_down", brokenPort: 8082, brokenReason: "/etc/apache2/ports.conf:5",
	restore: `restore /etc/apache2/ports.conf; systemctl reset-failed apache2; systemctl restart apache2`,
	// The main file (ports.conf is its include), 0640 (apache reads it as
	// root).
	locked:     "/etc/apache2/apache2.conf",
	unreadable: `chmod 640 /etc/apache2/apache2.conf`,
	readable:   `chmod 644 /etc/apache2/apache2.conf`,
}

func TestDaemonConfigurationsOnABootedHost(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "booting a system container needs root")
	}
	if goarch := os.Getenv("GOARCH"); goarch != "" && goarch != "amd64" {
		testenv.Skip(t, "the packages are built for amd64 here")
	}
	dir, current := packages(t)
	t.Run("nginx redis postgresql mariadb openssh memcached haproxy mongodb", func(t *testing.T) {
		h := &host{Host: sysboxtest.Boot(t, sysboxtest.Options{Bind: dir, UnifiedCgroup: true,
			Unmask: []string{"haproxy.service", "mariadb.service", "memcached.service", "ssh.service"}}), t: t}
		h.sh(mongodStandIn)
		h.daemonsUp(debianDaemons)
		h.install(current)
		h.defaults(debianDaemons)
		t.Run("unreadable configs", func(t *testing.T) { h.unreadable(t, debianDaemons) })
		for _, d := range debianDaemons {
			t.Run(d.name, func(t *testing.T) { (&host{Host: h.Host, t: t}).scenarios(d) })
		}
	})
	t.Run("apache2", func(t *testing.T) {
		h := &host{Host: sysboxtest.Boot(t, sysboxtest.Options{Bind: dir, UnifiedCgroup: true,
			Unmask: []string{"apache2.service"}, Mask: []string{"nginx.service"}}), t: t}
		h.daemonsUp([]daemon{apache2})
		h.install(current)
		h.defaults([]daemon{apache2})
		t.Run("unreadable config", func(t *testing.T) { h.unreadable(t, []daemon{apache2}) })
		h.scenarios(apache2)
	})
}

// daemonsUp waits (bounded) until the daemons the boot started are up.
// /etc/hosts becomes a real Debian host's first: this machine's names
// localhost 127.0.0.1 only, and postgres binds what localhost resolves to
// (on Debian 127.0.0.1 and ::1).
func (h *host) daemonsUp(ds []daemon) {
	h.t.Helper()
	var units []string
	for _, d := range ds {
		units = append(units, d.unit)
	}
	h.sh(`grep -q '^::1\s' /etc/hosts || echo '::1 localhost ip6-localhost ip6-loopback' >> /etc/hosts
if systemctl is-enabled -q postgresql@15-main 2>/dev/null || systemctl is-active -q postgresql@15-main; then systemctl restart postgresql@15-main; fi`)
	h.WaitFor(h.t, "the daemons up: "+strings.Join(units, " "), 45*time.Second, func() bool {
		_, ok := h.shMayFail(`systemctl is-active -q ` + strings.Join(units, " "))
		return ok
	})
}

// install installs the current package, zero-config, learning within a
// second as the other host test does.
func (h *host) install(current string) {
	h.t.Helper()
	h.sh(`dpkg -i ` + sysboxtest.Deb(current) + `
sed -i 's/^ARGS=.*/ARGS="--discovery.min-age=1s --daemon-config.settle=2s"/' /etc/default/warden_exporter && systemctl restart warden_exporter`)
}

// firstVerdicts is /checks' first answer (bounded).
func (h *host) firstVerdicts() map[string]verdict {
	h.t.Helper()
	var vs map[string]verdict
	h.WaitFor(h.t, "the exporter answers /checks", 30*time.Second, func() bool {
		vs = h.verdicts()
		return vs != nil
	})
	return vs
}

// defaults: every daemon's default install is a check named by its unit,
// ok from the first scrape, its ports' sources in its config (but for one
// the exporter's user may not read until granted: redis's).
func (h *host) defaults(ds []daemon) {
	t := h.t
	vs := h.firstVerdicts()
	for _, d := range ds {
		v, ok := vs[d.unit]
		switch {
		case !ok:
			t.Errorf("%s: no check at the first scrape (checks: %v)", d.unit, keys(vs))
			continue
		case v.Status != "ok":
			t.Errorf("%s: %s (%s) at the first scrape, want ok", d.unit, v.Status, v.Reason)
		case v.DaemonConfig == nil:
			t.Errorf("%s: no daemon_config", d.unit)
			continue
		}
		if c := v.DaemonConfig; c.Daemon != d.name || c.File != d.file || c.NotApplied {
			t.Errorf("%s: daemon_config %+v, want daemon %s, file %s, applied", d.unit, *c, d.name, d.file)
		}
		if d.grant != "" {
			continue // unreadable until granted
		}
		if v.DaemonConfig.Error != "" {
			t.Errorf("%s: daemon_config error %q", d.unit, v.DaemonConfig.Error)
		}
		for port, re := range d.defaults {
			if !v.hasSource(port, re) {
				t.Errorf("%s: port %d sources %q, want %s", d.unit, port, v.sources(port), re)
			}
		}
		if len(d.defaults) == 0 && len(v.DaemonConfig.Configured) != 0 {
			t.Errorf("%s: configured %v, want none", d.unit, v.DaemonConfig.Configured)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// metricValue is the value of the series of name with every label of
// labels (`check="x"`), "" when there is none.
func metricValue(metrics, name string, labels ...string) string {
	for _, line := range strings.Split(metrics, "\n") {
		series, value, ok := strings.Cut(line, "} ")
		if !ok || !strings.HasPrefix(series, name+"{") {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(series+",", l+",")
		}
		if all {
			return value
		}
	}
	return ""
}

// waitDaemon waits (bounded, as waitStatus) until check's verdict holds
// cond, and returns it.
func (h *host) waitDaemon(check, what string, cond func(verdict) bool) verdict {
	h.t.Helper()
	var v verdict
	h.WaitFor(h.t, check+": "+what, 45*time.Second, func() bool {
		v = h.verdicts()[check]
		return cond(v)
	})
	return v
}

// unreadable: a configuration its daemon reads but the exporter's user
// cannot is said (warden_daemon_config_success 0, /checks' error names the
// file), its ports are learned and the check stays ok while the daemon
// serves; readable again (or granted), its ports come from it again. Every
// daemon at once: the waits overlap instead of adding up.
func (h *host) unreadable(t *testing.T, ds []daemon) {
	h = &host{Host: h.Host, t: t}
	// A daemon that listens on nothing (Debian's haproxy) has nothing to
	// learn: its edit is applied first, and its ports are then the edit's.
	edited := map[string]string{}
	putBack := false
	defer func() {
		if putBack {
			return
		}
		// A wait that failed: every file as it was, so that the
		// scenarios after this one fail for their own reasons only.
		for _, d := range ds {
			h.shMayFail(daemonShell + d.readable + "\n" + d.grant)
			if _, ok := edited[d.unit]; ok {
				h.shMayFail(daemonShell + d.restore)
			}
		}
	}()
	for _, d := range ds {
		if len(d.defaults) == 0 {
			edited[d.unit] = strings.TrimSpace(h.sh(daemonShell + d.edit))
			h.sh(daemonShell + d.apply)
		}
		h.sh(d.unreadable)
	}
	for _, d := range ds {
		v := h.waitDaemon(d.unit, d.locked+" unreadable, ports learned", func(v verdict) bool {
			if v.DaemonConfig == nil || !strings.Contains(v.DaemonConfig.Error, "permission denied") || len(v.Ports) == 0 {
				return false
			}
			for _, p := range v.Ports {
				if p.Source != "learned" {
					return false
				}
			}
			return true
		})
		if v.Status != "ok" {
			t.Errorf("%s: %s (%s) with %s unreadable, want ok", d.unit, v.Status, v.Reason, d.locked)
		}
		if !strings.Contains(v.DaemonConfig.Error, d.locked) {
			t.Errorf("%s: daemon_config error %q does not name %s", d.unit, v.DaemonConfig.Error, d.locked)
		}
		if got := h.configSuccess(d); got != "0" {
			t.Errorf("%s: warden_daemon_config_success %q with %s unreadable, want 0", d.unit, got, d.locked)
		}
	}
	fromConfig := func(d daemon) func(verdict) bool {
		return func(v verdict) bool {
			if v.Status != "ok" || v.DaemonConfig == nil || v.DaemonConfig.Error != "" || v.DaemonConfig.NotApplied {
				return false
			}
			if where, ok := edited[d.unit]; ok {
				return v.namesWhere(d.moved, d.name, where)
			}
			for port, re := range d.defaults {
				if !v.hasSource(port, re) {
					return false
				}
			}
			return true
		}
	}
	// The modes put back (seen through inotify), then the grant, which
	// restarts the exporter.
	for _, back := range []func(daemon) string{func(d daemon) string { return d.readable }, func(d daemon) string { return d.grant }} {
		var readable []daemon
		for _, d := range ds {
			if script := back(d); script != "" {
				h.sh(script)
				readable = append(readable, d)
			}
		}
		for _, d := range readable {
			h.waitDaemon(d.unit, "its ports from "+d.locked+" again", fromConfig(d))
			if got := h.configSuccess(d); got != "1" {
				t.Errorf("%s: warden_daemon_config_success %q with %s readable, want 1", d.unit, got, d.locked)
			}
		}
	}
	putBack = true
	for _, d := range ds {
		if _, ok := edited[d.unit]; ok {
			h.sh(daemonShell + d.restore)
		}
	}
}

// configSuccess is the value of d's warden_daemon_config_success.
func (h *host) configSuccess(d daemon) string {
	return metricValue(h.get(metricsURL), "warden_daemon_config_success", `check="`+d.unit+`"`, `daemon="`+d.name+`"`)
}

// watch records the check's status at every /checks answer until the
// returned func is called; it returns them.
func (h *host) watch(check string) func() []string {
	var (
		mu       sync.Mutex
		statuses []string
	)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			default:
			}
			if v, ok := h.verdicts()[check]; ok {
				mu.Lock()
				statuses = append(statuses, v.Status)
				mu.Unlock()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return func() []string {
		close(done)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		return statuses
	}
}

// scenarios: a config edited and not applied, then applied (a port moved
// on purpose), then a port the daemon cannot bind.
func (h *host) scenarios(d daemon) {
	t := h.t
	t.Run("edited, not applied: ok, said; applied: ok at once", func(t *testing.T) {
		h := &host{Host: h.Host, t: t}
		stop := h.watch(d.unit)
		where := strings.TrimSpace(h.sh(daemonShell + d.edit))
		v := h.waitDaemon(d.unit, "not_applied", func(v verdict) bool {
			return v.DaemonConfig != nil && v.DaemonConfig.NotApplied
		})
		if v.Status != "ok" {
			t.Errorf("edited, not applied: %s (%s), want ok", v.Status, v.Reason)
		}
		if got := metricValue(h.get(metricsURL), "warden_daemon_config_not_applied", `check="`+d.unit+`"`, `daemon="`+d.name+`"`); got != "1" {
			t.Errorf("warden_daemon_config_not_applied %q, want 1", got)
		}
		// The apply scripts return once the daemon listens where it was
		// asked to.
		h.sh(daemonShell + d.apply)
		if v := h.verdicts()[d.unit]; v.Status != "ok" {
			t.Errorf("applied: %s (%s) at the first scrape, want ok", v.Status, v.Reason)
		}
		v = h.waitDaemon(d.unit, fmt.Sprintf("applied, port %d from %s", d.moved, where), func(v verdict) bool {
			return v.Status == "ok" && v.DaemonConfig != nil && !v.DaemonConfig.NotApplied && v.namesWhere(d.moved, d.name, where)
		})
		statuses := stop()
		for _, s := range statuses {
			if s == "port_down" {
				t.Errorf("port_down at a scrape while the port moved (%d scrapes: %v)", len(statuses), statuses)
				break
			}
		}
		if got := metricValue(h.get(metricsURL), "warden_daemon_config_not_applied", `check="`+d.unit+`"`, `daemon="`+d.name+`"`); got != "0" {
			t.Errorf("applied: warden_daemon_config_not_applied %q, want 0", got)
		}
		h.sh(daemonShell + d.restore)
		h.waitDaemon(d.unit, "back to its default", func(v verdict) bool { return v.Status == "ok" && !v.hasSource(d.moved, ".") })
	})
	t.Run("a port it cannot bind: "+d.brokenStatus, func(t *testing.T) {
		h := &host{Host: h.Host, t: t}
		where := strings.TrimSpace(h.sh(daemonShell + d.broken))
		v := h.waitDaemon(d.unit, d.brokenStatus, func(v verdict) bool { return v.Status == d.brokenStatus })
		if !v.namesWhere(d.brokenPort, d.name, where) {
			t.Errorf("port %d sources %q, want %s", d.brokenPort, v.sources(d.brokenPort), d.name+": "+where)
		}
		// The reason names the line whether the daemon kept running or
		// died ("redis-server.service is failed …, and nothing listens on
		// tcp 127.0.0.1:6379 (redis: /etc/redis/redis.conf:138 (port), :87
		// (address))").
		want := cmp.Or(d.brokenReason, where)
		file, line, _ := strings.Cut(want, ":")
		if !strings.Contains(v.Reason, d.name+": "+want) &&
			!(strings.Contains(v.Reason, d.name+": "+file+":") && strings.Contains(v.Reason, ", :"+line+" (address)")) {
			t.Errorf("reason %q does not name %s", v.Reason, d.name+": "+want)
		}
		h.sh(daemonShell + d.restore)
		h.waitDaemon(d.unit, "ok again", func(v verdict) bool { return v.Status == "ok" })
	})
}

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

package daemonconf

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// testdata/mariadb/root/etc/mysql is Debian 12's /etc/mysql
// (mariadb-server 1:10.11.19-0+deb12u1, mariadb-common, mysql-common)
// without debian.cnf (credentials) and debian-start (a script):
// my.cnf -> /etc/alternatives/my.cnf -> mariadb.cnf, made relative links
// here so that they stay in the fake root; 50-server.cnf's
// "bind-address = 127.0.0.1" is on line 27. etc/mysql/custom is written
// for these tests.
const mariadbRoot = "testdata/mariadb/root"

func TestMariaDBConfig(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{nil, "/etc/mysql/my.cnf"},
		{[]string{"/bin/sh", "-c", "exec /usr/sbin/mariadbd $MYSQLD_OPTS"}, "/etc/mysql/my.cnf"},
		{[]string{"/usr/sbin/mariadbd", "--defaults-file=/etc/mysql/custom/my.cnf"}, "/etc/mysql/custom/my.cnf"},
		{[]string{"/usr/sbin/mysqld", "--defaults-file", "x.cnf"}, "/x.cnf"},
		{[]string{"/usr/sbin/mariadbd", "--no-defaults"}, ""},
	} {
		if got := mariadbConfig("mariadb.service", c.argv); got != c.want {
			t.Errorf("mariadbConfig(%q) = %q, want %q", c.argv, got, c.want)
		}
	}
}

func TestMariaDB(t *testing.T) {
	const custom = "/etc/mysql/custom/"
	const exec = "mariadb.service ExecStart"
	customArgv := func(more ...string) []string {
		return append([]string{"/usr/sbin/mariadbd", "--defaults-file=" + custom + "my.cnf"}, more...)
	}
	runKV(t, &mariadb, mariadbRoot, []kvCase{{
		// my.cnf, through the alternatives link, includes conf.d and
		// mariadb.conf.d: 50-server.cnf binds 127.0.0.1, the port is the
		// default.
		name: "debian", unit: "mariadb.service",
		want: []Listen{{Proto: "tcp", Address: "127.0.0.1", Port: 3306, File: "/etc/mysql/mariadb.conf.d/50-server.cnf", Line: 27}},
	}, {
		name: "debian under its shell wrapper", unit: "mariadb.service",
		argv: []string{"/bin/sh", "-c", "exec /usr/sbin/mariadbd"},
		want: []Listen{{Proto: "tcp", Address: "127.0.0.1", Port: 3306, File: "/etc/mysql/mariadb.conf.d/50-server.cnf", Line: 27}},
	}, {
		// [client]'s port is not the server's; [mysqld] port 3307 is
		// overridden by conf.d/a.cnf's [Server ] (b.ini is not read), and
		// extra.cnf's [mariadb-10.11] adds extra-port ("loose_" and '_'
		// accepted); the bind list's host name is skipped.
		name: "includes", unit: "mariadb.service", argv: customArgv(),
		want: []Listen{
			{Proto: "tcp", Address: "127.0.0.1", Port: 3310, File: custom + "conf.d/a.cnf", Line: 3, AddrFile: custom + "my.cnf", AddrLine: 7},
			{Proto: "tcp", Address: "::1", Port: 3310, File: custom + "conf.d/a.cnf", Line: 3, AddrFile: custom + "my.cnf", AddrLine: 7},
			{Proto: "tcp", Address: "127.0.0.1", Port: 3308, File: custom + "extra.cnf", Line: 2, AddrFile: custom + "my.cnf", AddrLine: 7},
			{Proto: "tcp", Address: "::1", Port: 3308, File: custom + "extra.cnf", Line: 2, AddrFile: custom + "my.cnf", AddrLine: 7},
		},
	}, {
		// Debian's mariadb@.service: --defaults-group-suffix=.%I, so
		// [mysqld.alt] is read too.
		name: "group suffix", unit: "mariadb@alt.service", argv: customArgv("--defaults-group-suffix=.alt"),
		want: []Listen{
			{Proto: "tcp", Address: "127.0.0.1", Port: 3399, File: custom + "my.cnf", Line: 13, AddrFile: custom + "my.cnf", AddrLine: 7},
			{Proto: "tcp", Address: "::1", Port: 3399, File: custom + "my.cnf", Line: 13, AddrFile: custom + "my.cnf", AddrLine: 7},
			{Proto: "tcp", Address: "127.0.0.1", Port: 3308, File: custom + "extra.cnf", Line: 2, AddrFile: custom + "my.cnf", AddrLine: 7},
			{Proto: "tcp", Address: "::1", Port: 3308, File: custom + "extra.cnf", Line: 2, AddrFile: custom + "my.cnf", AddrLine: 7},
		},
	}, {
		name: "group suffix from the unit", unit: "mariadb@alt.service", config: custom + "my.cnf",
		want: []Listen{
			{Proto: "tcp", Address: "127.0.0.1", Port: 3399, File: custom + "my.cnf", Line: 13, AddrFile: custom + "my.cnf", AddrLine: 7},
			{Proto: "tcp", Address: "::1", Port: 3399, File: custom + "my.cnf", Line: 13, AddrFile: custom + "my.cnf", AddrLine: 7},
			{Proto: "tcp", Address: "127.0.0.1", Port: 3308, File: custom + "extra.cnf", Line: 2, AddrFile: custom + "my.cnf", AddrLine: 7},
			{Proto: "tcp", Address: "::1", Port: 3308, File: custom + "extra.cnf", Line: 2, AddrFile: custom + "my.cnf", AddrLine: 7},
		},
	}, {
		// The command line is read after the files.
		name: "argv overrides", unit: "mariadb.service",
		argv: customArgv("-P", "3390", "--bind_address", "10.0.0.9"),
		want: []Listen{
			{Proto: "tcp", Address: "10.0.0.9", Port: 3390, File: exec, Line: 2, AddrFile: exec, AddrLine: 4},
			{Proto: "tcp", Address: "10.0.0.9", Port: 3308, File: custom + "extra.cnf", Line: 2, AddrFile: exec, AddrLine: 4},
		},
	}, {
		name: "argv skip-networking", unit: "mariadb.service", argv: customArgv("--skip-networking"), want: nil,
	}, {
		name: "skip_networking", config: custom + "skip.cnf", want: nil,
	}, {
		// skip-networking = OFF in [galera], read after [mysqld]'s; then
		// the defaults: 0.0.0.0 and :: on two sockets.
		name: "skip-networking off", config: custom + "skip-off.cnf",
		want: []Listen{
			{Proto: "tcp", Address: "0.0.0.0", Port: 3306, File: custom + "skip-off.cnf", Line: 0},
			{Proto: "tcp", Address: "::", Port: 3306, File: custom + "skip-off.cnf", Line: 0},
		},
	}, {
		// "*" is the default said explicitly: the bind line says where.
		name: "bind-address *", config: custom + "any.cnf",
		want: []Listen{
			{Proto: "tcp", Address: "0.0.0.0", Port: 3306, File: custom + "any.cnf", Line: 2},
			{Proto: "tcp", Address: "::", Port: 3306, File: custom + "any.cnf", Line: 2},
		},
	}, {
		name: "bind-address localhost", config: custom + "localhost.cnf",
		want: []Listen{
			{Proto: "tcp", Address: "127.0.0.1", Port: 3306, File: custom + "localhost.cnf", Line: 2},
			{Proto: "tcp", Address: "::1", Port: 3306, File: custom + "localhost.cnf", Line: 2},
		},
	}, {
		// bind-address=0.0.0.0 is IPv4 only; port=0 is 3306.
		name: "IPv4 any and port 0", config: custom + "any4.cnf",
		want: []Listen{{Proto: "tcp", Address: "0.0.0.0", Port: 3306, File: custom + "any4.cnf", Line: 3, AddrFile: custom + "any4.cnf", AddrLine: 2}},
	}, {
		// "::" is IPv6 alone (IPV6_V6ONLY set); a quoted port.
		name: "IPv6 any", config: custom + "any6.cnf",
		want: []Listen{{Proto: "tcp", Address: "::", Port: 3311, File: custom + "any6.cnf", Line: 3, AddrFile: custom + "any6.cnf", AddrLine: 2}},
	}, {
		// The list is not trimmed: the server aborts on " ::1".
		name: "space in the bind list", config: custom + "badbind.cnf",
		err: "is no address", errFile: custom + "badbind.cnf", errLine: 2,
	}, {
		name: "option before a group", config: custom + "nogroup.cnf",
		err: "without preceding group", errFile: custom + "nogroup.cnf", errLine: 1,
	}, {
		name: "port out of range", config: custom + "badport.cnf",
		err: "not a port", errFile: custom + "badport.cnf", errLine: 3,
	}, {
		name: "unclosed group", config: custom + "badgroup.cnf",
		err: "wrong group", errFile: custom + "badgroup.cnf", errLine: 1,
	}, {
		name: "include loop", config: custom + "loop.cnf",
		err: "include loop", errFile: custom + "loop.cnf", errLine: 2,
	}, {
		name: "bad boolean", config: custom + "badbool.cnf",
		err: "not a boolean", errFile: custom + "badbool.cnf", errLine: 2,
	}, {
		name: "missing main file", config: custom + "none.cnf", err: "no such file",
	}})
}

func TestMariaDBOption(t *testing.T) {
	for _, c := range []struct {
		in, name, value string
		has             bool
	}{
		{"port = 3307", "port", "3307", true},
		{"skip-networking", "skip-networking", "", false},
		{"skip-networking  # why", "skip-networking", "", false},
		{`bind-address = "1.2.3.4" # c`, "bind-address", "1.2.3.4", true},
		{`x = 'a#b'`, "x", "a#b", true},
		{`x = "a\"#b"`, "x", `a"#b`, true},
		{`x = a\sb\\c\qd`, "x", `a b\c\qd`, true},
		{`x = "`, "x", `"`, true},
		{`x = a\`, "x", `a\`, true},
		{`x =`, "x", "", true},
	} {
		name, value, has := mariadbOption(c.in)
		if name != c.name || value != c.value || has != c.has {
			t.Errorf("mariadbOption(%q) = %q, %q, %v; want %q, %q, %v", c.in, name, value, has, c.name, c.value, c.has)
		}
	}
}

func FuzzMariaDB(f *testing.F) {
	fuzzKV(f, &mariadb, "mariadb.service", "/etc/mysql/my.cnf", mariadbRoot,
		"etc/mysql/mariadb.cnf", "etc/mysql/mariadb.conf.d/50-server.cnf", "etc/mysql/custom/my.cnf",
		"etc/mysql/custom/skip-off.cnf", "etc/mysql/custom/any6.cnf")
}

// Without --defaults-file the server reads /etc/my.cnf before
// /etc/mysql/my.cnf: the later file's port wins, the earlier file's
// bind-address stays. A root of its own: Debian has no /etc/my.cnf, and
// the Debian fixture must stay Debian's.
func TestMariaDBEtcMyCnf(t *testing.T) {
	root := t.TempDir()
	for p, content := range map[string]string{
		"etc/my.cnf":       "[mysqld]\nport = 3300\nbind-address = 192.0.2.1\n",
		"etc/mysql/my.cnf": "[mysqld]\n\nport = 3301\n",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := parseMariaDB(&Files{Root: root}, Spec{Unit: "mariadb.service", Config: mariadbDefault})
	want := []Listen{{Proto: "tcp", Address: "192.0.2.1", Port: 3301, File: mariadbDefault, Line: 3, AddrFile: "/etc/my.cnf", AddrLine: 3}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
}

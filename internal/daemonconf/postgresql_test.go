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

import "testing"

// testdata/postgresql/root/etc/postgresql/15/main is Debian 12's cluster
// directory as postgresql-15 15.18-0+deb12u1's pg_createcluster wrote it
// (copied from /etc/postgresql/15/main: "port = 5432" on line 64,
// listen_addresses commented out, "include_dir = 'conf.d'" on line 805,
// conf.d empty but for our .gitkeep), and
// var/lib/postgresql/15/main/postgresql.auto.conf its data directory's
// (comments only). 15/alt-db and 15/cases are written for these tests.
const pgRoot = "testdata/postgresql/root"

func TestPGConfig(t *testing.T) {
	const main = "/etc/postgresql/15/main/postgresql.conf"
	for _, c := range []struct {
		unit string
		argv []string
		want string
	}{
		{"postgresql@15-main.service", []string{"/usr/bin/pg_ctlcluster", "--skip-systemctl-redirect", "15-main", "start"}, main},
		{"postgresql@15-main.service", nil, main},
		// The cluster name holds a '-', the version never does.
		{"postgresql@15-alt-db.service", nil, "/etc/postgresql/15/alt-db/postgresql.conf"},
		{"postgresql@15.service", nil, ""},
		{"postgresql@-main.service", nil, ""},
		{"postgresql.service", nil, ""},
		// postgres itself: config_file, else -D's postgresql.conf.
		{"pg.service", []string{"/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main", "-c", "config_file=" + main}, main},
		{"pg.service", []string{"postgres", "--config-file=/x/pg.conf"}, "/x/pg.conf"},
		{"pg.service", []string{"postmaster", "-D/srv/pg"}, "/srv/pg/postgresql.conf"},
		{"pg.service", []string{"postgres", "-c", "port=1"}, ""},
	} {
		if got := pgConfig(c.unit, c.argv); got != c.want {
			t.Errorf("pgConfig(%q, %q) = %q, want %q", c.unit, c.argv, got, c.want)
		}
	}
}

func TestPostgreSQL(t *testing.T) {
	const main = "/etc/postgresql/15/main/postgresql.conf"
	const cases = "/etc/postgresql/15/cases/"
	const exec = "pg.service ExecStart"
	runKV(t, &postgresql, pgRoot, []kvCase{{
		// listen_addresses at its default 'localhost': 127.0.0.1 and ::1,
		// on the port line.
		name: "debian", unit: "postgresql@15-main.service",
		want: []Listen{
			{Proto: "tcp", Address: "127.0.0.1", Port: 5432, File: main, Line: 64},
			{Proto: "tcp", Address: "::1", Port: 5432, File: main, Line: 64},
		},
	}, {
		// Debian's pg_ctlcluster runs this; -p and -h win over the files.
		name: "argv overrides", unit: "pg.service",
		argv: []string{"/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main", "-c", "config_file=" + main, "-p", "6000", "-h", "*"},
		want: []Listen{
			{Proto: "tcp", Address: "0.0.0.0", Port: 6000, File: exec, Line: 5, AddrFile: exec, AddrLine: 7},
			{Proto: "tcp", Address: "::", Port: 6000, File: exec, Line: 5, AddrFile: exec, AddrLine: 7},
		},
	}, {
		// A long option, and the file's port left: the address's line.
		name: "argv long option", unit: "pg.service",
		argv: []string{"postgres", "-c", "config_file=" + cases + "default.conf", "--listen-addresses=192.0.2.7"},
		want: []Listen{{Proto: "tcp", Address: "192.0.2.7", Port: 5432, File: exec, Line: 3}},
	}, {
		// port 5433, then conf.d/02-port.conf's 5434 (.hidden.conf and
		// readme.txt not read), then the data directory's
		// postgresql.auto.conf's '5440', which wins; listen_addresses
		// 'localhost', then conf.d's '*', then extra.conf's list, the
		// host name in it skipped.
		name: "includes and auto.conf", unit: "postgresql@15-alt-db.service",
		want: []Listen{
			{Proto: "tcp", Address: "10.0.0.5", Port: 5440, File: "/var/lib/postgresql/15/alt-db/postgresql.auto.conf", Line: 3, AddrFile: "/etc/postgresql/15/alt-db/extra.conf", AddrLine: 2},
			{Proto: "tcp", Address: "::1", Port: 5440, File: "/var/lib/postgresql/15/alt-db/postgresql.auto.conf", Line: 3, AddrFile: "/etc/postgresql/15/alt-db/extra.conf", AddrLine: 2},
		},
	}, {
		name: "defaults", config: cases + "default.conf",
		want: []Listen{
			{Proto: "tcp", Address: "127.0.0.1", Port: 5432, File: cases + "default.conf", Line: 0},
			{Proto: "tcp", Address: "::1", Port: 5432, File: cases + "default.conf", Line: 0},
		},
	}, {
		name: "listen_addresses empty", config: cases + "off.conf", want: nil,
	}, {
		// port = 0x1538 (strtol's hex), listen_addresses = '\060.0.0.0'
		// (an octal escape for '0').
		name: "hex and escapes", config: cases + "hex.conf",
		want: []Listen{{Proto: "tcp", Address: "0.0.0.0", Port: 5432, File: cases + "hex.conf", Line: 1, AddrFile: cases + "hex.conf", AddrLine: 2}},
	}, {
		name: "syntax error", config: cases + "syntax.conf",
		err: "syntax error", errFile: cases + "syntax.conf", errLine: 2,
	}, {
		name: "port 0", config: cases + "port0.conf",
		err: "not a port", errFile: cases + "port0.conf", errLine: 1,
	}, {
		name: "include loop", config: cases + "loop.conf",
		err: "include loop", errFile: cases + "loop.conf", errLine: 1,
	}, {
		name: "missing include", config: cases + "missing.conf",
		err: "no such file", errFile: cases + "missing.conf", errLine: 2,
	}, {
		name: "unterminated string", config: cases + "unterminated.conf",
		err: "unterminated", errFile: cases + "unterminated.conf", errLine: 1,
	}, {
		name: "empty list element", config: cases + "emptyelem.conf",
		err: "invalid list syntax", errFile: cases + "emptyelem.conf", errLine: 1,
	}, {
		name: "missing main file", config: "/etc/postgresql/15/none/postgresql.conf", err: "no such file",
	}})
}

func TestPGLine(t *testing.T) {
	for _, c := range []struct {
		in, name, value string
		ok, err         bool
	}{
		{"port = 5432\t\t\t\t# (change requires restart)", "port", "5432", true, false},
		{"port 5432", "port", "5432", true, false},
		{"port=5432#c", "port", "5432", true, false},
		{"  # listen_addresses = 'x'", "", "", false, false},
		{"", "", "", false, false},
		{"listen_addresses = 'a''b\\'c\\n'", "listen_addresses", "a'b'c\n", true, false},
		{"listen_addresses = localhost", "listen_addresses", "localhost", true, false},
		{"data_directory = /var/lib/x", "", "", false, true}, // a word starts with a letter
		{"x.y = on", "x.y", "on", true, false},
		{"shared_buffers = 128MB", "shared_buffers", "128MB", true, false},
		{"port =", "", "", false, true},
		{"port = 1 2", "", "", false, true},
		{"= 1", "", "", false, true},
		{"port = 'open", "", "", false, true},
		{"port = '\\", "", "", false, true},
	} {
		name, value, ok, err := pgLine(c.in)
		if name != c.name || value != c.value || ok != c.ok || (err != nil) != c.err {
			t.Errorf("pgLine(%q) = %q, %q, %v, %v; want %q, %q, %v, error %v", c.in, name, value, ok, err, c.name, c.value, c.ok, c.err)
		}
	}
}

func FuzzPostgreSQL(f *testing.F) {
	fuzzKV(f, &postgresql, "postgresql@15-main.service", "/etc/postgresql/15/main/postgresql.conf", pgRoot,
		"etc/postgresql/15/main/postgresql.conf", "etc/postgresql/15/alt-db/postgresql.conf",
		"etc/postgresql/15/alt-db/extra.conf", "etc/postgresql/15/cases/hex.conf",
		"etc/postgresql/15/cases/unterminated.conf")
}

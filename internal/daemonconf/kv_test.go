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
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// kvCase is one Parse of a fixture tree: the unit and argv it runs with,
// the main file (Config's answer when empty) and what it must return.
type kvCase struct {
	name   string
	unit   string
	argv   []string
	config string
	want   []Listen
	// err, when set, is a substring of the error, and errFile/errLine the
	// LineError's position when errLine is not 0.
	err     string
	errFile string
	errLine int
}

func runKV(t *testing.T, d *Daemon, root string, cases []kvCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			config := c.config
			if config == "" {
				config = d.Config(c.unit, c.argv)
			}
			got, err := d.Parse(&Files{Root: root}, Spec{Unit: c.unit, Argv: c.argv, Config: config})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				var le *LineError
				if c.errLine != 0 && (!errors.As(err, &le) || le.File != c.errFile || le.Line != c.errLine) {
					t.Fatalf("error %v, want it at %s:%d", err, c.errFile, c.errLine)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// nil and empty are the same "no listener".
			if (len(got) != 0 || len(c.want) != 0) && !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %v\nwant %v", got, c.want)
			}
			checkListens(t, got)
		})
	}
}

// checkListens asserts what every parser promises of every Listen.
func checkListens(t *testing.T, ls []Listen) {
	t.Helper()
	for _, l := range ls {
		if l.Proto != "tcp" && l.Proto != "udp" {
			t.Fatalf("%v: proto %q", l, l.Proto)
		}
		if l.Port < 1 || l.Port > 65535 {
			t.Fatalf("%v: port %d", l, l.Port)
		}
		if _, err := netip.ParseAddr(l.Address); l.Address != "" && err != nil {
			t.Fatalf("%v: address %q", l, l.Address)
		}
		if l.File == "" {
			t.Fatalf("%v: no file", l)
		}
	}
}

// fuzzKV parses each input as the one file config of a fake root, seeded
// with the fixture files named (paths under root): it must not panic,
// and what it returns must hold checkListens.
func fuzzKV(f *testing.F, d *Daemon, unit, config, root string, seeds ...string) {
	for _, s := range seeds {
		b, err := os.ReadFile(filepath.Join(root, s))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// One fake root a fuzzing process, its file rewritten each time: a
	// directory per input would cost more than the parse.
	dir := f.TempDir()
	p := filepath.Join(dir, config)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ls, err := d.Parse(&Files{Root: dir}, Spec{Unit: unit, Config: config})
		if err == nil {
			checkListens(t, ls)
		}
	})
}

func TestInstance(t *testing.T) {
	for _, c := range []struct {
		unit, prefix, want string
		ok                 bool
	}{
		{"postgresql@15-main.service", "postgresql", "15-main", true},
		{"redis-server@a.service", "redis-server", "a", true},
		{"redis-server@.service", "redis-server", "", false},
		{"redis-server.service", "redis-server", "", false},
		{"redis-server@a.socket", "redis-server", "", false},
	} {
		if got, ok := instance(c.unit, c.prefix); got != c.want || ok != c.ok {
			t.Errorf("instance(%q, %q) = %q, %v; want %q, %v", c.unit, c.prefix, got, ok, c.want, c.ok)
		}
	}
}

func TestByUnitKV(t *testing.T) {
	for _, c := range []struct {
		unit string
		argv []string
		want *Daemon
	}{
		{"redis-server.service", nil, &redis},
		{"redis-server@cache.service", nil, &redis},
		{"redis@cache.service", nil, &redis},
		{"kv.service", []string{"/usr/bin/redis-server", "/etc/kv.conf"}, &redis},
		{"postgresql@15-main.service", nil, &postgresql},
		// Debian's umbrella unit runs /bin/true: no daemon.
		{"postgresql.service", []string{"/bin/true"}, nil},
		{"db.service", []string{"/usr/lib/postgresql/15/bin/postgres", "-D", "/srv"}, &postgresql},
		{"mariadb.service", nil, &mariadb},
		{"mariadb@alt.service", nil, &mariadb},
		{"mysql.service", nil, &mariadb},
		{"mysqld.service", nil, &mariadb},
		{"db.service", []string{"/usr/sbin/mariadbd"}, &mariadb},
	} {
		if got := ByUnit(c.unit, c.argv); got != c.want {
			t.Errorf("ByUnit(%q, %q) = %v, want %v", c.unit, c.argv, got, c.want)
		}
	}
}

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
	"path"
	"path/filepath"
	"strings"
)

// Spec is how a unit runs a daemon: what the parser starts from.
type Spec struct {
	// Unit is the systemd unit ("postgresql@15-main.service").
	Unit string
	// Argv is the unit's ExecStart command line (the main one), its
	// environment variables expanded; nil when not known.
	Argv []string
	// Config is the main configuration file: named by Argv where the
	// daemon's flag says so, else the distribution's default (Daemon.Config
	// fills it); "" when the daemon has none (memcached run without its
	// Debian wrapper).
	Config string
}

// Daemon is one daemon the exporter knows the configuration of.
type Daemon struct {
	Name string // "nginx"
	// Units are the unit names (path.Match patterns) that run it.
	Units []string
	// Binaries are the base names of the executables that are it: a
	// check's unit of another name whose ExecStart runs one is it too.
	Binaries []string
	// Config returns the main configuration file for a unit and its
	// ExecStart's argv (nil when not known): from the argv's flag when it
	// names one, else the distribution's default.
	Config func(unit string, argv []string) string
	// BindsAtStart: the daemon binds its sockets at start only, never on a
	// reload (PostgreSQL's port and listen_addresses need a restart, its
	// reload leaves them; Redis, MariaDB, memcached and mongod reload
	// nothing of them): an edit is applied by a restart alone.
	BindsAtStart bool
	// Parse returns the sockets the configuration asks for, each with the
	// file and line that says so; an empty list when it asks for none
	// (Redis's port 0 and no tls-port, MariaDB's skip-networking).
	Parse func(f *Files, s Spec) ([]Listen, error)
}

// All are the daemons known, by name.
var All = []*Daemon{&nginx, &apache, &haproxy, &redis, &postgresql, &mariadb, &openssh, &mongodb, &memcached}

// ByUnit returns the daemon that unit runs, from its name, else from its
// ExecStart's executable (argv nil when not known); nil for none.
func ByUnit(unit string, argv []string) *Daemon { return byUnitIn(All, unit, argv) }

func byUnitIn(all []*Daemon, unit string, argv []string) *Daemon {
	for _, d := range all {
		for _, pat := range d.Units {
			if ok, _ := path.Match(pat, unit); ok {
				return d
			}
		}
	}
	if len(argv) == 0 {
		return nil
	}
	exe := filepath.Base(argv[0])
	for _, d := range all {
		for _, b := range d.Binaries {
			if exe == b {
				return d
			}
		}
	}
	return nil
}

// FlagValue returns the value of a command-line flag in argv: "-c FILE",
// "-cFILE", "--config FILE" or "--config=FILE" for names {"-c",
// "--config"}; the last one given wins, as with getopt. ok is false when
// absent.
func FlagValue(argv []string, names ...string) (value string, ok bool) {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		for _, n := range names {
			switch {
			case a == n && i+1 < len(argv):
				value, ok = argv[i+1], true
			case strings.HasPrefix(n, "--") && strings.HasPrefix(a, n+"="):
				value, ok = a[len(n)+1:], true
			case !strings.HasPrefix(n, "--") && len(n) == 2 && strings.HasPrefix(a, n) && len(a) > 2:
				value, ok = a[2:], true
			}
		}
	}
	return value, ok
}

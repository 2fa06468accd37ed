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

// Helpers shared by the Redis, PostgreSQL and MariaDB parsers: each of
// them has a port setting and an address-list setting that combine into
// one socket per (address, port), and each lets its command line override
// its files.

import (
	"errors"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// at is where a setting was made: File and Line of its directive; the zero
// value is "not set" (the daemon's built-in default).
type at struct {
	file string
	line int
}

func (a at) set() bool { return a.file != "" }

// setting is a value and where it was set.
type setting struct {
	value string
	where at
}

// cmdline is the File of a setting made on the unit's command line, its
// Line being the argument's index in argv (argv[0] is the executable, so
// the first option is 1): "redis-server.service ExecStart:3" says where
// to look as a file:line says it for a file.
func cmdline(s Spec) string {
	if s.Unit == "" {
		return "command line"
	}
	return s.Unit + " ExecStart"
}

// mainFile is the File of a built-in default: the main configuration
// file, else (a daemon started with no file: "redis-server --port 7000",
// "mariadbd --no-defaults") its command line, which is then all there is
// of its configuration.
func mainFile(s Spec) string {
	if s.Config != "" {
		return s.Config
	}
	return cmdline(s)
}

// instance is NAME for a unit "PREFIX@NAME.service"; ok is false for a
// unit of another name (or a template with no instance).
func instance(unit, prefix string) (name string, ok bool) {
	name, ok = strings.CutPrefix(unit, prefix+"@")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, ".service")
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

// relativeTo resolves p against the directory of file when p is relative.
func relativeTo(file, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(path.Dir(file), p)
}

// kvPort reads a port number in [lo, 65535]: lo is 0 where the daemon
// takes 0 to mean "none" or "the default" (Redis's port 0, MariaDB's), 1
// where 0 is an error (PostgreSQL's port GUC has min 1). Every daemon here
// refuses to start on a value outside its range or not a number, so this
// is an error naming the line.
func kvPort(file string, line int, name, v string, lo int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > 65535 {
		return 0, Errorf(file, line, "%s %q: not a port number in [%d, 65535]", name, v, lo)
	}
	return n, nil
}

// kvHosts maps one configured host to the addresses it listens on:
// an IP literal is itself (canonical form, "::ffff:1.2.3.4" and zones
// kept as netip prints them), "localhost" is 127.0.0.1 and, when
// withV6, ::1 (what a daemon that resolves it and binds every answer
// gets from Debian's /etc/hosts). ok is false for another host name,
// which the daemon would resolve through DNS at start: we cannot know
// what it binds, so the caller skips it rather than guess.
func kvHosts(host string, withV6 bool) (addrs []string, ok bool) {
	if strings.EqualFold(host, "localhost") {
		if withV6 {
			return []string{"127.0.0.1", "::1"}, true
		}
		return []string{"127.0.0.1"}, true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return nil, false
	}
	return []string{a.String()}, true
}

// boundAddr is one address a daemon binds and where the configuration
// says so (the zero at for the default).
type boundAddr struct {
	addr  string
	where at
}

// boundPort is one port a daemon listens on and where it is set.
type boundPort struct {
	port  int
	where at
}

// tcpListens is one TCP Listen per (address, port), ports outermost. Its
// File and Line are the port's directive when the port was set, since the
// port is what an operator moves and what a conflict names; else the
// address's directive (an address set, the port left at its default:
// the line an operator edited); else Line 0 of the main file, the
// built-in default.
func tcpListens(main string, addrs []boundAddr, ports []boundPort) []Listen {
	out := make([]Listen, 0, len(addrs)*len(ports))
	for _, p := range ports {
		for _, a := range addrs {
			w := at{file: main}
			switch {
			case p.where.set():
				w = p.where
			case a.where.set():
				w = a.where
			}
			l := Listen{Proto: "tcp", Address: a.addr, Port: p.port, File: w.file, Line: w.line}
			if p.where.set() && a.where.set() {
				l = l.withAddr(a.where.file, a.where.line)
			}
			out = append(out, l)
		}
	}
	return out
}

// includeAt parses paths in order through f.Include, as the include
// directive at file:line asks: a failure to read one (absent, a loop, a
// bound) is an error at that line, an error inside one names its own.
func includeAt(f *Files, file string, line int, parse func(p string, b []byte) error, paths ...string) error {
	for _, p := range paths {
		err := f.Include(p, func(b []byte) error { return parse(p, b) })
		var le *LineError
		if err != nil && !errors.As(err, &le) {
			return Errorf(file, line, "include %s: %w", p, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lines splits content into lines without their "\n" (and a trailing
// "\r", as every one of these daemons strips it with the other spaces).
func lines(content []byte) []string {
	ls := strings.Split(string(content), "\n")
	if len(ls) > 0 && ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	for i, l := range ls {
		ls[i] = strings.TrimSuffix(l, "\r")
	}
	return ls
}

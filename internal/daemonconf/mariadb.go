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

// MariaDB's option files, as mysys/my_default.c reads them (MariaDB
// 10.11, Debian 12's): "[group]" sections, "name", "name=value" or
// "name = value" lines, a line starting with '#' or ';' a comment and a
// '#' outside quotes ending one, a value's surrounding '...' or "..."
// dropped and its \n \t \r \b \s \" \' \\ escapes read; "!include FILE"
// (a missing file ignored) and "!includedir DIR" (its *.cnf files, sorted
// by name) parsed where they stand; an option before any group is an
// error. The server takes options from the groups "mariadbd --help
// --verbose" names: mysqld server mysqld-10.11 mariadb mariadb-10.11
// mariadbd mariadbd-10.11 client-server galera, each also with the
// --defaults-group-suffix (Debian's mariadb@NAME runs with ".NAME").
// Options go to my_getopt in file order, then the command line's: the
// last one wins, '-' and '_' are the same in a name, "loose-" only makes
// an unknown option a warning. What is read: port (0 or absent: 3306),
// extra-port (the thread pool's second listener), bind-address and
// skip-networking; the sockets they make were measured on Debian 12's
// mariadbd 10.11.19 (see parseMariaDB). Not read: world-writable files,
// which the server ignores (Files does not stat modes), and ~/.my.cnf.

import (
	"path"
	"strings"
)

var mariadb = Daemon{
	Name:         "mariadb",
	BindsAtStart: true,
	Units:        []string{"mariadb.service", "mariadb@*.service", "mysql.service", "mysqld.service"},
	Binaries:     []string{"mariadbd", "mysqld"},
	Config:       mariadbConfig,
	Parse:        parseMariaDB,
}

// mariadbDefault is Debian's option file (a symbolic link, through
// /etc/alternatives, to /etc/mysql/mariadb.cnf; Files follows it).
const mariadbDefault = "/etc/mysql/my.cnf"

// mariadbConfig: --defaults-file=FILE (the server reads that file alone),
// none with --no-defaults, else Debian's /etc/mysql/my.cnf.
func mariadbConfig(_ string, argv []string) string {
	if v, ok := FlagValue(argv, "--defaults-file"); ok {
		return relativeTo("/", v)
	}
	for _, a := range argv {
		if a == "--no-defaults" {
			return ""
		}
	}
	return mariadbDefault
}

type mariadbConf struct {
	f      *Files
	suffix string    // --defaults-group-suffix
	port   boundPort // "port": 3306 by default; 0 is the default too
	extra  boundPort // "extra-port": the thread pool's extra listener, 0 = none
	bind   *setting  // "bind-address": nil, all addresses
	skip   bool      // skip-networking
}

func parseMariaDB(f *Files, s Spec) ([]Listen, error) {
	c := &mariadbConf{f: f, port: boundPort{port: 3306}}
	c.suffix, _ = FlagValue(s.Argv, "--defaults-group-suffix")
	if name, ok := instance(s.Unit, "mariadb"); ok && s.Argv == nil {
		c.suffix = "." + name // mariadb@.service's MYSQLD_MULTI_INSTANCE
	}
	// With no --defaults-file the server reads /etc/my.cnf, then
	// /etc/mysql/my.cnf (then ~/.my.cnf of the mysql user, which has no
	// home directory on Debian), then --defaults-extra-file; a missing
	// one is skipped, but the main one is what we were asked to read.
	files := []string{s.Config}
	if s.Config == mariadbDefault {
		files = []string{"/etc/my.cnf", s.Config}
	}
	if v, ok := FlagValue(s.Argv, "--defaults-extra-file"); ok && s.Config != "" {
		files = append(files, relativeTo("/", v))
	}
	for _, p := range files {
		if p == "" || p != s.Config && !f.Exists(p) {
			continue
		}
		if err := c.file(p); err != nil {
			return nil, err
		}
	}
	if err := c.argv(s); err != nil {
		return nil, err
	}
	if c.skip {
		return nil, nil // skip-networking: Unix socket (and named pipe) only
	}
	// Measured on Debian 12's mariadbd 10.11.19: the server binds every
	// address getaddrinfo() answers for each comma-separated entry, and
	// sets IPV6_V6ONLY on the IPv6 ones; no bind-address (or "*") is
	// getaddrinfo(NULL): 0.0.0.0 and :: on two sockets; "::" is :: alone.
	bind := setting{value: "*"}
	if c.bind != nil {
		bind = *c.bind
	}
	var addrs []boundAddr
	for _, h := range strings.Split(bind.value, ",") {
		switch {
		case h == "*":
			addrs = append(addrs, boundAddr{"0.0.0.0", bind.where}, boundAddr{"::", bind.where})
		case h == "" || strings.ContainsAny(h, " \t\n\v\f\r"):
			// Not trimmed: "127.0.0.1, ::1" and an empty entry make the
			// server abort ("Can't create IP socket: Name or service not
			// known").
			return nil, Errorf(bind.where.file, bind.where.line, "bind-address %q: %q is no address", bind.value, h)
		default:
			// "localhost" is 127.0.0.1 and ::1 in Debian's /etc/hosts;
			// another name is skipped (see ipLiteral).
			ips, _ := kvHosts(h, true)
			for _, ip := range ips {
				addrs = append(addrs, boundAddr{ip, bind.where})
			}
		}
	}
	ports := []boundPort{c.port}
	if c.extra.port != 0 {
		ports = append(ports, c.extra)
	}
	return tcpListens(mainFile(s), addrs, ports), nil
}

// argv applies the server's own command-line options after the files:
// --name[=value], --name value for the options taking one, -P PORT.
func (c *mariadbConf) argv(s Spec) error {
	if len(s.Argv) == 0 || (path.Base(s.Argv[0]) != "mariadbd" && path.Base(s.Argv[0]) != "mysqld") {
		return nil
	}
	for i := 1; i < len(s.Argv); i++ {
		a, idx := s.Argv[i], i
		var name, value string
		hasValue := false
		switch {
		case strings.HasPrefix(a, "--"):
			name, value, hasValue = strings.Cut(a[2:], "=")
		case strings.HasPrefix(a, "-P"):
			name, value, hasValue = "port", a[2:], len(a) > 2
		default:
			continue
		}
		if !hasValue && mariadbTakesValue(name) && i+1 < len(s.Argv) {
			i++
			value, hasValue = s.Argv[i], true
		}
		if err := c.option(cmdline(s), idx, name, value, hasValue); err != nil {
			return err
		}
	}
	return nil
}

func mariadbTakesValue(name string) bool {
	switch mariadbName(name) {
	case "port", "bind-address", "extra-port":
		return true
	}
	return false
}

// mariadbName is an option's canonical name: '_' read as '-', lower
// case, "loose-" dropped.
func mariadbName(name string) string {
	name = strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	return strings.TrimPrefix(name, "loose-")
}

func (c *mariadbConf) file(p string) error {
	return c.f.Include(p, func(b []byte) error { return c.parse(p, b) })
}

func (c *mariadbConf) parse(file string, content []byte) error {
	inGroup, reading := false, false
	for i, l := range lines(content) {
		line := i + 1
		l = strings.TrimLeft(l, " \t\n\v\f\r")
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		if l[0] == '!' {
			if err := c.directive(file, line, strings.TrimLeft(l[1:], " \t\v\f\r")); err != nil {
				return err
			}
			continue
		}
		if l[0] == '[' {
			end := strings.IndexByte(l, ']')
			if end < 0 {
				return Errorf(file, line, "wrong group definition")
			}
			inGroup = true
			reading = c.reads(strings.TrimRight(l[1:end], " \t\v\f\r"))
			continue
		}
		if !inGroup {
			return Errorf(file, line, "found option without preceding group")
		}
		if !reading {
			continue
		}
		name, value, hasValue := mariadbOption(l)
		if err := c.option(file, line, name, value, hasValue); err != nil {
			return err
		}
	}
	return nil
}

// reads reports whether the server reads group g (find_type: any case),
// itself or with the group suffix. The version groups are read for any
// version: Debian's mariadb-10.11 reads only [mysqld-10.11],
// [mariadb-10.11] and [mariadbd-10.11], but which MariaDB runs is not
// in its configuration, and a group for another version is rare (the
// upstream server.cnf ships an empty one for its own).
func (c *mariadbConf) reads(g string) bool {
	g = strings.ToLower(g)
	if s := strings.ToLower(c.suffix); s != "" && strings.HasSuffix(g, s) && mariadbServerGroup(strings.TrimSuffix(g, s)) {
		return true
	}
	return mariadbServerGroup(g)
}

func mariadbServerGroup(g string) bool {
	switch g {
	case "mysqld", "server", "mariadb", "mariadbd", "client-server", "galera":
		return true
	}
	for _, prefix := range []string{"mysqld-", "mariadb-", "mariadbd-"} {
		if v, ok := strings.CutPrefix(g, prefix); ok && v != "" && strings.Trim(v, "0123456789.") == "" {
			return true
		}
	}
	return false
}

// directive is "!include FILE" or "!includedir DIR" (after the '!'); a
// relative name is taken from the including file's directory (MariaDB
// takes it from its working directory, "/" under systemd; Debian's files
// name absolute paths). my_default.c ignores any other '!' line.
func (c *mariadbConf) directive(file string, line int, d string) error {
	keyword, arg, _ := strings.Cut(d, " ")
	if k, a, ok := strings.Cut(d, "\t"); ok && len(k) < len(keyword) {
		keyword, arg = k, a
	}
	if keyword != "include" && keyword != "includedir" {
		return nil
	}
	arg = strings.Trim(arg, " \t\n\v\f\r")
	if arg == "" {
		return Errorf(file, line, "wrong '!%s' directive", keyword)
	}
	p := relativeTo(file, arg)
	if keyword == "include" {
		if !c.f.Exists(p) {
			return nil // "Ignore wrong files"
		}
		return includeAt(c.f, file, line, c.parse, p)
	}
	// Only ".cnf" on Unix (f_extensions; ".ini" is Windows').
	files, err := c.f.Dir(p, ".cnf")
	if err != nil {
		return Errorf(file, line, "!includedir: %w", err)
	}
	return includeAt(c.f, file, line, c.parse, files...)
}

// mariadbOption splits an option line: the name before '=', the value
// after it with one pair of surrounding quotes dropped and escapes read,
// a '#' outside quotes ending the line.
func mariadbOption(l string) (name, value string, hasValue bool) {
	quote, escape := byte(0), false
	for i := 0; i < len(l); i++ {
		ch := l[i]
		if (ch == '\'' || ch == '"') && !escape {
			if quote == 0 {
				quote = ch
			} else if quote == ch {
				quote = 0
			}
		}
		if quote == 0 && ch == '#' {
			l = l[:i]
			break
		}
		escape = quote != 0 && ch == '\\' && !escape
	}
	name, value, hasValue = strings.Cut(l, "=")
	name = strings.TrimRight(name, " \t\n\v\f\r")
	if !hasValue {
		return name, "", false
	}
	value = strings.Trim(value, " \t\n\v\f\r")
	if len(value) > 1 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
		value = value[1 : len(value)-1]
	}
	var b strings.Builder
	for i := 0; i < len(value); i++ {
		if value[i] != '\\' || i == len(value)-1 {
			b.WriteByte(value[i])
			continue
		}
		i++
		switch value[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 's':
			b.WriteByte(' ')
		case '"', '\'', '\\':
			b.WriteByte(value[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(value[i])
		}
	}
	return name, b.String(), true
}

// option applies one option to what the server listens on. my_getopt
// refuses a bad number or boolean, so those are errors naming the line.
func (c *mariadbConf) option(file string, line int, name, value string, hasValue bool) error {
	where := at{file, line}
	switch n := mariadbName(name); n {
	case "port", "extra-port":
		// port 0 is MYSQL_PORT, 3306 (mysqld.cc: "if (!mysqld_port)
		// mysqld_port= MYSQL_PORT"); extra-port 0 is no extra listener.
		p, err := kvPort(file, line, n, value, 0)
		if err != nil {
			return err
		}
		if n == "extra-port" {
			c.extra = boundPort{p, where}
		} else if p == 0 {
			c.port = boundPort{3306, where}
		} else {
			c.port = boundPort{p, where}
		}
	case "bind-address":
		c.bind = &setting{value, where}
	case "skip-networking", "enable-skip-networking", "disable-skip-networking", "skip-skip-networking":
		on := true
		if hasValue {
			switch strings.ToLower(value) {
			case "1", "on", "true":
			case "0", "off", "false":
				on = false
			default:
				return Errorf(file, line, "%s=%q: not a boolean", name, value)
			}
		}
		if strings.HasPrefix(n, "disable-") || strings.HasPrefix(n, "skip-skip-") {
			on = !on
		}
		c.skip = on
	}
	return nil
}

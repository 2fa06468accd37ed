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

// PostgreSQL's postgresql.conf, as PostgreSQL 15 reads it (guc-file.l,
// "Setting Parameters" in its manual): one "name = value" a line (the '='
// optional), '#' to the end of the line a comment, a value a number, a
// bare word or a '...' string ('' or \' a quote, backslash escapes),
// names case-insensitive, the last setting wins. include, include_if_exists
// (a missing file skipped) and include_dir (its *.conf files, sorted)
// name files relative to the including file's directory and are parsed
// where they stand. postgresql.auto.conf, ALTER SYSTEM's file in the data
// directory, is read after everything and wins over the files; the
// command line (-p, -h, -c name=value, --name=value) wins over both
// (measured on Debian 12's postgres 15.18: port in postgresql.conf, then
// in postgresql.auto.conf, then -p, each won; listen_addresses '*' made
// 0.0.0.0 and [::] sockets).

import (
	"errors"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

var postgresql = Daemon{
	Name:         "postgresql",
	BindsAtStart: true,
	// postgresql.service is Debian's umbrella unit (ExecStart=/bin/true):
	// it runs no daemon, its clusters' postgresql@VERSION-CLUSTER do.
	Units:    []string{"postgresql@*.service"},
	Binaries: []string{"postgres", "postmaster"},
	Config:   pgConfig,
	Parse:    parsePostgreSQL,
}

// pgConfig: postgres's "-c config_file=FILE" (or --config-file=FILE),
// else its -D DATADIR's postgresql.conf; else Debian's cluster of the
// unit's instance, postgresql@15-main → /etc/postgresql/15/main (the
// cluster name may hold '-', the version does not: split at the first).
func pgConfig(unit string, argv []string) string {
	if isPostgres(argv) {
		o := pgArgv(argv)
		if v, ok := o["config_file"]; ok {
			return relativeTo("/", v.value)
		}
		if v, ok := o["data_directory"]; ok {
			return path.Join(relativeTo("/", v.value), "postgresql.conf")
		}
	}
	if name, ok := instance(unit, "postgresql"); ok {
		if version, cluster, ok := strings.Cut(name, "-"); ok && version != "" && cluster != "" {
			return path.Join("/etc/postgresql", version, cluster, "postgresql.conf")
		}
	}
	return ""
}

func isPostgres(argv []string) bool {
	if len(argv) == 0 {
		return false
	}
	b := path.Base(argv[0])
	return b == "postgres" || b == "postmaster"
}

// pgArgv is the settings postgres's command line makes, the last one of
// a name winning: -c NAME=VALUE and --NAME=VALUE (any setting, '-' in
// NAME read as '_'), -p PORT, -h ADDRESSES, -D DATADIR.
func pgArgv(argv []string) map[string]setting {
	o := map[string]setting{}
	short := map[byte]string{'p': "port", 'h': "listen_addresses", 'D': "data_directory"}
	for i := 1; i < len(argv); i++ {
		a, idx := argv[i], i
		var name, value string
		switch {
		case strings.HasPrefix(a, "--"):
			var ok bool
			if name, value, ok = strings.Cut(a[2:], "="); !ok {
				continue
			}
		case len(a) >= 2 && a[0] == '-' && (a[1] == 'c' || short[a[1]] != ""):
			v := a[2:]
			if v == "" && i+1 < len(argv) {
				i++
				v = argv[i]
			}
			if a[1] != 'c' {
				name, value = short[a[1]], v
			} else if n, val, ok := strings.Cut(v, "="); ok {
				name, value = n, val
			} else {
				continue
			}
		default:
			continue
		}
		name = strings.ToLower(strings.ReplaceAll(name, "-", "_"))
		o[name] = setting{value, at{"", idx}}
	}
	return o
}

type pgConf struct {
	f        *Files
	settings map[string]setting // port, listen_addresses, data_directory
}

func parsePostgreSQL(f *Files, s Spec) ([]Listen, error) {
	c := &pgConf{f: f, settings: map[string]setting{}}
	if s.Config != "" {
		if err := f.Include(s.Config, func(b []byte) error { return c.parse(s.Config, b) }); err != nil {
			return nil, err
		}
	}
	var args map[string]setting
	if isPostgres(s.Argv) {
		args = pgArgv(s.Argv)
	}
	// The data directory is data_directory, else -D (a command-line
	// data_directory, -c or -D, wins over the file's).
	dataDir := c.settings["data_directory"].value
	if v, ok := args["data_directory"]; ok {
		dataDir = v.value
	}
	if dataDir != "" {
		auto := path.Join(relativeTo("/", dataDir), "postgresql.auto.conf")
		err := f.Include(auto, func(b []byte) error { return c.parse(auto, b) })
		// PostgreSQL reads the file without complaint when it is absent.
		// Debian makes it 0600 postgres: an exporter not running as
		// postgres or root cannot read it, and reading the rest is worth
		// more than failing on it, so a refused read counts as absent too
		// (what ALTER SYSTEM set is then missed).
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return nil, err
		}
	}
	for name, v := range args {
		v.where.file = cmdline(s)
		c.settings[name] = v
	}

	port := boundPort{port: 5432}
	if v, ok := c.settings["port"]; ok {
		n, err := pgInt(v.value)
		if err != nil || n < 1 || n > 65535 {
			return nil, Errorf(v.where.file, v.where.line, "port %q: not a port number in [1, 65535]", v.value)
		}
		port = boundPort{n, v.where}
	}
	listen, ok := c.settings["listen_addresses"]
	if !ok {
		listen.value = "localhost"
	}
	var addrs []boundAddr
	for _, h := range strings.Split(listen.value, ",") {
		h = strings.Trim(h, " \t\n\r\f\v")
		if strings.HasPrefix(h, `"`) && strings.HasSuffix(h, `"`) && len(h) >= 2 {
			h = strings.ReplaceAll(h[1:len(h)-1], `""`, `"`) // SplitGUCList's quoting
		}
		switch {
		case strings.TrimSpace(listen.value) == "":
			// '' turns TCP off: Unix sockets only.
		case h == "":
			return nil, Errorf(listen.where.file, listen.where.line, "listen_addresses %q: invalid list syntax", listen.value)
		case h == "*":
			// One socket a family: PostgreSQL sets IPV6_V6ONLY on the
			// IPv6 one, so "*" is 0.0.0.0 and :: side by side.
			addrs = append(addrs, boundAddr{"0.0.0.0", listen.where}, boundAddr{"::", listen.where})
		default:
			// getaddrinfo() of "localhost" on Debian answers 127.0.0.1 and
			// ::1 and PostgreSQL binds each; another name is skipped (see
			// ipLiteral).
			ips, _ := kvHosts(h, true)
			for _, ip := range ips {
				addrs = append(addrs, boundAddr{ip, listen.where})
			}
		}
	}
	return tcpListens(mainFile(s), addrs, []boundPort{port}), nil
}

// pgInt is parse_int's reading of an integer: strtol(base 0), so
// decimal, 0x hex and 0 octal, an optional sign, no unit for a port.
func pgInt(v string) (int, error) {
	v = strings.TrimSpace(v)
	digits := strings.TrimLeft(v, "+-")
	if strings.ContainsRune(v, '_') || len(digits) > 1 && digits[0] == '0' && strings.ContainsAny(digits[1:2], "oObB") {
		return 0, strconv.ErrSyntax // Go's base 0 takes these, strtol does not
	}
	n, err := strconv.ParseInt(v, 0, 32)
	return int(n), err
}

func (c *pgConf) parse(file string, content []byte) error {
	for i, l := range lines(content) {
		name, value, ok, err := pgLine(l)
		if err != nil {
			return Errorf(file, i+1, "%w", err)
		}
		if !ok {
			continue
		}
		if err := c.setting(file, i+1, strings.ToLower(name), value); err != nil {
			return err
		}
	}
	return nil
}

func (c *pgConf) setting(file string, line int, name, value string) error {
	switch name {
	case "include", "include_if_exists":
		p := relativeTo(file, value)
		if name == "include_if_exists" && !c.f.Exists(p) {
			return nil // PostgreSQL logs "skipping missing configuration file"
		}
		return includeAt(c.f, file, line, c.parse, p)
	case "include_dir":
		dir := relativeTo(file, value)
		if !c.f.Exists(dir) {
			return Errorf(file, line, "include_dir %s: could not open configuration directory", dir)
		}
		// ReadDir's order is strcmp's, PostgreSQL's order for the files;
		// Dir leaves out names starting with '.', as PostgreSQL does.
		files, err := c.f.Dir(dir, ".conf")
		if err != nil {
			return Errorf(file, line, "include_dir: %w", err)
		}
		return includeAt(c.f, file, line, c.parse, files...)
	case "port", "listen_addresses", "data_directory":
		c.settings[name] = setting{value, at{file, line}}
	}
	return nil
}

var errPGSyntax = errors.New("syntax error")

// pgLine reads one line of guc-file.l's grammar: name [=] value, then
// only a comment. ok is false for a blank or comment line. An unquoted
// value is one token: a word starting with a letter (letters, digits and
// "-._:/"), or a number (sign, digits, '.', exponent, 0x, unit letters);
// anything else is PostgreSQL's syntax error.
func pgLine(l string) (name, value string, ok bool, err error) {
	rest := strings.TrimLeft(l, " \t\r")
	if rest == "" || rest[0] == '#' {
		return "", "", false, nil
	}
	n := 0
	for n < len(rest) && (pgLetter(rest[n]) || n > 0 && (isDigit(rest[n]) || rest[n] == '.')) {
		n++
	}
	if n == 0 {
		return "", "", false, errPGSyntax
	}
	name, rest = rest[:n], strings.TrimLeft(rest[n:], " \t\r")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t\r")
	}
	switch {
	case rest == "" || rest[0] == '#':
		return "", "", false, errPGSyntax
	case rest[0] == '\'':
		var b strings.Builder
		i := 1
		for ; ; i++ {
			if i >= len(rest) {
				return "", "", false, errors.New("unterminated quoted string")
			}
			ch := rest[i]
			if ch == '\'' && i+1 < len(rest) && rest[i+1] == '\'' {
				b.WriteByte('\'')
				i++
			} else if ch == '\'' {
				break
			} else if ch == '\\' && i+1 < len(rest) {
				i += pgEscape(&b, rest[i+1:])
			} else {
				b.WriteByte(ch)
			}
		}
		value, rest = b.String(), rest[i+1:]
	default:
		n := 0
		word := pgLetter(rest[0])
		for n < len(rest) && (pgLetter(rest[n]) || isDigit(rest[n]) ||
			word && strings.IndexByte("-._:/", rest[n]) >= 0 ||
			!word && strings.IndexByte("+-.", rest[n]) >= 0) {
			n++
		}
		if n == 0 {
			return "", "", false, errPGSyntax
		}
		value, rest = rest[:n], rest[n:]
	}
	if rest = strings.TrimLeft(rest, " \t\r"); rest != "" && rest[0] != '#' {
		return "", "", false, errPGSyntax
	}
	return name, value, true, nil
}

// pgEscape writes the escape after a backslash in a quoted value (s
// starts after the backslash), GUC_scanstr's: \b \f \n \r \t, up to three
// octal digits, else the character itself; it returns the bytes read.
func pgEscape(b *strings.Builder, s string) int {
	switch s[0] {
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case '0', '1', '2', '3', '4', '5', '6', '7':
		v, n := 0, 0
		for n < 3 && n < len(s) && '0' <= s[n] && s[n] <= '7' {
			v = v*8 + int(s[n]-'0')
			n++
		}
		b.WriteByte(byte(v))
		return n
	default:
		b.WriteByte(s[0])
	}
	return 1
}

// pgLetter is guc-file.l's LETTER: [A-Za-z_\200-\377].
func pgLetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= 0x80
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

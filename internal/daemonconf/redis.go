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

// Redis's redis.conf, as Redis 7.0 (Debian 12's 7.0.15) reads it
// (config.c loadServerConfigFromString, sds.c sdssplitargs): one
// directive a line, its arguments split like a shell's (double quotes
// with \n \r \t \b \a \xHH escapes, single quotes with \'), a line whose
// first character is '#' a comment (a '#' later in a line is an
// argument), directive names case-insensitive, the last one wins. An
// include is parsed where it stands, so a directive after it overrides
// it. Its command line "redis-server FILE --port 6380" is appended to the
// file ("port 6380" parsed after everything else), so it wins. A
// Listen's File and Line are its port's (port or tls-port) directive,
// else bind's, else Line 0 (see tcpListens).

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

var redis = Daemon{
	Name:         "redis",
	BindsAtStart: true,
	Units:        []string{"redis-server.service", "redis-server@*.service", "redis.service", "redis@*.service"},
	Binaries:     []string{"redis-server"},
	Config:       redisConfig,
	Parse:        parseRedis,
}

// redisBindMax is CONFIG_BINDADDR_MAX: Redis refuses a longer bind.
const redisBindMax = 16

// redisConfig: Redis takes argv[1] as its configuration file when it is
// not an option (Debian's unit runs "/usr/bin/redis-server
// /etc/redis/redis.conf --supervised systemd --daemonize no"), and reads
// no file when argv[1] is an option; "-" is standard input, which we
// cannot read. A relative name is taken from "/", systemd's working
// directory for a unit without WorkingDirectory=. Without argv: Debian's
// instance unit redis-server@NAME runs /etc/redis/redis-NAME.conf, every
// other unit /etc/redis/redis.conf.
func redisConfig(unit string, argv []string) string {
	if len(argv) > 0 && path.Base(argv[0]) == "redis-server" {
		if len(argv) < 2 || strings.HasPrefix(argv[1], "-") {
			return ""
		}
		return relativeTo("/", argv[1])
	}
	if name, ok := instance(unit, "redis-server"); ok {
		return "/etc/redis/redis-" + name + ".conf"
	}
	return "/etc/redis/redis.conf"
}

type redisConf struct {
	f    *Files
	port boundPort // "port": 6379 by default, 0 = no TCP
	tls  boundPort // "tls-port": 0 (none) by default
	bind []string  // nil: the default; empty: none
	at   at        // where bind was set
}

func parseRedis(f *Files, s Spec) ([]Listen, error) {
	c := &redisConf{f: f, port: boundPort{port: 6379}}
	if s.Config != "" {
		if err := f.Include(s.Config, func(b []byte) error { return c.parse(s.Config, b) }); err != nil {
			return nil, err
		}
	}
	if err := c.argv(s); err != nil {
		return nil, err
	}
	// Redis 7's default bind (no bind directive) is "* -::*": every IPv4
	// address and, where the host has IPv6, every IPv6 one, on two
	// sockets (IPV6_V6ONLY is set on the second; 7.0.15 measured: 0.0.0.0
	// and [::], and "bind localhost" 127.0.0.1 alone). A "bind" with no
	// address is no TCP socket at all: Redis 7.0.15 then serves its
	// unixsocket alone, or exits "Configured to not listen anywhere".
	bind := c.bind
	if bind == nil {
		bind = []string{"*", "-::*"}
	}
	var addrs []boundAddr
	for _, b := range bind {
		// "-" marks an address Redis skips when the host lacks it
		// (EADDRNOTAVAIL): still one it is configured to listen on.
		b = strings.TrimPrefix(b, "-")
		switch b {
		case "*":
			addrs = append(addrs, boundAddr{"0.0.0.0", c.at})
		case "::*":
			addrs = append(addrs, boundAddr{"::", c.at})
		default:
			// Redis binds an address without ':' as AF_INET, so
			// "localhost" is 127.0.0.1 alone; another name is skipped (see
			// ipLiteral).
			ips, _ := kvHosts(b, false)
			for _, ip := range ips {
				addrs = append(addrs, boundAddr{ip, c.at})
			}
		}
	}
	var ports []boundPort
	for _, p := range []boundPort{c.port, c.tls} {
		if p.port != 0 {
			ports = append(ports, p)
		}
	}
	return tcpListens(mainFile(s), addrs, ports), nil
}

func (c *redisConf) parse(file string, content []byte) error {
	for i, l := range lines(content) {
		l = strings.Trim(l, " \t\r\n")
		if l == "" || l[0] == '#' {
			continue
		}
		args, err := redisSplit(l)
		if err != nil {
			return Errorf(file, i+1, "%w", err)
		}
		if err := c.directive(file, i+1, args); err != nil {
			return err
		}
	}
	return nil
}

// argv applies the command line's "--name arg..." after the files, as
// Redis appends them to its configuration text; only when the unit runs
// redis-server itself (a wrapper's options are not Redis's).
func (c *redisConf) argv(s Spec) error {
	if len(s.Argv) < 2 || path.Base(s.Argv[0]) != "redis-server" {
		return nil
	}
	j := 1
	if !strings.HasPrefix(s.Argv[1], "-") {
		j = 2 // the configuration file
	}
	var args []string
	line := 0
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		err := c.directive(cmdline(s), line, args)
		args = nil
		return err
	}
	for ; j < len(s.Argv); j++ {
		a := s.Argv[j]
		if a == "-" {
			continue // configuration from standard input: unknowable here
		}
		if strings.HasPrefix(a, "--") && len(a) > 2 {
			if err := flush(); err != nil {
				return err
			}
			args, line = []string{a[2:]}, j
			continue
		}
		if args != nil {
			args = append(args, a)
		}
	}
	return flush()
}

func (c *redisConf) directive(file string, line int, args []string) error {
	if len(args) == 0 {
		return nil
	}
	var err error
	switch name := strings.ToLower(args[0]); name {
	case "include":
		if len(args) != 2 {
			return Errorf(file, line, "include: wrong number of arguments")
		}
		return c.include(file, line, args[1])
	case "port", "tls-port":
		if len(args) != 2 {
			return Errorf(file, line, "%s: wrong number of arguments", name)
		}
		p := &c.port
		if name == "tls-port" {
			p = &c.tls
		}
		p.where = at{file, line}
		p.port, err = kvPort(file, line, name, args[1], 0)
	case "bind":
		if len(args)-1 > redisBindMax {
			return Errorf(file, line, "bind: more than %d addresses", redisBindMax)
		}
		c.bind, c.at = args[1:], at{file, line}
	}
	return err
}

// include reads a file where the directive stands. Redis 7 takes a
// pattern with '*', '?' or '[' as a glob (no match: nothing), and a
// relative name from its working directory at that moment, which is "/"
// under systemd until a "dir" directive chdir()s: we take it from the
// including file's directory instead, the reading every include example
// in redis.conf ("include /path/to/local.conf") and operators assume.
func (c *redisConf) include(file string, line int, name string) error {
	p := relativeTo(file, name)
	if !strings.ContainsAny(name, "*?[") {
		return includeAt(c.f, file, line, c.parse, p)
	}
	matches, err := c.f.Glob(p)
	if err != nil {
		return Errorf(file, line, "include: %w", err)
	}
	return includeAt(c.f, file, line, c.parse, matches...)
}

var errRedisQuotes = errors.New("unbalanced quotes in configuration line")

// redisSplit is sdssplitargs: arguments separated by spaces, "..." with
// C escapes, '...' with \' only; a closing quote must end the argument.
func redisSplit(line string) ([]string, error) {
	if i := strings.IndexByte(line, 0); i >= 0 {
		line = line[:i] // a C string ends there
	}
	var args []string
	i := 0
	for {
		for i < len(line) && isCSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			return args, nil
		}
		var cur []byte
		inq, insq := false, false
	arg:
		for ; ; i++ {
			switch {
			case inq || insq:
				if i >= len(line) {
					return nil, errRedisQuotes
				}
				ch := line[i]
				switch {
				case inq && ch == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					cur = append(cur, unhex(line[i+2])<<4|unhex(line[i+3]))
					i += 3
				case inq && ch == '\\' && i+1 < len(line):
					i++
					cur = append(cur, cEscape(line[i]))
				case insq && ch == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					cur = append(cur, '\'')
				case (inq && ch == '"') || (insq && ch == '\''):
					if i+1 < len(line) && !isCSpace(line[i+1]) {
						return nil, fmt.Errorf("%w: a closing quote must be followed by a space", errRedisQuotes)
					}
					i++
					break arg
				default:
					cur = append(cur, ch)
				}
			case i >= len(line):
				break arg
			default:
				switch ch := line[i]; ch {
				case ' ', '\n', '\r', '\t':
					i++
					break arg
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					cur = append(cur, ch)
				}
			}
		}
		args = append(args, string(cur))
	}
}

func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func cEscape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return c
}

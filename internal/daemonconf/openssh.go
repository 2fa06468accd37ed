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
	"fmt"
	"path"
	"strings"
)

// openssh reads sshd_config(5) as OpenSSH 9.2's servconf.c does: Port and
// ListenAddress accumulate, AddressFamily's first value wins, Include
// globs (relative to /etc/ssh), Match blocks. sshd@*.service (one per
// connection under socket activation) is not a listener and ssh.socket's
// ListenStream is the caller's, so neither is listed.
var openssh = Daemon{
	Name:     "openssh",
	Units:    []string{"ssh.service", "sshd.service"},
	Binaries: []string{"sshd"},
	Config: func(_ string, argv []string) string {
		file := "/etc/ssh/sshd_config"
		for _, o := range sshdOptions(argv) {
			if o.name == "f" {
				file = o.value // sshd keeps the last -f
			}
		}
		return file
	},
	Parse: parseOpenSSH,
}

// sshdGetopt is sshd 9.2's getopt string's letters taking a value
// ("C:E:b:c:f:g:h:k:o:p:u:46DGQRTdeiqrtV").
const sshdGetopt = "CEbcfghkopu"

func sshdOptions(argv []string) []opt {
	if len(argv) < 2 {
		return nil
	}
	return getopt(argv[1:], sshdGetopt, nil)
}

// sshdPort is a Port, or a ListenAddress's host and port (0: every Port),
// and where it was said.
type sshdPort struct {
	host string
	port int
	file string
	line int
}

type sshdConf struct {
	f        *Files
	ports    []sshdPort
	listens  []sshdPort
	family   string // "" until set: any, inet, inet6
	cmdPorts bool   // -p given: the config's Port lines are ignored
}

func parseOpenSSH(f *Files, s Spec) ([]Listen, error) {
	c := &sshdConf{f: f}
	// sshd applies its command line before reading the file; first-wins
	// keywords given by -o therefore beat the file's.
	for _, o := range sshdOptions(s.Argv) {
		switch o.name {
		case "4":
			c.family = "inet"
		case "6":
			c.family = "inet6"
		case "p":
			p, err := sshdPortValue(o.value)
			if err != nil {
				return nil, Errorf(commandLine, 0, "-p: %w", err)
			}
			c.cmdPorts = true
			c.ports = append(c.ports, sshdPort{port: p, file: commandLine})
		case "o":
			active := true
			if err := c.line(commandLine, 0, o.value, &active, false, true); err != nil {
				return nil, err
			}
		}
	}
	main := s.Config
	if main == "" {
		main = "/etc/ssh/sshd_config"
	}
	if err := c.file(main, new(bool), false, true); err != nil {
		return nil, err
	}
	// Port 22 unsaid: a ListenAddress's line is then where its socket
	// is said, as the address alone was what an operator wrote.
	defaultPort := len(c.ports) == 0
	if defaultPort {
		c.ports = []sshdPort{{port: 22, file: main}}
	}
	if c.family == "" {
		c.family = "any"
	}
	listens := c.listens
	if len(listens) == 0 {
		// No ListenAddress: sshd listens on getaddrinfo(NULL, AI_PASSIVE)
		// for AddressFamily, each Port; the socket is the Port's doing.
		for _, p := range c.ports {
			for _, a := range []string{any4, any6} {
				if c.family != "any" && (c.family == "inet") != is4(a) {
					continue
				}
				listens = append(listens, sshdPort{host: a, port: p.port, file: p.file, line: p.line})
			}
		}
	}
	var out []Listen
	for _, l := range listens {
		addrs, err := c.resolve(l.host)
		if err != nil {
			return nil, Errorf(l.file, l.line, "ListenAddress %s: %w", l.host, err)
		}
		ports := []sshdPort{{port: l.port, file: l.file, line: l.line}}
		if l.port == 0 {
			// Every Port applies: its line first, the ListenAddress's beside.
			ports = c.ports
		}
		for _, a := range addrs {
			for _, p := range ports {
				ls := Listen{Proto: "tcp", Address: a, Port: p.port, File: l.file, Line: l.line}
				if !defaultPort {
					ls = Listen{Proto: "tcp", Address: a, Port: p.port, File: p.file, Line: p.line}.withAddr(l.file, l.line)
				}
				out = append(out, ls)
			}
		}
	}
	return uniqueListens(out), nil
}

// resolve is getaddrinfo(host) with AddressFamily's hint: an IP literal
// of the other family is sshd's fatal "bad addr or host"; a name other
// than localhost is skipped, as we do not resolve names.
func (c *sshdConf) resolve(host string) ([]string, error) {
	var addrs []string
	if host == "localhost" {
		addrs = []string{lo4, lo6}
	} else if a, ok := ipLiteral(host); ok {
		addrs = []string{a}
	} else {
		return nil, nil
	}
	var out []string
	for _, a := range addrs {
		if c.family == "any" || (c.family == "inet") == is4(a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no address of AddressFamily %s", c.family)
	}
	return out, nil
}

// file parses one configuration file; active is the Match state it
// starts in (shared with its includer, which restores it), neverMatch
// that it is included from within a Match that did not match.
func (c *sshdConf) file(name string, active *bool, neverMatch, top bool) error {
	if top {
		*active = true
	}
	return c.f.Include(name, func(b []byte) error {
		for i, l := range strings.Split(string(b), "\n") {
			if err := c.line(name, i+1, l, active, neverMatch, false); err != nil {
				return err
			}
		}
		return nil
	})
}

// line is servconf.c's process_server_config_line for the keywords that
// decide the listeners. cmdline is a -o option.
func (c *sshdConf) line(file string, n int, raw string, active *bool, neverMatch, cmdline bool) error {
	raw = strings.TrimLeft(raw, " \t\r")
	raw = strings.TrimRight(raw, " \t\r\n\f")
	// The keyword ends at whitespace or '=', which may be surrounded by
	// whitespace: "Port 22", "Port=22", "Port = 22".
	end := strings.IndexAny(raw, " \t=")
	if end < 0 {
		end = len(raw)
	}
	keyword, rest := strings.ToLower(raw[:end]), strings.TrimLeft(raw[end:], " \t")
	if keyword == "" || keyword[0] == '#' {
		return nil
	}
	rest = strings.TrimLeft(strings.TrimPrefix(rest, "="), " \t")
	args, err := sshdSplit(rest)
	if err != nil {
		return Errorf(file, n, "%w", err)
	}
	switch keyword {
	case "port", "listenaddress", "addressfamily":
	case "include", "match":
		if cmdline {
			return Errorf(file, n, "%s is not supported as a command-line option", raw[:end])
		}
	default:
		return nil
	}
	if len(args) == 0 {
		return Errorf(file, n, "no argument after keyword %q", raw[:end])
	}
	// Port, ListenAddress and AddressFamily are global-only: within a
	// Match that does not apply at startup (any but "Match All") sshd
	// refuses them ("Directive 'Port' is not allowed within a Match block").
	if !*active && keyword != "include" && keyword != "match" {
		return Errorf(file, n, "directive %q is not allowed within a Match block", raw[:end])
	}
	switch keyword {
	case "port":
		if len(args) > 1 {
			return Errorf(file, n, "Port: extra arguments at end of line")
		}
		if c.cmdPorts {
			return nil // sshd(8): -p overrides the configuration's Port
		}
		p, err := sshdPortValue(args[0])
		if err != nil {
			return Errorf(file, n, "Port: %w", err)
		}
		c.ports = append(c.ports, sshdPort{port: p, file: file, line: n})
	case "listenaddress":
		host, port, err := sshdListenAddress(args)
		if err != nil {
			return Errorf(file, n, "ListenAddress: %w", err)
		}
		c.listens = append(c.listens, sshdPort{host: host, port: port, file: file, line: n})
	case "addressfamily":
		v := strings.ToLower(args[0])
		if v != "any" && v != "inet" && v != "inet6" {
			return Errorf(file, n, "AddressFamily: unsupported option %q", args[0])
		}
		if c.family == "" {
			c.family = v
		}
	case "match":
		// At startup sshd has no connection to match: only "Match All"
		// applies; a Match under one that did not never applies.
		*active = !neverMatch && len(args) == 1 && strings.EqualFold(args[0], "all")
	case "include":
		return c.include(file, n, args, active)
	}
	return nil
}

// include parses each glob's files in lexical order, relative ones under
// /etc/ssh; a Match inside an included file ends with it.
func (c *sshdConf) include(file string, n int, args []string, active *bool) error {
	for _, a := range args {
		if !strings.HasPrefix(a, "/") {
			a = path.Join("/etc/ssh", a)
		}
		matches, err := c.f.Glob(a)
		if err != nil {
			return Errorf(file, n, "Include: %w", err)
		}
		for _, m := range matches {
			outer := *active
			if err := c.file(m, active, !outer, false); err != nil {
				var le *LineError
				if errors.As(err, &le) {
					return err
				}
				return Errorf(file, n, "Include %s: %w", m, err)
			}
			*active = outer
		}
	}
	return nil
}

// sshdListenAddress reads "host", "host:port", "[host]:port", a bare IPv6
// address (two colons or more, no brackets), then an optional "rdomain
// NAME". Port 0 means every Port.
func sshdListenAddress(args []string) (string, int, error) {
	arg := args[0]
	host, port := arg, 0
	if !strings.Contains(arg, "[") && strings.Count(arg, ":") >= 2 {
		// a bare IPv6 address carries no port
	} else {
		// hpdelim: "[v6]" up to ']', else up to the first ':' or '/'.
		var i int
		if strings.HasPrefix(arg, "[") {
			j := strings.IndexByte(arg, ']')
			if j < 0 {
				return "", 0, fmt.Errorf("bad address:port usage %q", arg)
			}
			i = j + 1
		} else if i = strings.IndexAny(arg, ":/"); i < 0 {
			i = len(arg)
		}
		host = arg[:i]
		if i < len(arg) {
			if arg[i] != ':' && arg[i] != '/' {
				return "", 0, fmt.Errorf("bad address:port usage %q", arg)
			}
			p, err := sshdPortValue(arg[i+1:])
			if err != nil {
				return "", 0, err
			}
			port = p
		}
		if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
			host = host[1 : len(host)-1]
		}
	}
	switch {
	case len(args) == 1:
	case len(args) == 3 && args[1] == "rdomain":
	default:
		return "", 0, fmt.Errorf("bad ListenAddress syntax")
	}
	return host, port, nil
}

// sshdPortValue is a2port: a number 1-65535. sshd also takes a service
// name from /etc/services ("ssh"); that is the host's file, not the
// configuration's, so it is refused here rather than guessed.
func sshdPortValue(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("missing port number")
	}
	return parsePort(s)
}

// sshdSplit is OpenSSH's argv_split with terminate_on_comment: words
// split on blanks, "double" and 'single' quotes, backslash escaping a
// quote, a backslash or (unquoted) a space, a word starting with '#'
// ending the line.
func sshdSplit(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\t' {
			continue
		}
		if s[i] == '#' {
			break
		}
		var w strings.Builder
		quote := byte(0)
		for ; i < len(s); i++ {
			ch := s[i]
			switch {
			case ch == '\\' && i+1 < len(s) && (s[i+1] == '\'' || s[i+1] == '"' || s[i+1] == '\\' || (quote == 0 && s[i+1] == ' ')):
				i++
				w.WriteByte(s[i])
				continue
			case quote == 0 && (ch == ' ' || ch == '\t'):
			case quote == 0 && (ch == '"' || ch == '\''):
				quote = ch
				continue
			case quote != 0 && ch == quote:
				quote = 0
				continue
			default:
				w.WriteByte(ch)
				continue
			}
			break
		}
		if quote != 0 {
			return nil, fmt.Errorf("invalid quotes")
		}
		out = append(out, w.String())
	}
	return out, nil
}

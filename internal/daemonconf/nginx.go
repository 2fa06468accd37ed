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
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

// nginx reads nginx.conf and its includes: the listen directives of the
// server blocks of http, stream and mail, and http's default of *:80 for a
// server block without one.
//
// The tokenizer is our own, after ngx_conf_read_token (nginx 1.22): the
// parser github.com/tufanbarisyildirim/gonginx was weighed and left out
// because its directives carry the line of their terminator (the ";" or
// the closing "}"), not of their name, and its quoted words keep their
// quotes and escapes, so we would redo half of the work on its output.
var nginx = Daemon{
	Name:     "nginx",
	Units:    []string{"nginx.service"},
	Binaries: []string{"nginx"},
	Config:   nginxConfig,
	Parse:    parseNginx,
}

const (
	nginxConf = "/etc/nginx/nginx.conf"
	// nginxConfPrefix is Debian's build's conf prefix (the directory of
	// --conf-path): a relative -c is taken from it, or from -p when given.
	nginxConfPrefix = "/etc/nginx"
	// nginxMaxNesting bounds block nesting; real configurations stay
	// under 6 (http, server, location, if, limit_except).
	nginxMaxNesting = 64
	// nginxHTTPPort is http's listen default when the master runs as root,
	// as Debian's unit does (nginx docs: "listen *:80 | *:8000").
	nginxHTTPPort = 80
)

func nginxConfig(_ string, argv []string) string {
	c, ok := FlagValue(argv, "-c")
	if !ok {
		return nginxConf
	}
	if !filepath.IsAbs(c) {
		prefix, ok := FlagValue(argv, "-p")
		if !ok {
			prefix = nginxConfPrefix
		}
		c = filepath.Join(prefix, c)
	}
	return c
}

func parseNginx(f *Files, s Spec) ([]Listen, error) {
	// nginx resolves a relative include against its conf prefix, which
	// is the main file's directory once -c is read (ngx_process_options).
	p := &nginxParser{f: f, prefix: filepath.Dir(s.Config)}
	if err := p.file(s.Config); err != nil {
		return nil, err
	}
	return p.result(), nil
}

// nginxListen is one listen directive's socket with what decides whether
// nginx binds it on its own.
type nginxListen struct {
	Listen
	v6       bool // the socket's family: nginx groups a port's addresses per family
	wildcard bool // *, 0.0.0.0 or [::]
	bind     bool // "bind" or an option that implies it
}

type nginxBlock struct {
	name      string
	file      string
	line      int
	server    string // for a server block: its context, http, stream or mail
	hasListen bool
}

type nginxParser struct {
	f       *Files
	prefix  string
	stack   []nginxBlock
	listens []nginxListen
}

func (p *nginxParser) file(path string) error {
	return p.f.Include(path, func(b []byte) error {
		l := &nginxLexer{file: path, b: b, line: 1}
		// An included file is parsed on its own: its blocks close in it.
		base := len(p.stack)
		for {
			words, line, end, err := l.next()
			if err != nil {
				return err
			}
			switch end {
			case 0:
				if len(p.stack) > base {
					return Errorf(path, l.line, "unexpected end of file, expecting \"}\"")
				}
				return nil
			case '}':
				if len(p.stack) == base {
					return Errorf(path, line, "unexpected \"}\"")
				}
				p.close()
			case '{':
				// ngx_lua reads *_by_lua_block bodies itself: they are
				// Lua, not nginx's grammar.
				if strings.HasSuffix(words[0], "_by_lua_block") {
					if err := l.skipLua(); err != nil {
						return err
					}
					continue
				}
				if len(p.stack) >= nginxMaxNesting {
					return Errorf(path, line, "blocks nested deeper than %d", nginxMaxNesting)
				}
				p.open(words[0], path, line)
			case ';':
				if err := p.directive(words, path, line); err != nil {
					return err
				}
			}
		}
	})
}

func (p *nginxParser) open(name, file string, line int) {
	b := nginxBlock{name: name, file: file, line: line}
	if name == "server" && len(p.stack) == 1 {
		switch ctx := p.stack[0].name; ctx {
		case "http", "stream", "mail":
			b.server = ctx
		}
	}
	p.stack = append(p.stack, b)
}

func (p *nginxParser) close() {
	b := p.stack[len(p.stack)-1]
	p.stack = p.stack[:len(p.stack)-1]
	// A stream or mail server without listen is an error nginx reports;
	// an http one listens on the default.
	if b.server == "http" && !b.hasListen {
		p.listens = append(p.listens, nginxListen{
			Listen:   Listen{Proto: "tcp", Address: "0.0.0.0", Port: nginxHTTPPort, File: b.file, Line: b.line},
			wildcard: true,
		})
	}
}

func (p *nginxParser) directive(words []string, file string, line int) error {
	switch words[0] {
	case "include":
		if len(words) != 2 {
			return Errorf(file, line, "invalid number of arguments in \"include\"")
		}
		return p.include(words[1], file, line)
	case "listen":
		if len(p.stack) == 0 || p.stack[len(p.stack)-1].server == "" {
			return nil
		}
		b := &p.stack[len(p.stack)-1]
		b.hasListen = true
		if len(words) < 2 {
			return Errorf(file, line, "invalid number of arguments in \"listen\"")
		}
		l, ok, err := parseNginxListen(b.server, words[1:])
		if err != nil {
			return Errorf(file, line, "listen %s: %w", words[1], err)
		}
		if ok {
			l.File, l.Line = file, line
			p.listens = append(p.listens, l)
		}
	}
	return nil
}

func (p *nginxParser) include(pattern, file string, line int) error {
	// A pattern matching nothing is no error (ngx_conf_include).
	paths, _, err := webInclude(p.f, p.prefix, pattern)
	if err != nil {
		return Errorf(file, line, "include: %w", err)
	}
	for _, m := range paths {
		if err := p.file(m); err != nil {
			return Errorf(file, line, "include %s: %w", m, err)
		}
	}
	return nil
}

// parseNginxListen parses listen's address and parameters in context ctx
// (ngx_parse_url with listen set, then ngx_http_core_listen). ok is false
// for a UNIX socket or a host name other than localhost.
func parseNginxListen(ctx string, args []string) (l nginxListen, ok bool, err error) {
	a := args[0]
	if strings.HasPrefix(a, "unix:") {
		return l, false, nil
	}
	host, port := "", ""
	hasPort := true
	switch {
	case strings.HasPrefix(a, "["):
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return l, false, fmt.Errorf("invalid IPv6 address")
		}
		host, port = a[1:end], a[end+1:]
		switch {
		case port == "":
			hasPort = false
		case port[0] == ':':
			port = port[1:]
		default:
			return l, false, fmt.Errorf("invalid port")
		}
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
			return l, false, fmt.Errorf("invalid IPv6 address")
		}
	case strings.IndexByte(a, ':') >= 0:
		// The first colon splits, as ngx_parse_inet_url does: an IPv6
		// address needs its brackets.
		i := strings.IndexByte(a, ':')
		host, port = a[:i], a[i+1:]
		if host == "" {
			return l, false, fmt.Errorf("no host")
		}
	case strings.Trim(a, "0123456789") == "":
		host, port = "*", a
	default:
		host, hasPort = a, false
	}
	l.Proto = "tcp"
	if !hasPort {
		// Only http has a default port; stream and mail want one.
		if ctx != "http" {
			return l, false, fmt.Errorf("no port")
		}
		l.Port = nginxHTTPPort
	} else if l.Port, ok = webPort(port); !ok {
		return l, false, fmt.Errorf("invalid port")
	}
	if host == "*" {
		host = "0.0.0.0"
	}
	if l.Address, ok = webIP(host); !ok {
		return l, false, nil // a name nginx resolves at start: not known here
	}
	ip := netip.MustParseAddr(l.Address)
	l.v6 = ip.Is6()
	l.wildcard = ip.IsUnspecified()
	for _, opt := range args[1:] {
		name, _, _ := strings.Cut(opt, "=")
		switch {
		case opt == "quic" && ctx == "http", opt == "udp" && ctx == "stream":
			l.Proto = "udp"
		case opt == "ipv6only=off" && l.wildcard && l.v6:
			// One socket for both families; ipv6only=on is the default
			// since 1.3.4, so a bare [::]:80 is IPv6 only.
			l.Address = ""
		}
		switch name {
		// ngx_http_core_listen: these options set lsopt.bind.
		case "bind", "backlog", "rcvbuf", "sndbuf", "accept_filter", "deferred",
			"ipv6only", "reuseport", "setfib", "fastopen", "so_keepalive":
			l.bind = true
		}
	}
	return l, true, nil
}

// result drops what nginx does not bind: "if one of the listen directives
// listens on all addresses for the given port (*:port), nginx will bind()
// only to *:port" unless the specific one has bind (or an option implying
// it); nginx groups a port's addresses per family and protocol
// (ngx_http_add_listen, ngx_http_init_listening).
func (p *nginxParser) result() []Listen {
	type group struct {
		proto string
		v6    bool
		port  int
	}
	wild := map[group]bool{}
	for _, l := range p.listens {
		if l.wildcard {
			wild[group{l.Proto, l.v6, l.Port}] = true
		}
	}
	var s listenSet
	for _, l := range p.listens {
		if !l.wildcard && !l.bind && wild[group{l.Proto, l.v6, l.Port}] {
			continue
		}
		s.add(l.Listen)
	}
	return s.list
}

// nginxLexer splits a file into directives as ngx_conf_read_token does:
// words separated by blanks; "..." and '...' quote at a word's start;
// a backslash escapes the next character (\" \' \\ \t \r \n are
// unescaped, others kept); "#" at a word's start comments to the line's
// end; ";" ends a directive, "{" opens a block, "}" at a word's start
// closes one; "${" inside a word is a variable, not a block.
type nginxLexer struct {
	file string
	b    []byte
	i    int
	line int
}

// next returns the next directive's words, the line of its first word,
// and what ended it: ';', '{', '}' (no words), or 0 at the end of the file.
func (l *nginxLexer) next() (words []string, line int, end byte, err error) {
	line = l.line
	for l.i < len(l.b) {
		switch c := l.b[l.i]; c {
		case '\n':
			l.line++
			l.i++
		case ' ', '\t', '\r':
			l.i++
		case ';', '{':
			if len(words) == 0 {
				return nil, l.line, 0, Errorf(l.file, l.line, "unexpected %q", c)
			}
			l.i++
			return words, line, c, nil
		case '}':
			if len(words) > 0 {
				return nil, l.line, 0, Errorf(l.file, l.line, "unexpected \"}\"")
			}
			l.i++
			return nil, l.line, '}', nil
		case '#':
			for l.i < len(l.b) && l.b[l.i] != '\n' {
				l.i++
			}
		default:
			if len(words) == 0 {
				line = l.line
			}
			w, err := l.word()
			if err != nil {
				return nil, l.line, 0, err
			}
			words = append(words, w)
		}
	}
	if len(words) > 0 {
		return nil, l.line, 0, Errorf(l.file, l.line, "unexpected end of file, expecting \";\" or \"}\"")
	}
	return nil, l.line, 0, nil
}

func (l *nginxLexer) word() (string, error) {
	var w []byte
	if q := l.b[l.i]; q == '"' || q == '\'' {
		start := l.line
		for l.i++; ; l.i++ {
			if l.i >= len(l.b) {
				return "", Errorf(l.file, start, "unexpected end of file in a quoted string")
			}
			c := l.b[l.i]
			if c == q {
				l.i++
				break
			}
			if c == '\\' && l.i+1 < len(l.b) {
				l.i++
				w = nginxUnescape(w, l.b[l.i])
				c = l.b[l.i]
			} else {
				w = append(w, c)
			}
			if c == '\n' {
				l.line++
			}
		}
		// A closing quote must be followed by a blank, ";", "{" or ")".
		if l.i < len(l.b) && !strings.ContainsRune(" \t\r\n;{)", rune(l.b[l.i])) {
			return "", Errorf(l.file, l.line, "unexpected %q", l.b[l.i])
		}
		return string(w), nil
	}
	variable := false
	for l.i < len(l.b) {
		c := l.b[l.i]
		switch {
		case c == '{' && variable:
		case c == '\\' && l.i+1 < len(l.b):
			l.i++
			w = nginxUnescape(w, l.b[l.i])
			if l.b[l.i] == '\n' {
				l.line++
			}
			l.i++
			variable = false
			continue
		case strings.IndexByte(" \t\r\n;{", c) >= 0:
			return string(w), nil
		}
		variable = c == '$'
		w = append(w, c)
		l.i++
	}
	return string(w), nil
}

func nginxUnescape(w []byte, c byte) []byte {
	switch c {
	case '"', '\'', '\\':
		return append(w, c)
	case 't':
		return append(w, '\t')
	case 'r':
		return append(w, '\r')
	case 'n':
		return append(w, '\n')
	}
	return append(w, '\\', c)
}

// skipLua passes over a *_by_lua_block body up to its closing brace,
// minding Lua's quoted strings and "--" comments. Lua's long brackets
// ([[...]]) holding an unbalanced brace are not understood.
func (l *nginxLexer) skipLua() error {
	start, depth := l.line, 1
	for l.i < len(l.b) {
		c := l.b[l.i]
		l.i++
		switch c {
		case '\n':
			l.line++
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return nil
			}
		case '"', '\'':
			for l.i < len(l.b) && l.b[l.i] != c && l.b[l.i] != '\n' {
				if l.b[l.i] == '\\' && l.i+1 < len(l.b) && l.b[l.i+1] != '\n' {
					l.i++
				}
				l.i++
			}
			if l.i < len(l.b) && l.b[l.i] == c {
				l.i++
			}
		case '-':
			if l.i < len(l.b) && l.b[l.i] == '-' {
				for l.i < len(l.b) && l.b[l.i] != '\n' {
					l.i++
				}
			}
		}
	}
	return Errorf(l.file, start, "unexpected end of file in a Lua block")
}

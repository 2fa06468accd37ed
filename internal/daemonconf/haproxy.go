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
	"strconv"
	"strings"
)

// haproxy reads the files and directories given with -f: the bind lines
// of the frontend and listen sections that are not disabled.
var haproxy = Daemon{
	Name:     "haproxy",
	Units:    []string{"haproxy.service", "haproxy@*.service"},
	Binaries: []string{"haproxy"},
	Config:   haproxyConfig,
	Parse:    parseHAProxy,
}

const (
	haproxyConf = "/etc/haproxy/haproxy.cfg"
	// haproxyMaxPorts caps what one bind line's ports may expand to: a
	// range like :1-65535 is a configuration we do not list port by port.
	haproxyMaxPorts = 64
	// haproxyMaxNesting bounds .if blocks.
	haproxyMaxNesting = 64
)

// haproxyConfig is the first -f (Debian's unit passes -f $CONFIG, which
// the caller has expanded); Parse reads every -f.
func haproxyConfig(_ string, argv []string) string {
	if fs := haproxyFiles(argv); len(fs) > 0 {
		return fs[0]
	}
	return haproxyConf
}

func haproxyFiles(argv []string) []string {
	var out []string
	for i := 1; i+1 < len(argv); i++ {
		if argv[i] == "-f" {
			out = append(out, argv[i+1])
			i++
		}
	}
	return out
}

func parseHAProxy(f *Files, s Spec) ([]Listen, error) {
	files := haproxyFiles(s.Argv)
	if len(files) == 0 {
		files = []string{s.Config}
	}
	p := &haproxyParser{f: f}
	for _, name := range files {
		// A directory is its *.cfg files in lexical order, hidden ones
		// left out (haproxy's -f).
		names := []string{name}
		if webIsDir(f, name) {
			var err error
			if names, err = f.Dir(name, ".cfg"); err != nil {
				return nil, err
			}
		}
		for _, n := range names {
			if err := f.Include(n, func(b []byte) error { return p.file(n, b) }); err != nil {
				return nil, err
			}
		}
	}
	return p.out.list, nil
}

type haproxyParser struct {
	f   *Files
	out listenSet
	// defDisabled is "disabled" in the last defaults section: the
	// proxies after it start disabled.
	defDisabled bool
}

// haproxySection is the section being read.
type haproxySection struct {
	kind     string // "frontend", "listen", "defaults", ...
	disabled bool
	binds    []Listen
}

// haproxyCond is one .if block: whether its current branch is read, and
// whether one of its branches already was.
type haproxyCond struct{ active, taken, parent bool }

func (p *haproxyParser) file(name string, b []byte) error {
	var sec haproxySection
	var conds []haproxyCond
	end := func() {
		if (sec.kind == "frontend" || sec.kind == "listen") && !sec.disabled {
			for _, l := range sec.binds {
				p.out.add(l)
			}
		}
	}
	lines := strings.Split(string(b), "\n")
	for i, raw := range lines {
		line := i + 1
		words, err := haproxyWords(raw)
		if err != nil {
			return Errorf(name, line, "%w", err)
		}
		if len(words) == 0 {
			continue
		}
		active := len(conds) == 0 || conds[len(conds)-1].active
		switch words[0] {
		case ".if":
			if len(conds) >= haproxyMaxNesting {
				return Errorf(name, line, ".if nested deeper than %d", haproxyMaxNesting)
			}
			c := haproxyCond{parent: active}
			c.active = active && haproxyTrue(words[1:])
			c.taken = c.active
			conds = append(conds, c)
			continue
		case ".elif", ".else":
			if len(conds) == 0 {
				return Errorf(name, line, "'%s' without '.if'", words[0])
			}
			c := &conds[len(conds)-1]
			c.active = c.parent && !c.taken && (words[0] == ".else" || haproxyTrue(words[1:]))
			c.taken = c.taken || c.active
			continue
		case ".endif":
			if len(conds) == 0 {
				return Errorf(name, line, "'.endif' without '.if'")
			}
			conds = conds[:len(conds)-1]
			continue
		}
		if !active {
			continue
		}
		switch words[0] {
		case "global", "defaults", "frontend", "backend", "listen", "peers", "resolvers", "userlist",
			"mailers", "program", "http-errors", "ring", "cache", "log-forward", "fcgi-app", "crt-store", "traces":
			end()
			sec = haproxySection{kind: words[0], disabled: p.defDisabled}
			if sec.kind == "defaults" {
				// A defaults section starts from scratch.
				p.defDisabled, sec.disabled = false, false
			}
		case "disabled", "enabled":
			sec.disabled = words[0] == "disabled"
			if sec.kind == "defaults" {
				p.defDisabled = sec.disabled
			}
		case "bind":
			if sec.kind != "frontend" && sec.kind != "listen" {
				continue
			}
			if len(words) < 2 {
				return Errorf(name, line, "'bind' expects [addr1]:port1[-end1]{,[addr]:port[-end]}... as arguments")
			}
			if strings.Contains(words[1], "$") {
				// An environment variable ($NAME, "${NAME}"): its value
				// is not known here.
				continue
			}
			ls, err := parseHAProxyBind(words[1], words[2:])
			if err != nil {
				return Errorf(name, line, "bind %s: %w", words[1], err)
			}
			for _, l := range ls {
				l.File, l.Line = name, line
				sec.binds = append(sec.binds, l)
			}
		}
	}
	if len(conds) > 0 {
		return Errorf(name, len(lines), "missing '.endif'")
	}
	end()
	return nil
}

// haproxyTrue evaluates an .if condition as far as it can be known here:
// "0" and "" are false; what needs the running haproxy (defined(),
// feature(), version_atleast(), an environment variable) is taken as
// true.
func haproxyTrue(args []string) bool {
	c := strings.Join(args, " ")
	return c != "" && c != "0"
}

// parseHAProxyBind parses bind's address list (str2sa_range): comma
// separated [proto@][address]:port[-end], a path or a non-IP family
// (unix@, abns@, fd@, sockpair@...) giving nothing.
func parseHAProxyBind(list string, params []string) ([]Listen, error) {
	v6only := false
	for _, p := range params {
		if p == "v6only" {
			v6only = true
		}
	}
	var out []Listen
	for _, a := range strings.Split(list, ",") {
		proto, family := "tcp", 0
		if pre, rest, ok := strings.Cut(a, "@"); ok {
			switch pre {
			case "ipv4", "tcp4", "mptcp4":
				family = 4
			case "ipv6", "tcp6", "mptcp6":
				family = 6
			case "tcp", "mptcp":
			case "udp", "udp4", "udp6", "quic4", "quic6":
				proto = "udp"
				switch pre[len(pre)-1] {
				case '4':
					family = 4
				case '6':
					family = 6
				}
			case "unix", "abns", "abnsz", "fd", "sockpair", "uxst", "uxdg", "rhttp":
				continue
			default:
				return nil, fmt.Errorf("unknown address family %q", pre)
			}
			a = rest
		} else if strings.HasPrefix(a, "/") {
			continue // a UNIX socket
		}
		host, ports := "", ""
		if strings.HasPrefix(a, "[") {
			end := strings.IndexByte(a, ']')
			if end < 0 || !strings.HasPrefix(a[end+1:], ":") {
				return nil, fmt.Errorf("invalid address")
			}
			host, ports = a[1:end], a[end+2:]
		} else if i := strings.LastIndexByte(a, ':'); i >= 0 {
			host, ports = a[:i], a[i+1:]
		} else {
			return nil, fmt.Errorf("missing port")
		}
		lo, hi, ok := strings.Cut(ports, "-")
		first, ok1 := webPort(lo)
		last := first
		ok2 := true
		if ok {
			last, ok2 = webPort(hi)
		}
		if !ok1 || !ok2 || last < first {
			return nil, fmt.Errorf("invalid port range %q", ports)
		}
		if len(out)+last-first+1 > haproxyMaxPorts {
			return nil, fmt.Errorf("more than %d ports", haproxyMaxPorts)
		}
		addr, ok := haproxyAddr(host, family, v6only)
		if !ok {
			continue // a name haproxy resolves at start: not known here
		}
		for port := first; port <= last; port++ {
			out = append(out, Listen{Proto: proto, Address: addr, Port: port})
		}
	}
	return out, nil
}

// haproxyAddr words a bind address. An empty one or "*" is "all IPv4
// addresses of the system" (haproxy's bind), in6addr_any with ipv6@. An
// IPv6 any socket gets no IPV6_V6ONLY unless v6only says so or the
// system's default does (net.ipv6.bindv6only, 0 on Debian): one socket for
// both families ("").
func haproxyAddr(host string, family int, v6only bool) (string, bool) {
	if host == "" || host == "*" {
		host = "0.0.0.0"
		if family == 6 {
			host = "::"
		}
	}
	addr, ok := webIP(host)
	if ok && addr == "::" && !v6only {
		addr = ""
	}
	return addr, ok
}

// haproxyWords splits a line as haproxy's parse_line: blanks separate
// words, "#" outside quotes starts a comment, a backslash escapes the
// next character (\t \r \n \xHH too) outside single quotes, "..." and
// '...' quote.
func haproxyWords(s string) (words []string, err error) {
	var w []byte
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'' && c != '\'':
			w = append(w, c)
		case c == '\\' && i+1 < len(s):
			i++
			switch e := s[i]; e {
			case 't':
				w = append(w, '\t')
			case 'r':
				w = append(w, '\r')
			case 'n':
				w = append(w, '\n')
			case 'x':
				if i+2 >= len(s) {
					return nil, fmt.Errorf("truncated hexadecimal sequence")
				}
				b, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return nil, fmt.Errorf("invalid hexadecimal sequence")
				}
				w = append(w, byte(b))
				i += 2
			default:
				w = append(w, e)
			}
			inWord = true
		case c == '"' || c == '\'':
			if quote == c {
				quote = 0
			} else if quote == 0 {
				quote = c
			} else {
				w = append(w, c)
			}
			inWord = true
		case quote == 0 && (c == ' ' || c == '\t' || c == '\r'):
			if inWord {
				words = append(words, string(w))
				w, inWord = w[:0], false
			}
		case quote == 0 && c == '#':
			i = len(s)
		default:
			w = append(w, c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unmatched quote")
	}
	if inWord {
		words = append(words, string(w))
	}
	return words, nil
}

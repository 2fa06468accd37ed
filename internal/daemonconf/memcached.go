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
	"path/filepath"
	"strings"
)

// memcached has no configuration file of its own: its options are its
// command line. Debian's unit runs systemd-memcached-wrapper
// /etc/memcached.conf, a Perl script that turns the file's lines into
// that command line (memcached@NAME.service: /etc/memcached_NAME.conf);
// memcached run directly reads only its argv.
var memcached = Daemon{
	Name:         "memcached",
	BindsAtStart: true,
	Units:        []string{"memcached.service", "memcached@*.service"},
	Binaries:     []string{"memcached", "systemd-memcached-wrapper"},
	Config: func(unit string, argv []string) string {
		if len(argv) > 0 {
			switch filepath.Base(argv[0]) {
			case "systemd-memcached-wrapper":
				// The wrapper takes its file only when it is its one
				// argument (scalar(@ARGV) == 1), else the default.
				if len(argv) == 2 {
					return argv[1]
				}
				return "/etc/memcached.conf"
			case "start-memcached":
				if len(argv) == 3 { // start-memcached CONFIG PIDFILE
					return argv[1]
				}
				return "/etc/memcached.conf"
			}
			return ""
		}
		if name, ok := strings.CutPrefix(unit, "memcached@"); ok {
			return "/etc/memcached_" + strings.TrimSuffix(name, ".service") + ".conf"
		}
		return "/etc/memcached.conf"
	},
	Parse: parseMemcached,
}

// memcachedShort are the short options of memcached 1.6.18 taking a
// value (its getopt string, as memcached -h lists them); memcachedLong
// its long options and whether each takes one.
const memcachedShort = "apsUmcluPfntDRbBIYeoN"

func memcachedLong() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields("port udp-port unix-socket unix-mask listen user memory-limit conn-limit pidfile " +
		"slab-growth-factor slab-min-size threads max-reqs-per-event listen-backlog protocol max-item-size auth-file " +
		"memory-file extended napi_ids") {
		m[n] = true
	}
	for _, n := range strings.Fields("enable-shutdown daemon enable-coredumps disable-evictions lock-memory verbose help " +
		"license version enable-largepages disable-cas enable-sasl disable-flush-all disable-dumping disable-watch enable-ssl") {
		m[n] = false
	}
	return m
}

// mcWord is one word of memcached's command line and where it came from.
type mcWord struct {
	text string
	file string
	line int
}

// mcListen is one -l entry and the option that gave it.
type mcListen struct {
	entry string
	at    mcWord
}

func parseMemcached(f *Files, s Spec) ([]Listen, error) {
	var words []mcWord
	if s.Config != "" {
		b, err := f.Read(s.Config)
		if err != nil {
			return nil, err
		}
		words = memcachedConfWords(s.Config, string(b))
	}
	if len(s.Argv) > 1 {
		switch filepath.Base(s.Argv[0]) {
		case "systemd-memcached-wrapper", "start-memcached":
			// The wrapper execs memcached with the file's options only.
		default:
			for _, a := range s.Argv[1:] {
				words = append(words, mcWord{text: a, file: commandLine})
			}
		}
	}
	texts := make([]string, len(words))
	for i, w := range words {
		texts[i] = w.text
	}
	// memcached's defaults: TCP 11211, UDP off (0 since 1.5.6), every
	// address; Line 0 in the main file (or none) says so.
	tcp, udp := 11211, 0
	tcpAt, udpAt := mcWord{file: s.Config}, mcWord{file: s.Config}
	tcpSet, udpSet, unix := false, false, false
	var inter []mcListen
	joined := ""
	for _, o := range getopt(texts, memcachedShort, memcachedLong()) {
		at := words[o.at]
		switch o.name {
		case "p", "port", "U", "udp-port":
			p, err := memcachedPort(o.value)
			if err != nil {
				return nil, Errorf(at.file, at.line, "-%s: %w", o.name, err)
			}
			if o.name == "p" || o.name == "port" {
				tcp, tcpAt, tcpSet = p, at, true
			} else {
				udp, udpAt, udpSet = p, at, true
			}
		case "l", "listen":
			// memcached appends each -l to one comma-joined list, skipping
			// one already in it (strstr(settings.inter, optarg)).
			if joined != "" && strings.Contains(joined, o.value) {
				continue
			}
			if joined != "" {
				joined += ","
			}
			joined += o.value
			for _, e := range strings.FieldsFunc(o.value, func(r rune) bool { return r == ',' || r == ';' }) {
				inter = append(inter, mcListen{entry: e, at: at})
			}
		case "s", "unix-socket":
			unix = true
		}
	}
	// A UNIX socket "disables network support" (memcached -h).
	if unix {
		return nil, nil
	}
	// memcached 1.6.18 run with -U N (N != 0) and no -p listens on TCP N
	// too (memcached -u nobody -U 11998: ss shows tcp and udp 11998).
	if udpSet && !tcpSet && udp != 0 {
		tcp, tcpAt = udp, udpAt
	}
	var out []Listen
	for _, proto := range []struct {
		name string
		port int
		at   mcWord
	}{{"tcp", tcp, tcpAt}, {"udp", udp, udpAt}} {
		if proto.port == 0 {
			continue // -p 0 turns TCP off, -U 0 (the default) UDP
		}
		if len(inter) == 0 {
			for _, a := range []string{any4, any6} {
				out = append(out, Listen{Proto: proto.name, Address: a, Port: proto.port, File: proto.at.file, Line: proto.at.line})
			}
			continue
		}
		for _, l := range inter {
			addrs, port, err := memcachedEntry(l.entry, proto.port)
			if err != nil {
				return nil, Errorf(l.at.file, l.at.line, "-l %s: %w", l.entry, err)
			}
			for _, a := range addrs {
				ls := Listen{Proto: proto.name, Address: a, Port: port, File: l.at.file, Line: l.at.line}
				if port == proto.port && proto.at.line != 0 {
					// The port from -p/-U, the address from -l: the
					// port's line first (what moves), the address's beside.
					ls = Listen{Proto: proto.name, Address: a, Port: port, File: proto.at.file, Line: proto.at.line}.withAddr(l.at.file, l.at.line)
				}
				out = append(out, ls)
			}
		}
	}
	return uniqueListens(out), nil
}

// memcachedEntry reads one -l entry as server_sockets does: an optional
// "notls:" prefix, "[v6]" or "[v6]:port", "host:port" (one colon: a bare
// IPv6 address has several and no port), "*" for every address. A name
// other than localhost is skipped (nil, no error).
func memcachedEntry(e string, port int) ([]string, int, error) {
	e = strings.TrimPrefix(e, "notls:")
	host := e
	if strings.HasPrefix(e, "[") {
		j := strings.IndexByte(e, ']')
		if j < 0 {
			return nil, 0, fmt.Errorf("invalid IPv6 address")
		}
		host, e = e[1:j], e[j+1:]
		if e != "" {
			if e[0] != ':' {
				return nil, 0, fmt.Errorf("invalid IPv6 address")
			}
			p, err := memcachedPort(e[1:])
			if err != nil {
				return nil, 0, err
			}
			port = p
		}
	} else if i := strings.IndexByte(e, ':'); i >= 0 && !strings.Contains(e[i+1:], ":") {
		p, err := memcachedPort(e[i+1:])
		if err != nil {
			return nil, 0, err
		}
		host, port = e[:i], p
	}
	if port == 0 {
		return nil, 0, fmt.Errorf("port 0: an ephemeral port cannot be checked")
	}
	switch host {
	case "*":
		return []string{any4, any6}, port, nil
	case "localhost":
		return []string{lo4, lo6}, port, nil
	}
	if a, ok := ipLiteral(host); ok {
		return []string{a}, port, nil
	}
	return nil, port, nil
}

// memcachedPort reads -p/-U: 0 (off) or a port.
func memcachedPort(s string) (int, error) {
	if s == "0" {
		return 0, nil
	}
	return parsePort(s)
}

// memcachedConfWords turns Debian's memcached.conf into memcached's
// words as systemd-memcached-wrapper does: '#' (not after a backslash)
// to the next '#' or the line's end is a comment, blank lines and -d/-h
// lines are dropped, a line not starting with '-' that has an argument
// ("logfile /var/log/memcached.log") is dropped, and the lines joined
// are split into words by the shell exec runs them through.
func memcachedConfWords(file, content string) []mcWord {
	var out []mcWord
	for i, line := range strings.Split(content, "\n") {
		line = memcachedStripComments(line)
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "-d") || strings.HasPrefix(line, "-h") {
			continue
		}
		if line[0] != '-' && strings.ContainsAny(line, " \t") {
			continue
		}
		for _, w := range shellWords(line) {
			out = append(out, mcWord{text: w, file: file, line: i + 1})
		}
	}
	return out
}

// memcachedStripComments is the wrapper's s/(?<!\\)\#[^\#]*//g.
func memcachedStripComments(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] != '\\') {
			for i+1 < len(line) && line[i+1] != '#' {
				i++
			}
			continue
		}
		b.WriteByte(line[i])
	}
	return b.String()
}

// shellWords splits a line as sh does for a simple command: blanks
// separate words, 'single' quotes are literal, "double" quotes and a
// backslash escape. Expansions are not done: the wrapper's lines are
// options, not scripts.
func shellWords(s string) []string {
	var out []string
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote == '\'':
			if ch == '\'' {
				quote = 0
			} else {
				w.WriteByte(ch)
			}
		case ch == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			in = true
		case quote == '"':
			if ch == '"' {
				quote = 0
			} else {
				w.WriteByte(ch)
			}
		case ch == '\'' || ch == '"':
			quote, in = ch, true
		case ch == ' ' || ch == '\t':
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(ch)
			in = true
		}
	}
	if in {
		out = append(out, w.String())
	}
	return out
}

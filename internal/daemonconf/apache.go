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
	"path"
	"path/filepath"
	"strings"
)

// apache reads apache2.conf and what it includes: the Listen directives
// that the <IfModule>, <IfDefine> and <IfFile> sections around them let
// through, the modules known from the LoadModule lines read before them.
var apache = Daemon{
	Name:  "apache",
	Units: []string{"apache2.service", "apache2@*.service", "httpd.service"},
	// Debian's units run apachectl, which runs apache2.
	Binaries: []string{"apache2", "httpd", "apachectl", "apache2ctl"},
	Config:   apacheConfig,
	Parse:    parseApache,
}

const (
	// apacheRoot is the ServerRoot Debian's apache2 is built with
	// (apache2 -V: HTTPD_ROOT="/etc/apache2", SERVER_CONFIG_FILE=
	// "apache2.conf").
	apacheRoot = "/etc/apache2"
	apacheConf = "apache2.conf"
	// apacheMaxNesting bounds nested sections; Debian's go 2 deep.
	apacheMaxNesting = 64
)

// apacheServerRoot is the ServerRoot a unit starts with: -d, else the
// instance's directory (apache2@.service sets APACHE_CONFDIR=/etc/apache2-%i
// and apachectl passes it as -d), else the built-in one.
func apacheServerRoot(unit string, argv []string) string {
	if d, ok := FlagValue(argv, "-d"); ok {
		return d
	}
	if inst, ok := strings.CutPrefix(unit, "apache2@"); ok {
		if inst, ok = strings.CutSuffix(inst, ".service"); ok && inst != "" {
			return apacheRoot + "-" + inst
		}
	}
	return apacheRoot
}

func apacheConfig(unit string, argv []string) string {
	root := apacheServerRoot(unit, argv)
	c, ok := FlagValue(argv, "-f")
	if !ok {
		c = apacheConf
	}
	// A relative -f is relative to ServerRoot (httpd's -f).
	if !filepath.IsAbs(c) {
		c = filepath.Join(root, c)
	}
	return c
}

func parseApache(f *Files, s Spec) ([]Listen, error) {
	p := &apacheParser{f: f, root: apacheServerRoot(s.Unit, s.Argv), known: map[string]bool{}}
	// The modules compiled into Debian's apache2 (apache2 -l), by
	// source file and by identifier, as <IfModule> names them.
	for _, m := range []string{
		"core.c", "mod_so.c", "mod_watchdog.c", "http_core.c", "mod_log_config.c", "mod_logio.c", "mod_version.c", "mod_unixd.c",
		"core_module", "so_module", "watchdog_module", "http_module", "log_config_module", "logio_module", "version_module", "unixd_module",
	} {
		p.known[m] = true
	}
	// -D NAME defines NAME for <IfDefine>.
	for i := 1; i < len(s.Argv); i++ {
		if a := s.Argv[i]; a == "-D" && i+1 < len(s.Argv) {
			p.known["define:"+s.Argv[i+1]] = true
		} else if strings.HasPrefix(a, "-D") && len(a) > 2 {
			p.known["define:"+a[2:]] = true
		}
	}
	if err := p.file(s.Config); err != nil {
		return nil, err
	}
	return p.result(), nil
}

type apacheListen struct {
	Listen
	any6 bool // no address, "*" or [::]: one IPv6 socket, v4-mapped
}

type apacheParser struct {
	f    *Files
	root string
	// known holds the loaded modules (by identifier and source file)
	// and the defined names ("define:NAME").
	known   map[string]bool
	depth   int
	listens []apacheListen
}

// apacheLine is one logical line: continuations joined, its words split.
type apacheLine struct {
	line  int
	words []string
}

func (p *apacheParser) file(name string) error {
	return p.f.Include(name, func(b []byte) error {
		lines := apacheLines(b)
		i := 0
		return p.block(name, lines, &i, "", 0, true)
	})
}

// block runs lines from *i up to the closing </open> (or the file's end
// for the top), as httpd's ap_build_cont_config: a section closes in the
// file that opens it. Inactive lines (a false condition, a <Macro>'s
// body) are only followed for their nesting.
func (p *apacheParser) block(file string, lines []apacheLine, i *int, open string, openLine int, active bool) error {
	for *i < len(lines) {
		l := lines[*i]
		*i++
		name := l.words[0]
		if strings.HasPrefix(name, "</") {
			closing := strings.TrimSuffix(name[2:], ">")
			if open == "" || !strings.EqualFold(closing, open) {
				return Errorf(file, l.line, "%s without matching <%s> section", name, closing)
			}
			return nil
		}
		if strings.HasPrefix(name, "<") {
			if err := p.section(file, lines, i, l, active); err != nil {
				return err
			}
			continue
		}
		if active {
			if err := p.directive(file, l); err != nil {
				return err
			}
		}
	}
	if open != "" {
		return Errorf(file, openLine, "<%s> section not closed before the end of the file", open)
	}
	return nil
}

func (p *apacheParser) section(file string, lines []apacheLine, i *int, l apacheLine, active bool) error {
	name := l.words[0][1:]
	args := l.words[1:]
	// The line ends with ">", alone or at the last word's end.
	switch {
	case len(args) > 0 && args[len(args)-1] == ">":
		args = args[:len(args)-1]
	case len(args) > 0 && strings.HasSuffix(args[len(args)-1], ">"):
		args[len(args)-1] = strings.TrimSuffix(args[len(args)-1], ">")
	case len(args) == 0 && strings.HasSuffix(name, ">"):
		name = strings.TrimSuffix(name, ">")
	default:
		return Errorf(file, l.line, "<%s directive missing closing '>'", name)
	}
	if p.depth >= apacheMaxNesting {
		return Errorf(file, l.line, "sections nested deeper than %d", apacheMaxNesting)
	}
	if active {
		active = p.condition(strings.ToLower(name), args)
	}
	p.depth++
	defer func() { p.depth-- }()
	return p.block(file, lines, i, name, l.line, active)
}

// condition tells whether a section's body is read. <IfVersion>,
// <IfDirective>, <IfSection> and the rest are taken as true: Debian's
// httpd is 2.4 and has Listen; a <Macro> is only a template.
func (p *apacheParser) condition(name string, args []string) bool {
	arg := ""
	if len(args) > 0 {
		arg = args[0]
	}
	neg := strings.HasPrefix(arg, "!")
	arg = strings.TrimPrefix(arg, "!")
	switch name {
	case "ifmodule":
		return p.known[arg] != neg
	case "ifdefine":
		return p.known["define:"+arg] != neg
	case "iffile":
		if !filepath.IsAbs(arg) {
			arg = filepath.Join(p.root, arg)
		}
		return p.f.Exists(arg) != neg
	case "macro":
		return false
	}
	return true
}

func (p *apacheParser) directive(file string, l apacheLine) error {
	args := l.words[1:]
	arg := ""
	if len(args) > 0 {
		arg = args[0]
	}
	switch strings.ToLower(l.words[0]) {
	case "serverroot":
		if arg != "" {
			p.root = arg
		}
	case "define":
		p.known["define:"+arg] = true
	case "undefine":
		delete(p.known, "define:"+arg)
	case "loadmodule":
		if len(args) == 2 {
			// Known by identifier (ssl_module) and by source file
			// (mod_ssl.c, the .so's name).
			p.known[args[0]] = true
			p.known[strings.TrimSuffix(path.Base(args[1]), ".so")+".c"] = true
		}
	case "include", "includeoptional":
		if len(args) != 1 {
			return Errorf(file, l.line, "%s takes one argument", l.words[0])
		}
		return p.include(arg, strings.EqualFold(l.words[0], "includeoptional"), file, l.line)
	case "listen":
		if len(args) < 1 || len(args) > 2 {
			return Errorf(file, l.line, "Listen takes one or two arguments")
		}
		if strings.Contains(arg, "${") {
			return nil // a variable of Define or the environment: not known here
		}
		ls, err := parseApacheListen(arg)
		if err != nil {
			return Errorf(file, l.line, "Listen %s: %w", arg, err)
		}
		for _, x := range ls {
			x.File, x.Line = file, l.line
			p.listens = append(p.listens, x)
		}
	}
	return nil
}

// include reads an Include or IncludeOptional: a file, a directory (its
// files, sorted), or a wildcard; relative to ServerRoot. Include fails on
// a wildcard matching nothing, IncludeOptional does not (nor on a missing
// file).
func (p *apacheParser) include(arg string, optional bool, file string, line int) error {
	if strings.Contains(arg, "${") {
		return nil // see Listen
	}
	paths, glob, err := webInclude(p.f, p.root, arg)
	switch {
	case err != nil:
		return Errorf(file, line, "include: %w", err)
	case glob && len(paths) == 0 && !optional:
		return Errorf(file, line, "No matches for the wildcard '%s', failing", filepath.Base(arg))
	case !glob && optional && !p.f.Exists(paths[0]):
		return nil
	}
	for _, m := range paths {
		var err error
		if webIsDir(p.f, m) {
			err = p.dir(m)
		} else {
			err = p.file(m)
		}
		if err != nil {
			return Errorf(file, line, "include %s: %w", m, err)
		}
	}
	return nil
}

// dir reads a directory's files; its subdirectories, which httpd also
// reads, are not (none of Debian's included directories has any).
func (p *apacheParser) dir(d string) error {
	files, err := p.f.Dir(d, "")
	if err != nil {
		return err
	}
	for _, m := range files {
		if err := p.file(m); err != nil {
			return err
		}
	}
	return nil
}

// parseApacheListen parses Listen's [IP-address:]portnumber (APR's
// apr_parse_addr_port: an IPv6 address in brackets). A host name other
// than localhost gives nothing: httpd resolves it at start.
func parseApacheListen(arg string) ([]apacheListen, error) {
	host, port := "", arg
	if strings.HasPrefix(arg, "[") {
		end := strings.IndexByte(arg, ']')
		if end < 0 || !strings.HasPrefix(arg[end+1:], ":") {
			return nil, fmt.Errorf("invalid address or port")
		}
		host, port = arg[1:end], arg[end+2:]
		if !strings.Contains(host, ":") {
			return nil, fmt.Errorf("invalid IPv6 address")
		}
	} else if i := strings.LastIndexByte(arg, ':'); i >= 0 {
		host, port = arg[:i], arg[i+1:]
		if strings.Contains(host, ":") {
			return nil, fmt.Errorf("an IPv6 address needs brackets")
		}
	}
	n, ok := webPort(port)
	if !ok {
		if host == "" && port != "" && strings.Trim(port, "0123456789") != "" {
			return nil, fmt.Errorf("Port must be specified")
		}
		return nil, fmt.Errorf("invalid port")
	}
	l := apacheListen{Listen: Listen{Proto: "tcp", Port: n}}
	if host == "" || host == "*" {
		l.any6 = true
		return []apacheListen{l}, nil
	}
	addr, ok := webIP(host)
	if !ok {
		return nil, nil
	}
	l.Address = addr
	l.any6 = addr == "::"
	return []apacheListen{l}, nil
}

// result words the IPv6 any sockets: Debian's httpd is built with
// v4-mapped addresses (apache2 -V: "IPv4-mapped addresses enabled"), so
// Listen 80 or [::]:80 is one socket for both families, unless
// 0.0.0.0 on the same port is listened on too: httpd then sets
// IPV6_V6ONLY on the [::] socket (listen.c, open_listeners).
func (p *apacheParser) result() []Listen {
	v4any := map[int]bool{}
	for _, l := range p.listens {
		if l.Address == "0.0.0.0" {
			v4any[l.Port] = true
		}
	}
	var s listenSet
	for _, l := range p.listens {
		if l.any6 {
			l.Address = ""
			if v4any[l.Port] {
				l.Address = "::"
			}
		}
		s.add(l.Listen)
	}
	return s.list
}

// apacheLines splits a file into logical lines as ap_cfg_getline does: a
// line ending in a backslash goes on the next, a line whose first word
// starts with "#" is a comment, words are ap_getword_conf's (blank
// separated, or quoted with " or ', a backslash escaping the quote).
func apacheLines(b []byte) []apacheLine {
	var out []apacheLine
	raw := strings.Split(string(b), "\n")
	for i := 0; i < len(raw); i++ {
		start := i + 1
		text := strings.TrimRight(raw[i], " \t\r")
		for strings.HasSuffix(text, "\\") && i+1 < len(raw) {
			i++
			text = text[:len(text)-1] + " " + strings.TrimLeft(strings.TrimRight(raw[i], " \t\r"), " \t")
		}
		text = strings.TrimLeft(text, " \t")
		if text == "" || text[0] == '#' {
			continue
		}
		if words := apacheWords(text); len(words) > 0 {
			out = append(out, apacheLine{line: start, words: words})
		}
	}
	return out
}

func apacheWords(s string) []string {
	var words []string
	for {
		s = strings.TrimLeft(s, " \t\r\f\v")
		if s == "" {
			return words
		}
		if q := s[0]; q == '"' || q == '\'' {
			var w []byte
			i := 1
			for ; i < len(s) && s[i] != q; i++ {
				if s[i] == '\\' && i+1 < len(s) && s[i+1] == q {
					i++
				}
				w = append(w, s[i])
			}
			// An unclosed quote runs to the line's end, as in httpd.
			words = append(words, string(w))
			s = s[min(i+1, len(s)):]
			continue
		}
		end := strings.IndexAny(s, " \t\r\f\v")
		if end < 0 {
			end = len(s)
		}
		words = append(words, s[:end])
		s = s[end:]
	}
}

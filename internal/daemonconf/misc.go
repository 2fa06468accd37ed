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

// Helpers shared by the sshd, mongod and memcached parsers: a getopt walk
// of a command line, IP literals, port numbers.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// commandLine is the File of a Listen that the unit's ExecStart asks for
// (sshd -p, mongod --port, memcached -l run without its wrapper); its Line
// is 0, as the command line has no lines.
const commandLine = "ExecStart"

// opt is one option getopt found: its name (the short letter, or the long
// name without "--"), its value, and the index in args of the word that
// named it (a caller maps it to a config line).
type opt struct {
	name, value string
	at          int
}

// getopt walks args (argv without argv[0]) as glibc's getopt_long does:
// short options clustered ("-Dp22"), a short option's value glued or the
// next word ("-p22", "-p 22"), long options "--name=v" or "--name v" and
// abbreviated to a unique prefix, non-options skipped (glibc permutes
// them to the end) and "--" ending the options. withArg are the short
// letters that take a value; long maps every long name to whether it
// takes one. A trailing option missing its value is dropped, as getopt
// fails it.
func getopt(args []string, withArg string, long map[string]bool) []opt {
	var out []opt
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return out
		case strings.HasPrefix(a, "--") && long != nil:
			name, value, hasValue := strings.Cut(a[2:], "=")
			name, takes, ok := longName(name, long)
			if !ok {
				continue
			}
			at := i
			if takes && !hasValue {
				if i+1 >= len(args) {
					return out
				}
				i++
				value = args[i]
			}
			out = append(out, opt{name: name, value: value, at: at})
		case len(a) > 1 && a[0] == '-':
			at := i
			for j := 1; j < len(a); j++ {
				c := a[j]
				if !strings.ContainsRune(withArg, rune(c)) {
					out = append(out, opt{name: string(c), at: at})
					continue
				}
				value := a[j+1:]
				if value == "" {
					if i+1 >= len(args) {
						return out
					}
					i++
					value = args[i]
				}
				out = append(out, opt{name: string(c), value: value, at: at})
				break
			}
		}
	}
	return out
}

// longName resolves a long option as getopt_long does: the exact name, or
// the one name it is a prefix of (an ambiguous prefix is an error there,
// ignored here).
func longName(name string, long map[string]bool) (string, bool, bool) {
	if takes, ok := long[name]; ok {
		return name, takes, true
	}
	found, takes, n := "", false, 0
	for l, t := range long {
		if name != "" && strings.HasPrefix(l, name) {
			found, takes, n = l, t, n+1
		}
	}
	return found, takes, n == 1
}

// ipLiteral returns the canonical text of an IP literal ("::1" for
// "0:0::1"); ok is false for a name.
func ipLiteral(s string) (string, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	return a.String(), true
}

// The wildcard and loopback addresses. A daemon that passes a NULL host
// and AF_UNSPEC to getaddrinfo(AI_PASSIVE) binds any4 and any6, sshd,
// memcached and mongod setting IPV6_V6ONLY on the IPv6 one: two sockets,
// one a family, as ss shows them. "localhost" resolves to lo4 and lo6 with
// Debian's /etc/hosts (127.0.0.1 localhost; ::1 localhost ip6-localhost).
const (
	any4 = "0.0.0.0"
	any6 = "::"
	lo4  = "127.0.0.1"
	lo6  = "::1"
)

// is4 reports whether an IP literal is IPv4.
func is4(addr string) bool { return !strings.Contains(addr, ":") }

// parsePort reads a decimal TCP/UDP port, 1-65535.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("bad port number %q", s)
	}
	return n, nil
}

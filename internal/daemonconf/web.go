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

// Helpers shared by the web servers' parsers (nginx, Apache httpd,
// HAProxy): include globs, ports, addresses, and a list of sockets without
// duplicates.

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// webHasGlobMeta reports whether an include path is a pattern.
func webHasGlobMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

// webGlob expands an include pattern as glob(3) and APR's fnmatch
// with FNM_PERIOD do for nginx and Apache: a wildcard never matches a
// name's leading dot, so an editor's ".default.swp" beside sites-enabled/*
// is not read. Go's filepath.Match lets "*" match it; the matches whose
// base name starts with a dot the pattern's base does not are dropped.
func webGlob(f *Files, pattern string) ([]string, error) {
	matches, err := f.Glob(pattern)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(filepath.Base(pattern), ".") {
		return matches, nil
	}
	out := matches[:0]
	for _, m := range matches {
		if !strings.HasPrefix(filepath.Base(m), ".") {
			out = append(out, m)
		}
	}
	return out, nil
}

// webInclude returns the files an include names: pattern, relative to
// base unless absolute, expanded when it holds a wildcard (glob true; no
// match is an empty list), else the path itself.
func webInclude(f *Files, base, pattern string) (paths []string, glob bool, err error) {
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(base, pattern)
	}
	if !webHasGlobMeta(pattern) {
		return []string{pattern}, false, nil
	}
	paths, err = webGlob(f, pattern)
	return paths, true, err
}

// webIsDir reports whether path is a directory (Apache's Include and
// HAProxy's -f take one). A stat never blocks, not even on a FIFO.
func webIsDir(f *Files, path string) bool {
	st, err := os.Stat(f.host(path))
	return err == nil && st.IsDir()
}

// webPort parses a decimal TCP/UDP port, 1..65535.
func webPort(s string) (int, bool) {
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1 && n <= 65535
}

// webIP returns the canonical text of an IP literal ("127.000.0.1" is
// not one, as inet_pton says); "localhost" is 127.0.0.1 (the one address
// /etc/hosts gives it on every Debian host; Debian's "::1 localhost" line
// is not always there, so an nginx or Apache listening on the name's every
// address may also bind ::1, which this does not foresee). ok is false for a
// name the parser cannot resolve without asking the host's resolver.
func webIP(host string) (addr string, ok bool) {
	if strings.EqualFold(host, "localhost") {
		return "127.0.0.1", true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "", false
	}
	// A zone (fe80::1%eth0) is not part of what the kernel lists.
	return a.WithZone("").String(), true
}

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

import "testing"

// testdata/memcached/root/etc/memcached.conf is Debian 12's (memcached
// 1.6.18-1+deb12u1); the memcached_*.conf beside it are crafted.
func TestMemcached(t *testing.T) {
	const deb, udp = "/etc/memcached.conf", "/etc/memcached_udp.conf"
	wrapper := []string{"/usr/share/memcached/scripts/systemd-memcached-wrapper", deb}
	l := func(p, a string, port int, f string, n int) Listen {
		return Listen{Proto: p, Address: a, Port: port, File: f, Line: n}
	}
	// The port's -p/-U at f:n, the address's -l at an.
	la := func(p, a string, port int, f string, n, an int) Listen { return addrAt(l(p, a, port, f, n), f, an) }
	runParseCases(t, &memcached, "testdata/memcached/root", []parseCase{
		{name: "debian default", spec: Spec{Unit: "memcached.service", Argv: wrapper, Config: deb},
			want: []Listen{la("tcp", "127.0.0.1", 11211, deb, 26, 35)}},
		{name: "tcp, udp, -l forms", spec: Spec{Config: udp}, want: []Listen{
			la("tcp", "127.0.0.1", 11311, udp, 2, 3), l("tcp", "::1", 11400, udp, 3), la("tcp", "10.0.0.5", 11311, udp, 2, 4),
			la("udp", "127.0.0.1", 11312, udp, 2, 3), l("udp", "::1", 11400, udp, 3), la("udp", "10.0.0.5", 11312, udp, 2, 4),
		}},
		{name: "-p 0", spec: Spec{Config: "/etc/memcached_off.conf"}, want: nil},
		{name: "unix socket", spec: Spec{Config: "/etc/memcached_unix.conf"}, want: nil},
		{name: "bad -l port", spec: Spec{Config: "/etc/memcached_badport.conf"}, err: "/etc/memcached_badport.conf:2: -l 192.0.2.7:abc"},
		{name: "argv, -U moves TCP too", spec: Spec{Argv: []string{"/usr/bin/memcached", "-u", "memcache", "-l", "127.0.0.1", "-U", "11999"}},
			want: []Listen{l("tcp", "127.0.0.1", 11999, commandLine, 0), l("udp", "127.0.0.1", 11999, commandLine, 0)}},
		{name: "argv defaults", spec: Spec{Argv: []string{"/usr/bin/memcached", "-v"}},
			want: []Listen{l("tcp", "0.0.0.0", 11211, "", 0), l("tcp", "::", 11211, "", 0)}},
		{name: "wrapper ignores argv", spec: Spec{Config: deb, Argv: append(wrapper, "-p", "1")},
			want: []Listen{la("tcp", "127.0.0.1", 11211, deb, 26, 35)}},
		{name: "argv after the file", spec: Spec{Config: "/etc/memcached_off.conf", Argv: []string{"memcached", "--port=11500", "-l", "*"}},
			want: []Listen{l("tcp", "0.0.0.0", 11500, commandLine, 0), l("tcp", "::", 11500, commandLine, 0)}},
	})
}

func TestMemcachedConfig(t *testing.T) {
	w := "/usr/share/memcached/scripts/systemd-memcached-wrapper"
	for _, c := range []struct {
		unit string
		argv []string
		want string
	}{
		{"memcached.service", nil, "/etc/memcached.conf"},
		{"memcached@cache2.service", nil, "/etc/memcached_cache2.conf"},
		{"memcached.service", []string{w, "/etc/memcached_x.conf"}, "/etc/memcached_x.conf"},
		{"memcached.service", []string{w, "/etc/a", "/etc/b"}, "/etc/memcached.conf"},
		{"memcached.service", []string{"/usr/bin/memcached", "-p", "11211"}, ""},
	} {
		if got := memcached.Config(c.unit, c.argv); got != c.want {
			t.Errorf("Config(%q, %q) = %q, want %q", c.unit, c.argv, got, c.want)
		}
	}
}

func TestMemcachedConfWords(t *testing.T) {
	// The wrapper's s/(?<!\\)\#[^\#]*//g drops "# mem " and "#-p 1";
	// an escaped '#' stays (and the shell then unescapes it).
	got := memcachedConfWords("f", "# c\n-m 64 # mem #-p 1\nlogfile /x\n-d\n-l '10.0.0.1'\n-o a\\#b\n")
	want := []mcWord{{"-m", "f", 2}, {"64", "f", 2}, {"-l", "f", 5}, {"10.0.0.1", "f", 5}, {"-o", "f", 6}, {"a#b", "f", 6}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func FuzzMemcached(f *testing.F) {
	seedFiles(f, "testdata/memcached")
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzOneFile(t, &memcached, "/etc/memcached.conf", b, Spec{})
	})
}

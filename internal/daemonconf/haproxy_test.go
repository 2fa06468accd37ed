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
	"path/filepath"
	"slices"
	"testing"
)

// testdata/haproxy/root/etc/haproxy/haproxy.cfg is Debian 12's (haproxy
// 2.6), copied from a host with the package installed: global and
// defaults, no frontend. etc/haproxy-custom is crafted; haproxy 2.6 -c
// accepts it but for its certificates, quic4@ (QUIC not built in) and the
// name it cannot resolve.
func TestHAProxy(t *testing.T) {
	const (
		cust = "/etc/haproxy-custom/haproxy.cfg"
		dir  = "/etc/haproxy-custom/conf.d"
	)
	tcp := webTCP
	runParseCases(t, &haproxy, "testdata/haproxy/root", append([]parseCase{{
		name: "debian",
		spec: Spec{Unit: "haproxy.service", Config: haproxyConf,
			Argv: []string{"/usr/sbin/haproxy", "-Ws", "-f", haproxyConf, "-p", "/run/haproxy.pid", "-S", "/run/haproxy-master.sock"}},
	}, {
		name: "crafted, a file and a directory",
		spec: Spec{Config: cust, Argv: []string{"haproxy", "-Ws", "-f", cust, "-f", dir}},
		want: []Listen{
			tcp("0.0.0.0", 80, cust, 11),
			tcp("0.0.0.0", 443, cust, 13),
			tcp("", 8080, cust, 14),
			tcp("", 8081, cust, 15),
			tcp("::", 8082, cust, 16),
			tcp("", 8083, cust, 17),
			tcp("127.0.0.1", 8084, cust, 18),
			tcp("127.0.0.1", 8085, cust, 19),
			tcp("127.0.0.1", 8086, cust, 19),
			tcp("::1", 8087, cust, 19),
			tcp("0.0.0.0", 8000, cust, 20),
			tcp("0.0.0.0", 8001, cust, 20),
			tcp("0.0.0.0", 8002, cust, 20),
			{Proto: "udp", Address: "0.0.0.0", Port: 443, File: cust, Line: 23},
			tcp("127.0.0.1", 8088, cust, 24),
			tcp("127.0.0.1", 8089, cust, 27),
			tcp("192.0.2.1", 8404, cust, 34),
			tcp("0.0.0.0", 7002, cust, 46),
			tcp("0.0.0.0", 6000, dir+"/10-a.cfg", 2),
			tcp("0.0.0.0", 6002, dir+"/20-b.cfg", 9),
		},
	}}, webErrors("/etc/haproxy-cases/",
		"range.cfg", "range.cfg:2: bind :1-65535: more than 64 ports",
		"noport.cfg", "noport.cfg:2: bind 127.0.0.1: missing port",
		"quote.cfg", "quote.cfg:2: unmatched quote",
		"noendif.cfg", "noendif.cfg:4: missing '.endif'",
		"family.cfg", "family.cfg:2: bind foo@:80: unknown address family",
	)...))
}

func TestHAProxyDirectory(t *testing.T) {
	// -f DIR reads DIR's *.cfg, sorted, without the hidden ones.
	f := &Files{Root: "testdata/haproxy/root"}
	if _, err := haproxy.Parse(f, Spec{Argv: []string{"haproxy", "-f", "/etc/haproxy-custom/conf.d"}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"/etc/haproxy-custom/conf.d/10-a.cfg", "/etc/haproxy-custom/conf.d/20-b.cfg"}
	if got := f.ReadFiles(); !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
}

func TestHAProxyConfig(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{nil, haproxyConf},
		{[]string{"haproxy", "-Ws", "-f", "/srv/a.cfg", "-f", "/srv/b.cfg"}, "/srv/a.cfg"},
	} {
		if got := haproxy.Config("haproxy.service", c.argv); got != c.want {
			t.Errorf("Config(%q) = %q, want %q", c.argv, got, c.want)
		}
	}
	if d := ByUnit("haproxy@edge.service", nil); d != &haproxy {
		t.Errorf("ByUnit(haproxy@edge.service) = %v", d)
	}
}

func TestHAProxyWords(t *testing.T) {
	got, err := haproxyWords(`  bind "a b"'c d'\ e\x41 '\n' # x`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"bind", "a bc d eA", `\n`}; !slices.Equal(got, want) {
		t.Errorf("words %q, want %q", got, want)
	}
}

func FuzzHAProxy(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/haproxy/root/etc/haproxy*/*.cfg")
	webFuzz(f, &haproxy, "/etc/haproxy/haproxy.cfg", seeds...)
}

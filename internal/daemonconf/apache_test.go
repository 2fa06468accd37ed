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

// testdata/apache/root/etc/apache2 is Debian 12's /etc/apache2 as the
// apache2 2.4 package installs it (magic left out: nothing here reads it),
// copied from a host with the package installed; its mods-enabled has no
// ssl.load, so ports.conf's <IfModule ssl_module> Listen 443 is not read.
// etc/apache2-custom is crafted around Debian's ports.conf with ssl.load
// enabled.
func TestApache(t *testing.T) {
	const (
		cust  = "/etc/apache2-custom/apache2.conf"
		ports = "/etc/apache2-custom/ports.conf"
	)
	tcp := webTCP
	cases := "/etc/apache2-cases/"
	crafted := []Listen{
		tcp("", 80, ports, 5),
		tcp("", 443, ports, 8),
		tcp("127.0.0.1", 8080, cust, 6),
		tcp("::1", 8081, cust, 7),
		tcp("192.0.2.10", 8082, cust, 8),
		tcp("0.0.0.0", 8443, cust, 10),
		tcp("::", 8443, cust, 11),
		tcp("127.0.0.1", 8000, cust, 12),
		tcp("", 8001, cust, 13),
		tcp("", 9002, cust, 21),
		tcp("", 9003, cust, 25),
		tcp("", 9004, cust, 28),
		tcp("", 9005, cust, 32),
		tcp("", 9006, cust, 36),
		tcp("", 9010, "/etc/apache2-custom/conf.d/a.conf", 1),
		tcp("", 9012, "/etc/apache2-custom/dir.d/b.conf", 1),
	}
	// -D TEST: <IfDefine TEST> is read, <IfDefine !TEST> is not.
	withTest := slices.Clone(crafted)
	withTest[9] = tcp("", 9001, cust, 18)
	runParseCases(t, &apache, "testdata/apache/root", append([]parseCase{{
		name: "debian",
		spec: Spec{Unit: "apache2.service", Config: "/etc/apache2/apache2.conf"},
		want: []Listen{tcp("", 80, "/etc/apache2/ports.conf", 5)},
	}, {
		// apache2@custom.service: ServerRoot /etc/apache2-custom, so
		// the relative includes are read from there.
		name: "crafted",
		spec: Spec{Unit: "apache2@custom.service", Config: cust},
		want: crafted,
	}, {
		name: "-D TEST",
		spec: Spec{Unit: "apache2@custom.service", Config: cust, Argv: []string{"apache2", "-D", "TEST"}},
		want: withTest,
	}, {
		// 0.0.0.0:80 beside Listen 80: httpd makes the [::] socket
		// IPv6 only.
		name: "both any",
		spec: Spec{Config: cases + "split.conf"},
		want: []Listen{tcp("::", 80, cases+"split.conf", 1), tcp("0.0.0.0", 80, cases+"split.conf", 2)},
	}}, webErrors(cases,
		"nomatch.conf", "nomatch.conf:1: No matches for the wildcard",
		"unclosed.conf", "unclosed.conf:1: <IfModule> section not closed",
		"badport.conf", "badport.conf:1: Listen 70000: invalid port",
		"noport.conf", "noport.conf:1: Listen localhost: Port must be specified",
		"stray.conf", "stray.conf:1: </VirtualHost> without matching",
	)...))
}

func TestApacheReadsDebianTree(t *testing.T) {
	f := &Files{Root: "testdata/apache/root"}
	if _, err := apache.Parse(f, Spec{Unit: "apache2.service", Config: "/etc/apache2/apache2.conf"}); err != nil {
		t.Fatal(err)
	}
	read := f.ReadFiles()
	for _, want := range []string{
		"/etc/apache2/mods-enabled/mpm_event.load",
		"/etc/apache2/ports.conf",
		"/etc/apache2/sites-enabled/000-default.conf",
	} {
		if !slices.Contains(read, want) {
			t.Errorf("%s not read: %q", want, read)
		}
	}
	if slices.Contains(read, "/etc/apache2/envvars") {
		t.Error("envvars is a shell file apachectl sources, not configuration")
	}
}

func TestApacheConfig(t *testing.T) {
	for _, c := range []struct {
		unit string
		argv []string
		want string
	}{
		{"apache2.service", nil, "/etc/apache2/apache2.conf"},
		{"apache2.service", []string{"/usr/sbin/apachectl", "start"}, "/etc/apache2/apache2.conf"},
		{"apache2@www2.service", []string{"/usr/sbin/apachectl", "start"}, "/etc/apache2-www2/apache2.conf"},
		{"httpd.service", []string{"httpd", "-f", "/srv/h.conf"}, "/srv/h.conf"},
		{"x.service", []string{"apache2", "-d", "/srv/a", "-f", "conf/a.conf"}, "/srv/a/conf/a.conf"},
	} {
		if got := apache.Config(c.unit, c.argv); got != c.want {
			t.Errorf("Config(%s, %q) = %q, want %q", c.unit, c.argv, got, c.want)
		}
	}
	if d := ByUnit("apache2@www2.service", nil); d != &apache {
		t.Errorf("ByUnit(apache2@www2.service) = %v", d)
	}
}

func TestApacheWords(t *testing.T) {
	lines := apacheLines([]byte("  # c \\\nListen 1\nA \"b c\" 'd\\'e' f\\\n  g\n\f\n"))
	if len(lines) != 1 || lines[0].line != 3 {
		t.Fatalf("lines %+v", lines)
	}
	if want := []string{"A", "b c", "d'e", "f", "g"}; !slices.Equal(lines[0].words, want) {
		t.Errorf("words %q, want %q", lines[0].words, want)
	}
}

func FuzzApache(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/apache/root/etc/apache2*/*.conf")
	webFuzz(f, &apache, "/etc/apache2/apache2.conf", seeds...)
}

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
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// testdata/nginx/root/etc/nginx is Debian 12's nginx 1.22.1 /etc/nginx
// (nginx-common), copied from a host with the package installed; the
// sites-enabled/default link made relative so that it stays in the tree.
// etc/nginx-custom is crafted: one of each listen form.
func TestNginx(t *testing.T) {
	const (
		deb  = "/etc/nginx/sites-available/default"
		cust = "/etc/nginx-custom/nginx.conf"
	)
	tcp, udp := webTCP, webUDP
	runParseCases(t, &nginx, "testdata/nginx/root", append([]parseCase{{
		// Read through sites-enabled/default, the link: the path named
		// is the one nginx's glob gives.
		name: "debian",
		spec: Spec{Config: nginxConf},
		want: []Listen{
			tcp("0.0.0.0", 80, "/etc/nginx/sites-enabled/default", 22),
			tcp("::", 80, "/etc/nginx/sites-enabled/default", 23),
		},
	}, {
		name: "crafted",
		spec: Spec{Config: cust},
		want: []Listen{
			tcp("0.0.0.0", 80, cust, 10),
			tcp("::", 80, cust, 11),
			tcp("127.0.0.1", 8080, cust, 16),
			tcp("10.0.0.1", 8081, cust, 17),
			tcp("::1", 8082, cust, 18),
			tcp("", 8443, cust, 19),
			udp("0.0.0.0", 443, cust, 20),
			tcp("0.0.0.0", 443, cust, 21),
			tcp("127.0.0.1", 8000, cust, 22),
			tcp("0.0.0.0", 8088, cust, 25),
			tcp("10.0.0.3", 8088, cust, 27),
			tcp("0.0.0.0", 9090, "/etc/nginx-custom/conf.d/extra.conf", 2),
			tcp("192.0.2.1", 80, "/etc/nginx-custom/sites/noport", 1),
			tcp("0.0.0.0", 12345, cust, 43),
			udp("0.0.0.0", 53, cust, 44),
			udp("127.0.0.1", 5353, cust, 45),
			tcp("127.0.0.1", 143, cust, 53),
		},
	}, {
		name: "server without listen",
		spec: Spec{Config: "/etc/nginx-cases/nolisten.conf"},
		want: []Listen{tcp("0.0.0.0", 80, "/etc/nginx-cases/nolisten.conf", 3)},
	}, {
		name: "no server",
		spec: Spec{Config: "/etc/nginx-cases/noserver.conf"},
	}}, webErrors("/etc/nginx-cases/",
		"streamnoport.conf", "streamnoport.conf:1: listen 127.0.0.1: no port",
		"badport.conf", "badport.conf:2: listen 70000: invalid port",
		"unclosed.conf", "unclosed.conf:3: unexpected end of file",
		"loop.conf", "include loop",
		"missing.conf", "missing.conf:1: include /etc/nginx-cases/none.conf",
	)...))
}

func TestNginxReadsOnlyIncluded(t *testing.T) {
	// The hidden conf.d/.hidden.conf (listen 9999) is not read: glob(3)
	// does not match a leading dot.
	f := &Files{Root: "testdata/nginx/root"}
	if _, err := nginx.Parse(f, Spec{Config: "/etc/nginx-custom/nginx.conf"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/etc/nginx-custom/nginx.conf",
		"/etc/nginx-custom/mime.types",
		"/etc/nginx-custom/conf.d/extra.conf",
		"/etc/nginx-custom/sites/noport",
	}
	if got := f.ReadFiles(); !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
}

func TestNginxConfig(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{nil, "/etc/nginx/nginx.conf"},
		{[]string{"/usr/sbin/nginx", "-g", "daemon on; master_process on;"}, "/etc/nginx/nginx.conf"},
		{[]string{"nginx", "-c", "/srv/n.conf"}, "/srv/n.conf"},
		{[]string{"nginx", "-c", "alt.conf"}, "/etc/nginx/alt.conf"},
		{[]string{"nginx", "-p", "/opt/n", "-c", "conf/n.conf"}, "/opt/n/conf/n.conf"},
	} {
		if got := nginx.Config("nginx.service", c.argv); got != c.want {
			t.Errorf("Config(%q) = %q, want %q", c.argv, got, c.want)
		}
	}
	if d := ByUnit("nginx.service", nil); d != &nginx {
		t.Errorf("ByUnit(nginx.service) = %v", d)
	}
}

func TestNginxLexer(t *testing.T) {
	src := "a \"b c\" 'd\\'e' f\\ g ${x}y #c\n  h\\\"i;\nj{\n}k;"
	l := &nginxLexer{file: "t", b: []byte(src), line: 1}
	words, line, end, err := l.next()
	if err != nil || end != ';' || line != 1 {
		t.Fatalf("next = %q %d %q %v", words, line, end, err)
	}
	want := []string{"a", "b c", "d'e", "f\\ g", "${x}y", "h\"i"}
	if !slices.Equal(words, want) {
		t.Errorf("words %q, want %q", words, want)
	}
	if words, line, end, _ = l.next(); end != '{' || line != 3 || !slices.Equal(words, []string{"j"}) {
		t.Errorf("block open = %q %d %q", words, line, end)
	}
	if _, _, end, _ = l.next(); end != '}' {
		t.Errorf("block close = %q", end)
	}
	if words, _, end, _ = l.next(); end != ';' || !slices.Equal(words, []string{"k"}) {
		t.Errorf("after } = %q %q", words, end)
	}
}

func FuzzNginx(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/nginx/root/etc/nginx*/*.conf")
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	if _, err := os.Stat(seeds[0]); err != nil {
		f.Fatal(err)
	}
	webFuzz(f, &nginx, "/etc/nginx/nginx.conf", seeds...)
}

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

// testdata/openssh/root/etc/ssh/sshd_config is Debian 12's (openssh-server
// 1:9.2p1-2+deb12u10); the other trees are crafted.
func TestOpenSSH(t *testing.T) {
	const deb = "/etc/ssh/sshd_config"
	const main, ports, listen = "/etc/ssh/dropin/sshd_config", "/etc/ssh/dropin.d/10-ports.conf", "/etc/ssh/dropin.d/20-listen.conf"
	tcp := func(a string, p int, f string, l int) Listen {
		return Listen{Proto: "tcp", Address: a, Port: p, File: f, Line: l}
	}
	// Port at f:l, the ListenAddress without a port at af:al.
	tcpA := func(a string, p int, f string, l int, af string, al int) Listen {
		return addrAt(tcp(a, p, f, l), af, al)
	}
	runParseCases(t, &openssh, "testdata/openssh/root", []parseCase{
		{name: "debian default", spec: Spec{Unit: "ssh.service", Config: deb},
			want: []Listen{tcp("0.0.0.0", 22, deb, 0), tcp("::", 22, deb, 0)}},
		{name: "drop-ins, ListenAddress forms, Match", spec: Spec{Config: main}, want: []Listen{
			tcp("::1", 2022, listen, 1),
			tcp("127.0.0.1", 2201, listen, 2),
			tcpA("127.0.0.1", 2222, ports, 1, listen, 3), tcpA("127.0.0.1", 2223, listen, 6, listen, 3), tcpA("127.0.0.1", 22, main, 4, listen, 3),
			tcpA("::1", 2222, ports, 1, listen, 3), tcpA("::1", 2223, listen, 6, listen, 3), tcpA("::1", 22, main, 4, listen, 3),
			tcpA("10.0.0.1", 2222, ports, 1, main, 5), tcpA("10.0.0.1", 2223, listen, 6, main, 5), tcpA("10.0.0.1", 22, main, 4, main, 5),
		}},
		{name: "-p overrides Port", spec: Spec{Config: main, Argv: []string{"/usr/sbin/sshd", "-D", "-p", "2022", "-p2023"}}, want: []Listen{
			tcp("::1", 2022, listen, 1),
			tcp("127.0.0.1", 2201, listen, 2),
			tcpA("127.0.0.1", 2022, commandLine, 0, listen, 3), tcpA("127.0.0.1", 2023, commandLine, 0, listen, 3),
			tcpA("::1", 2023, commandLine, 0, listen, 3),
			tcpA("10.0.0.1", 2022, commandLine, 0, main, 5), tcpA("10.0.0.1", 2023, commandLine, 0, main, 5),
		}},
		{name: "-4 and -o Port", spec: Spec{Config: deb, Argv: []string{"/usr/sbin/sshd", "-D4", "-o", "Port=2200"}},
			want: []Listen{tcp("0.0.0.0", 2200, commandLine, 0)}},
		// Port at its default: the ListenAddress's line alone says where.
		{name: "ListenAddress only", spec: Spec{Config: "/etc/ssh/listenonly/sshd_config"},
			want: []Listen{tcp("192.0.2.5", 22, "/etc/ssh/listenonly/sshd_config", 2)}},
		{name: "AddressFamily inet6", spec: Spec{Config: "/etc/ssh/inet6/sshd_config"},
			want: []Listen{tcp("::", 2222, "/etc/ssh/inet6/sshd_config", 2)}},
		{name: "Port in a Match", spec: Spec{Config: "/etc/ssh/badmatch/sshd_config"}, err: "/etc/ssh/badmatch/sshd_config:3: directive \"Port\" is not allowed within a Match block"},
		{name: "family mismatch", spec: Spec{Config: "/etc/ssh/mismatch/sshd_config"}, err: "/etc/ssh/mismatch/sshd_config:2: ListenAddress ::1: no address of AddressFamily inet"},
		{name: "include loop", spec: Spec{Config: "/etc/ssh/loop/sshd_config"}, err: "include loop"},
		{name: "missing file", spec: Spec{Config: "/etc/ssh/none"}, err: "no such file"},
		{name: "-o Include", spec: Spec{Config: deb, Argv: []string{"sshd", "-o", "Include /x"}}, err: "ExecStart:0: Include is not supported"},
	})
}

func TestOpenSSHConfig(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{nil, "/etc/ssh/sshd_config"},
		{[]string{"/usr/sbin/sshd", "-D"}, "/etc/ssh/sshd_config"},
		{[]string{"/usr/sbin/sshd", "-D", "-f", "/etc/ssh/a", "-Df/etc/ssh/b"}, "/etc/ssh/b"},
		{[]string{"/usr/sbin/sshd", "-o", "-f", "-D"}, "/etc/ssh/sshd_config"}, // "-f" is -o's value
	} {
		if got := openssh.Config("ssh.service", c.argv); got != c.want {
			t.Errorf("Config(%q) = %q, want %q", c.argv, got, c.want)
		}
	}
	if ByUnit("sshd@3-10.0.0.1:22-10.0.0.2:5555.service", nil) != nil {
		t.Error("a per-connection sshd@ unit is not a listener")
	}
}

func TestSSHDSplit(t *testing.T) {
	got, err := sshdSplit(`"a b" c\ d 'e"f' # comment`)
	if err != nil || len(got) != 3 || got[0] != "a b" || got[1] != "c d" || got[2] != `e"f` {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := sshdSplit(`"open`); err == nil {
		t.Fatal("an unclosed quote is an error")
	}
}

func FuzzOpenSSH(f *testing.F) {
	seedFiles(f, "testdata/openssh")
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzOneFile(t, &openssh, "/etc/ssh/sshd_config", b, Spec{})
	})
}

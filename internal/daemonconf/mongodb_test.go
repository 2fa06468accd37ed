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
	"strings"
	"testing"
)

// testdata/mongodb/root/etc/mongod.conf is the one the mongodb-org deb
// ships (mongodb/mongo debian/mongod.conf, commit 3851a4a1); MongoDB is
// not in Debian. The mongod-*.conf beside it are crafted.
func TestMongoDB(t *testing.T) {
	const up = "/etc/mongod.conf"
	tcp := func(a string, p int, f string, l int) Listen {
		return Listen{Proto: "tcp", Address: a, Port: p, File: f, Line: l}
	}
	// net.port at f:l, the address (bindIp, bindIpAll) at af:al.
	tcpA := func(a string, p int, f string, l int, af string, al int) Listen {
		return addrAt(tcp(a, p, f, l), af, al)
	}
	argv := []string{"/usr/bin/mongod", "--quiet", "--config", up}
	runParseCases(t, &mongodb, "testdata/mongodb/root", []parseCase{
		{name: "upstream default", spec: Spec{Unit: "mongod.service", Argv: argv, Config: up},
			want: []Listen{tcpA("127.0.0.1", 27017, up, 22, up, 23)}},
		{name: "bindIpAll with ipv6", spec: Spec{Config: "/etc/mongod-all.conf"},
			want: []Listen{tcpA("0.0.0.0", 27117, "/etc/mongod-all.conf", 3, "/etc/mongod-all.conf", 4), tcpA("::", 27117, "/etc/mongod-all.conf", 3, "/etc/mongod-all.conf", 4)}},
		{name: "list, dotted key, no ipv6", spec: Spec{Config: "/etc/mongod-list.conf"},
			want: []Listen{tcpA("127.0.0.1", 27200, "/etc/mongod-list.conf", 2, "/etc/mongod-list.conf", 4), tcpA("10.1.2.3", 27200, "/etc/mongod-list.conf", 2, "/etc/mongod-list.conf", 4)}},
		{name: "configsvr default port", spec: Spec{Config: "/etc/mongod-configsvr.conf"},
			want: []Listen{tcp("127.0.0.1", 27019, "/etc/mongod-configsvr.conf", 0)}},
		{name: "legacy INI", spec: Spec{Config: "/etc/mongod-ini.conf"},
			want: []Listen{tcpA("127.0.0.1", 27018, "/etc/mongod-ini.conf", 2, "/etc/mongod-ini.conf", 3), tcpA("10.0.0.9", 27018, "/etc/mongod-ini.conf", 2, "/etc/mongod-ini.conf", 3)}},
		{name: "argv overrides", spec: Spec{Config: up, Argv: append(argv, "--port=27999", "--bind_ip", "0.0.0.0", "--ipv6")},
			want: []Listen{tcp("0.0.0.0", 27999, commandLine, 0), tcp("::", 27999, commandLine, 0)}},
		{name: "argv port only", spec: Spec{Config: up, Argv: append(argv, "--port", "27998")},
			want: []Listen{tcpA("127.0.0.1", 27998, commandLine, 0, up, 23)}},
		// The port at its default: bindIp's line alone says where.
		{name: "bindIp only", spec: Spec{Config: "/etc/mongod-bindonly.conf"},
			want: []Listen{tcp("192.0.2.6", 27017, "/etc/mongod-bindonly.conf", 3)}},
		{name: "argv bind_ip only", spec: Spec{Argv: []string{"mongod", "--bind_ip", "192.0.2.7"}},
			want: []Listen{tcp("192.0.2.7", 27017, commandLine, 0)}},
		{name: "no config file", spec: Spec{Argv: []string{"mongod", "--shardsvr"}},
			want: []Listen{tcp("127.0.0.1", 27018, "", 0)}},
		{name: "bindIp with bindIpAll", spec: Spec{Config: "/etc/mongod-conflict.conf"}, err: "/etc/mongod-conflict.conf:4: net.bindIpAll is not allowed with net.bindIp"},
		{name: "argv bind_ip_all with file bindIp", spec: Spec{Config: up, Argv: append(argv, "--bind_ip_all")}, err: "ExecStart:0: net.bindIpAll"},
		{name: "duplicate key", spec: Spec{Config: "/etc/mongod-dup.conf"}, err: "/etc/mongod-dup.conf:4: duplicate key net.port"},
	})
}

func TestMongoDBConfig(t *testing.T) {
	for _, c := range []struct {
		unit string
		argv []string
		want string
	}{
		{"mongod.service", nil, "/etc/mongod.conf"},
		{"mongodb.service", nil, "/etc/mongodb.conf"},
		{"mongod.service", []string{"/usr/bin/mongod", "--quiet", "--config", "/etc/m.conf"}, "/etc/m.conf"},
		{"mongod.service", []string{"/usr/bin/mongod", "-f", "/etc/n.conf"}, "/etc/n.conf"},
		{"mongod.service", []string{"/usr/bin/mongod", "--config=/etc/o.conf"}, "/etc/o.conf"},
		{"mongod.service", []string{"/usr/bin/mongod", "--port", "1"}, ""},
	} {
		if got := mongodb.Config(c.unit, c.argv); got != c.want {
			t.Errorf("Config(%q, %q) = %q, want %q", c.unit, c.argv, got, c.want)
		}
	}
}

// An alias bomb: each level doubles the tree; walking it expanded would
// visit 2^40 nodes. The walk's budget ends it.
func TestMongoDBAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 {x: 1}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "a%d: &a%d {l: *a%d, r: *a%d}\n", i, i, i-1, i-1)
	}
	b.WriteString("net: {port: 27017, deep: *a40}\n")
	_, err := mongoConfig("/etc/mongod.conf", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "YAML nodes") {
		t.Fatalf("error %v, want the node bound", err)
	}
}

func FuzzMongoDB(f *testing.F) {
	seedFiles(f, "testdata/mongodb")
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzOneFile(t, &mongodb, "/etc/mongod.conf", b, Spec{})
	})
}

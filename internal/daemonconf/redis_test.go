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
	"reflect"
	"testing"
)

// testdata/redis/root/etc/redis/redis.conf is Debian 12's (redis-server
// 5:7.0.15-1~deb12u10), copied from /etc/redis/redis.conf: "bind
// 127.0.0.1 -::1" on line 87, "port 6379" on line 138. The other files
// there are written for these tests.
const redisRoot = "testdata/redis/root"

func TestRedisConfig(t *testing.T) {
	for _, c := range []struct {
		unit string
		argv []string
		want string
	}{
		{"redis-server.service", []string{"/usr/bin/redis-server", "/etc/redis/redis.conf", "--supervised", "systemd", "--daemonize", "no"}, "/etc/redis/redis.conf"},
		{"redis-server@alt.service", []string{"/usr/bin/redis-server", "/etc/redis/redis-alt.conf", "--supervised", "systemd"}, "/etc/redis/redis-alt.conf"},
		{"redis-server@alt.service", nil, "/etc/redis/redis-alt.conf"},
		{"redis-server.service", nil, "/etc/redis/redis.conf"},
		{"redis.service", nil, "/etc/redis/redis.conf"},
		// Relative to "/", systemd's working directory.
		{"redis.service", []string{"redis-server", "etc/r.conf"}, "/etc/r.conf"},
		// Options only: Redis reads no file.
		{"redis.service", []string{"/usr/bin/redis-server", "--port", "7000"}, ""},
		{"redis.service", []string{"/usr/bin/redis-server"}, ""},
		// A wrapper's argv says nothing of Redis's file.
		{"redis-server@x.service", []string{"/bin/sh", "-c", "exec redis-server /x.conf"}, "/etc/redis/redis-x.conf"},
	} {
		if got := redisConfig(c.unit, c.argv); got != c.want {
			t.Errorf("redisConfig(%q, %q) = %q, want %q", c.unit, c.argv, got, c.want)
		}
	}
}

func TestRedis(t *testing.T) {
	const debian = "/etc/redis/redis.conf"
	debianArgv := []string{"/usr/bin/redis-server", debian, "--supervised", "systemd", "--daemonize", "no"}
	const alt = "/etc/redis/redis-alt.conf"
	runKV(t, &redis, redisRoot, []kvCase{{
		// Both addresses of "bind 127.0.0.1 -::1" (the '-' one optional,
		// still expected) on the port directive's line.
		name: "debian", unit: "redis-server.service", argv: debianArgv,
		want: []Listen{
			{Proto: "tcp", Address: "127.0.0.1", Port: 6379, File: debian, Line: 138, AddrFile: debian, AddrLine: 87},
			{Proto: "tcp", Address: "::1", Port: 6379, File: debian, Line: 138, AddrFile: debian, AddrLine: 87},
		},
	}, {
		// The command line is parsed after the file: it wins.
		name: "argv overrides", unit: "redis-server.service",
		argv: []string{"/usr/bin/redis-server", debian, "--port", "6390", "--bind", "10.1.1.1", "-::1", "--daemonize", "no"},
		want: []Listen{
			{Proto: "tcp", Address: "10.1.1.1", Port: 6390, File: "redis-server.service ExecStart", Line: 2, AddrFile: "redis-server.service ExecStart", AddrLine: 4},
			{Proto: "tcp", Address: "::1", Port: 6390, File: "redis-server.service ExecStart", Line: 2, AddrFile: "redis-server.service ExecStart", AddrLine: 4},
		},
	}, {
		// Redis with options and no file: the defaults, then the options.
		name: "argv only", unit: "redis.service", argv: []string{"redis-server", "--port", "7000"},
		want: []Listen{
			{Proto: "tcp", Address: "0.0.0.0", Port: 7000, File: "redis.service ExecStart", Line: 1},
			{Proto: "tcp", Address: "::", Port: 7000, File: "redis.service ExecStart", Line: 1},
		},
	}, {
		// port 6380, then conf.d/*.conf (the .txt left out) sets bind and
		// port 6381, which wins, then tls-port: each port on each bind
		// address; "redis.example.com" is skipped, "localhost" is
		// 127.0.0.1 only (Redis binds a name without ':' as IPv4).
		name: "instance with includes", unit: "redis-server@alt.service",
		want: []Listen{
			{Proto: "tcp", Address: "10.0.0.1", Port: 6381, File: "/etc/redis/conf.d/20-port.conf", Line: 2, AddrFile: "/etc/redis/conf.d/10-bind.conf", AddrLine: 2},
			{Proto: "tcp", Address: "::1", Port: 6381, File: "/etc/redis/conf.d/20-port.conf", Line: 2, AddrFile: "/etc/redis/conf.d/10-bind.conf", AddrLine: 2},
			{Proto: "tcp", Address: "127.0.0.1", Port: 6381, File: "/etc/redis/conf.d/20-port.conf", Line: 2, AddrFile: "/etc/redis/conf.d/10-bind.conf", AddrLine: 2},
			{Proto: "tcp", Address: "10.0.0.1", Port: 6390, File: alt, Line: 4, AddrFile: "/etc/redis/conf.d/10-bind.conf", AddrLine: 2},
			{Proto: "tcp", Address: "::1", Port: 6390, File: alt, Line: 4, AddrFile: "/etc/redis/conf.d/10-bind.conf", AddrLine: 2},
			{Proto: "tcp", Address: "127.0.0.1", Port: 6390, File: alt, Line: 4, AddrFile: "/etc/redis/conf.d/10-bind.conf", AddrLine: 2},
		},
	}, {
		// No file, no option: the defaults, said by the command line.
		name: "no file", unit: "redis.service", argv: []string{"redis-server"},
		want: []Listen{
			{Proto: "tcp", Address: "0.0.0.0", Port: 6379, File: "redis.service ExecStart", Line: 0},
			{Proto: "tcp", Address: "::", Port: 6379, File: "redis.service ExecStart", Line: 0},
		},
	}, {
		name: "port 0", config: "/etc/redis/redis-off.conf", want: nil,
	}, {
		name: "tls only", config: "/etc/redis/redis-tlsonly.conf",
		want: []Listen{
			{Proto: "tcp", Address: "0.0.0.0", Port: 6390, File: "/etc/redis/redis-tlsonly.conf", Line: 2},
			{Proto: "tcp", Address: "::", Port: 6390, File: "/etc/redis/redis-tlsonly.conf", Line: 2},
		},
	}, {
		// Nothing set: "* -::*" on 6379, Line 0 of the main file.
		name: "defaults", config: "/etc/redis/redis-default.conf",
		want: []Listen{
			{Proto: "tcp", Address: "0.0.0.0", Port: 6379, File: "/etc/redis/redis-default.conf", Line: 0},
			{Proto: "tcp", Address: "::", Port: 6379, File: "/etc/redis/redis-default.conf", Line: 0},
		},
	}, {
		// "bind" alone: no TCP (measured on Debian's 7.0.15).
		name: "empty bind", config: "/etc/redis/redis-emptybind.conf", want: nil,
	}, {
		// The port at its default: the bind line says where.
		name: "bind only", config: "/etc/redis/redis-bindonly.conf",
		want: []Listen{{Proto: "tcp", Address: "192.0.2.1", Port: 6379, File: "/etc/redis/redis-bindonly.conf", Line: 2}},
	}, {
		// BIND "127.0.0.1" '::1' and Port "\x36380": quotes, a hex
		// escape, names in any case.
		name: "quoting", config: "/etc/redis/redis-quoted.conf",
		want: []Listen{
			{Proto: "tcp", Address: "127.0.0.1", Port: 6380, File: "/etc/redis/redis-quoted.conf", Line: 3, AddrFile: "/etc/redis/redis-quoted.conf", AddrLine: 2},
			{Proto: "tcp", Address: "::1", Port: 6380, File: "/etc/redis/redis-quoted.conf", Line: 3, AddrFile: "/etc/redis/redis-quoted.conf", AddrLine: 2},
		},
	}, {
		name: "include loop", config: "/etc/redis/redis-loop.conf",
		err: "include loop", errFile: "/etc/redis/redis-loop.conf", errLine: 2,
	}, {
		name: "missing include", config: "/etc/redis/redis-missing.conf",
		err: "no such file", errFile: "/etc/redis/redis-missing.conf", errLine: 1,
	}, {
		name: "port out of range", config: "/etc/redis/redis-badport.conf",
		err: "not a port", errFile: "/etc/redis/redis-badport.conf", errLine: 2,
	}, {
		name: "unbalanced quotes", config: "/etc/redis/redis-unbalanced.conf",
		err: "unbalanced quotes", errFile: "/etc/redis/redis-unbalanced.conf", errLine: 3,
	}, {
		// Only a line's first '#' starts a comment: Redis refuses "port
		// 6380 # ..." as too many arguments.
		name: "comment after a value", config: "/etc/redis/redis-args.conf",
		err: "wrong number of arguments", errFile: "/etc/redis/redis-args.conf", errLine: 1,
	}, {
		name: "missing main file", config: "/etc/redis/nonexistent.conf", err: "no such file",
	}})
}

func TestRedisSplit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  bool
	}{
		{`bind 127.0.0.1 -::1`, []string{"bind", "127.0.0.1", "-::1"}, false},
		{"  port\t6379  ", []string{"port", "6379"}, false},
		{`a "b c" 'd e'`, []string{"a", "b c", "d e"}, false},
		{`a "\x41\n\"" 'it\'s'`, []string{"a", "A\n\"", "it's"}, false},
		{`a b"c d"e`, nil, true}, // a closing quote must end the argument
		{`a foo"bar"`, []string{"a", "foobar"}, false},
		{`a "\xZZ"`, []string{"a", "xZZ"}, false},
		{`a "unterminated`, nil, true},
		{`a 'unterminated\'`, nil, true},
		{`a ""`, []string{"a", ""}, false},
		{"a\x00b c", []string{"a"}, false},
	} {
		got, err := redisSplit(c.in)
		if (err != nil) != c.err || !c.err && !reflect.DeepEqual(got, c.want) {
			t.Errorf("redisSplit(%q) = %q, %v; want %q (error %v)", c.in, got, err, c.want, c.err)
		}
	}
}

func FuzzRedis(f *testing.F) {
	fuzzKV(f, &redis, "redis-server.service", "/etc/redis/redis.conf", redisRoot,
		"etc/redis/redis.conf", "etc/redis/redis-alt.conf", "etc/redis/redis-quoted.conf",
		"etc/redis/conf.d/10-bind.conf", "etc/redis/redis-unbalanced.conf")
}

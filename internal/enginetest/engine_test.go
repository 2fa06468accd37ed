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

//go:build linux

package enginetest

import (
	"encoding/json"
	"testing"
)

func TestParsePublish(t *testing.T) {
	for _, c := range []struct {
		in, port, ip, host string
		bad                bool
	}{
		{in: "127.0.0.1:18080:9863", port: "9863/tcp", ip: "127.0.0.1", host: "18080"},
		{in: "18080:9863/udp", port: "9863/udp", host: "18080"},
		{in: "127.0.0.1::9863", port: "9863/tcp", ip: "127.0.0.1"},
		{in: "9863", port: "9863/tcp"},
		{in: "", bad: true},
		{in: "a:b:c:d", bad: true},
		{in: "18080:99999", bad: true},
		{in: "x:9863", bad: true},
		{in: "9863/sctp", bad: true},
	} {
		port, b, err := parsePublish(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error, got %s %+v", c.in, port, b)
			}
			continue
		}
		if err != nil || port != c.port || b.HostIP != c.ip || b.HostPort != c.host {
			t.Errorf("%q: %s %+v %v, want %s %s:%s", c.in, port, b, err, c.port, c.ip, c.host)
		}
	}
}

// TestCreateBody pins the API shape of what Run sends: an exec-form health
// check (the image has no shell), swap limited to the memory limit, and the
// engine's ulimits.
func TestCreateBody(t *testing.T) {
	e := newEngine("podman", "/nonexistent")
	e.ulimits = []ulimit{{"nofile", 4096, 4096}}
	body, err := e.createBody("img", RunOptions{
		Cmd:       []string{"serve", ":9863"},
		Publish:   []string{"127.0.0.1:18080:9863"},
		Restart:   "always",
		Memory:    50 << 20,
		HealthCmd: []string{"/srv", "check", "127.0.0.1:9863"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(body)
	want := `{"Cmd":["serve",":9863"],"Env":null,"ExposedPorts":{"9863/tcp":{}},` +
		`"Healthcheck":{"Interval":1000000000,"Retries":1,"Test":["CMD","/srv","check","127.0.0.1:9863"],"Timeout":5000000000},` +
		`"HostConfig":{"Memory":52428800,"MemorySwap":52428800,"PortBindings":{"9863/tcp":[{"HostIp":"127.0.0.1","HostPort":"18080"}]},` +
		`"RestartPolicy":{"Name":"always"},"Ulimits":[{"Name":"nofile","Soft":4096,"Hard":4096}]},"Image":"img"}`
	if string(got) != want {
		t.Errorf("create body:\n%s\nwant\n%s", got, want)
	}
	if _, err := e.createBody("img", RunOptions{Publish: []string{"bad:port"}}); err == nil {
		t.Error("a bad Publish entry was accepted")
	}
}

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

package containers

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The fixtures are docker 20.10.24's and podman 4.3.1's answers, captured
// on this project's machine kind (see testdata/README.md).
func TestDecodeInspectFixtures(t *testing.T) {
	started := time.Date(2026, 12, 4, 18, 46, 0, 375736906, time.UTC)
	for _, c := range []struct {
		engine, file string
		check        func(Container) bool
	}{
		{Docker, "docker-inspect-web.json", func(c Container) bool {
			return c.Name == "web" && c.State == StateRunning && c.Pid == 27839 && c.StartedAt.Equal(started) && c.FinishedAt.IsZero() &&
				c.RestartPolicy == "unless-stopped" && c.NetworkMode == "default" && c.Image == "srv:h24" &&
				c.Health.Status == HealthUnhealthy && c.Health.FailingStreak == 7 && c.Health.LastExitCode == -1 &&
				strings.HasPrefix(c.Health.LastOutput, "OCI runtime exec failed") &&
				// -p 127.0.0.1:18080:9863 -p 9864:9863 -p 9865: the last two
				// on both families, 9865's port picked by docker.
				reflect.DeepEqual(c.Ports, []PortBinding{
					{Proto: "tcp", HostIP: "", HostPort: 9864, ContainerPort: 9863},
					{Proto: "tcp", HostIP: "127.0.0.1", HostPort: 18080, ContainerPort: 9863},
					{Proto: "tcp", HostIP: "", HostPort: 32768, ContainerPort: 9865},
				})
		}},
		{Docker, "docker-inspect-crash.json", func(c Container) bool {
			// Restarting: the picked port is unknown until it runs.
			return c.State == StateRestarting && c.RestartCount == 5 && c.ExitCode == 3 && c.RestartPolicy == "always" &&
				reflect.DeepEqual(c.Ports, []PortBinding{{Proto: "tcp", HostIP: "127.0.0.1", ContainerPort: 9863}})
		}},
		{Docker, "docker-inspect-oomed.json", func(c Container) bool {
			return c.Name == "oomed" && c.State == StateExited && c.ExitCode == 137 && c.OOMKilled && c.Pid == 0 && !c.FinishedAt.IsZero() && c.Health.Status == HealthNone
		}},
		{Docker, "docker-inspect-hostnet.json", func(c Container) bool {
			return c.NetworkMode == "host" && len(c.Ports) == 0 && c.ExitCode == 2 && c.SystemdUnit == "fake.service"
		}},
		{Podman, "podman-inspect-pweb.json", func(c Container) bool {
			return c.Engine == Podman && c.Name == "pweb" && c.SystemdUnit == "container-pweb.service" && c.Health.Status == HealthHealthy &&
				c.Health.LastOutput == "ok" && c.Image == "localhost/srv:h24" &&
				reflect.DeepEqual(c.Ports, []PortBinding{
					{Proto: "tcp", HostIP: "", HostPort: 9874, ContainerPort: 9863},
					{Proto: "tcp", HostIP: "127.0.0.1", HostPort: 18090, ContainerPort: 9863},
					{Proto: "tcp", HostIP: "", HostPort: 37783, ContainerPort: 9875},
				})
		}},
		{Podman, "podman-inspect-pcrash.json", func(c Container) bool {
			// Podman returns Health with Status "" for no check.
			return c.Health.Status == HealthNone && c.RestartCount == 4 && c.RestartPolicy == "always" && c.NetworkMode == "bridge"
		}},
		{Podman, "podman-inspect-phost2.json", func(c Container) bool {
			return c.Name == "phost2" && c.State == StateExited && c.NetworkMode == "host" && c.Pid == 0
		}},
	} {
		got, err := decodeInspect(c.engine, readFixture(t, c.file))
		if err != nil || !c.check(got) {
			t.Errorf("%s: %v\n%+v", c.file, err, got)
		}
	}
}

func TestDecodeListFixtures(t *testing.T) {
	for file, want := range map[string]string{
		"docker-list.json": "crash hostnet oomed web",
		"podman-list.json": "pcrash phost2 pweb",
	} {
		l, err := decodeList(readFixture(t, file))
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, c := range l {
			if len(c.ID) != 64 || c.State == "" {
				t.Errorf("%s: %+v", file, c)
			}
			n = append(n, c.Name)
		}
		slices.Sort(n)
		if got := strings.Join(n, " "); got != want {
			t.Errorf("%s: names %q, want %q", file, got, want)
		}
	}
}

func TestDecodeEventFixtures(t *testing.T) {
	for file, want := range map[string]map[string]int{
		// 2 containers created and destroyed, crash dying 5 times
		// (exit 3) and oom once (137).
		"docker-events.jsonl": {"create": 6, "start": 8, "die": 6, "oom": 1, "health_status": 1, "destroy": 2, "die 3": 5, "die 137": 1},
		// podman's die carries containerExitCode, its remove is destroy.
		"podman-events.jsonl": {"create": 3, "start": 3, "die": 2, "restart": 1, "health_status": 1, "rename": 1, "destroy": 1, "die 3": 1, "die 2": 1},
	} {
		got := map[string]int{}
		sc := bufio.NewScanner(strings.NewReader(string(readFixture(t, file))))
		for sc.Scan() {
			ev, ok, err := decodeEvent(sc.Bytes())
			if err != nil || !ok || ev.ID == "" || ev.Name == "" || ev.TimeNano < 1.7e18 {
				t.Fatalf("%s: %q: %+v %v %v", file, sc.Text(), ev, ok, err)
			}
			got[ev.Action]++
			if ev.Action == "die" && ev.HasExitCode {
				got["die "+strconv.Itoa(ev.ExitCode)]++
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", file, got, want)
		}
	}
	for _, line := range []string{
		`{"Type":"container","Action":"exec_start: /bin/sh -c check","Actor":{"ID":"a"}}`,
		`{"Type":"network","Action":"connect","Actor":{"ID":"a"}}`,
		`{"Type":"container","Action":"start","Actor":{"ID":""}}`,
	} {
		if ev, ok, err := decodeEvent([]byte(line)); ok || err != nil {
			t.Errorf("%s: acted on: %+v %v", line, ev, err)
		}
	}
}

func TestDecodePorts(t *testing.T) {
	b := map[string][]hostPort{
		"80/tcp":  {{HostIP: "0.0.0.0", HostPort: "8080"}, {HostIP: "", HostPort: ""}},
		"53/udp":  {{HostIP: "::", HostPort: ""}},
		"bad/tcp": {{HostPort: "1"}},
		"81":      {{HostIP: "10.0.0.1\xff", HostPort: "81"}},
	}
	bound := map[string][]hostPort{
		"80/tcp": {{HostIP: "0.0.0.0", HostPort: "8080"}, {HostIP: "0.0.0.0", HostPort: "49153"}, {HostIP: "::", HostPort: "49153"}},
		"53/udp": {{HostIP: "::", HostPort: "49154"}},
		// -P: nothing asked, the engine published it.
		"443/tcp": {{HostIP: "0.0.0.0", HostPort: "49155"}},
	}
	for _, c := range []struct {
		running bool
		want    []PortBinding
	}{
		{true, []PortBinding{
			{Proto: "tcp", HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80},
			{Proto: "tcp", HostIP: "", HostPort: 49153, ContainerPort: 80},
			{Proto: "tcp", HostIP: "10.0.0.1\uFFFD", HostPort: 81, ContainerPort: 81},
			{Proto: "tcp", HostIP: "0.0.0.0", HostPort: 49155, ContainerPort: 443},
			{Proto: "udp", HostIP: "::", HostPort: 49154, ContainerPort: 53},
		}},
		// Stopped: the ports the engine picks are unknown (0).
		{false, []PortBinding{
			{Proto: "tcp", HostIP: "", HostPort: 0, ContainerPort: 80},
			{Proto: "tcp", HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80},
			{Proto: "tcp", HostIP: "10.0.0.1\uFFFD", HostPort: 81, ContainerPort: 81},
			{Proto: "udp", HostIP: "::", HostPort: 0, ContainerPort: 53},
		}},
	} {
		if got := decodePorts(b, bound, c.running); !reflect.DeepEqual(got, c.want) {
			t.Errorf("running %v:\n got %+v\nwant %+v", c.running, got, c.want)
		}
	}
}

func TestDecodeInspectCleansStrings(t *testing.T) {
	out := "a" + strings.Repeat("é", 600) // 1201 bytes: 512 is mid-rune
	b := []byte(`{"Id":"x","Name":"/we` + "\xff" + `b","State":{"Status":"running","Error":"` + "\xfe" + `","Health":{"Status":"unhealthy","Log":[{"ExitCode":1,"Output":"` + out + `"}]}}}`)
	c, err := decodeInspect(Docker, b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "we\uFFFDb" || c.Error != "\uFFFD" || len(c.Health.LastOutput) != MaxHealthOutput-1 || !utf8.ValidString(c.Health.LastOutput) {
		t.Fatalf("%q %q %d %v", c.Name, c.Error, len(c.Health.LastOutput), utf8.ValidString(c.Health.LastOutput))
	}
	if _, err := decodeInspect(Docker, []byte(`{"Name":"/x"}`)); err == nil {
		t.Fatal("an inspect without an Id decoded")
	}
}

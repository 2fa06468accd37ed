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
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	eps, err := Resolve("", "", getenv)
	if err != nil || len(eps) != 2 || eps[0] != (Endpoint{Docker, DefaultDockerHost}) || eps[1] != (Endpoint{Podman, DefaultPodmanHost}) {
		t.Fatalf("defaults: %+v, %v", eps, err)
	}
	env[DockerHostEnv], env[PodmanHostEnv] = "tcp://127.0.0.1:2375", "unix:///run/user/1000/podman/podman.sock"
	eps, err = Resolve("", "", getenv)
	if err != nil || eps[0].Address != "tcp://127.0.0.1:2375" || eps[1].Address != "unix:///run/user/1000/podman/podman.sock" {
		t.Fatalf("from the environment: %+v, %v", eps, err)
	}
	eps, err = Resolve("unix:///x/docker.sock", "", getenv)
	if err != nil || eps[0].Address != "unix:///x/docker.sock" {
		t.Fatalf("the flag over the environment: %+v, %v", eps, err)
	}
	for _, c := range []struct{ docker, env, want string }{
		{"ssh://host", "", `the docker address "ssh://host" (from --containers.docker-host): scheme "ssh" is not unix:// or tcp://`},
		{"", "npipe:////./pipe/docker_engine", `the docker address "npipe:////./pipe/docker_engine" (from $DOCKER_HOST): scheme "npipe"`},
		{"tcp://host", "", `tcp address needs host:port`},
		{"unix://docker.sock", "", `is not absolute`},
	} {
		env[DockerHostEnv] = c.env
		if _, err := Resolve(c.docker, "", getenv); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Resolve(%q) with $DOCKER_HOST=%q: %v, want %q", c.docker, c.env, err, c.want)
		}
	}
}

func TestConnectErrorWording(t *testing.T) {
	for _, c := range []struct {
		engine string
		err    error
		want   string
	}{
		{Docker, syscall.EACCES, "cannot read the Docker API at unix:///var/run/docker.sock: permission denied (it needs the docker group; see docs/containers.md#permissions)"},
		{Podman, syscall.EACCES, "cannot read the Podman API at unix:///var/run/docker.sock: permission denied (it needs root, or a group on the socket and on /run/podman (0700 root); see docs/containers.md#permissions)"},
		{Docker, syscall.ENOENT, "cannot read the Docker API at unix:///var/run/docker.sock: no such file"},
	} {
		err := &ConnectError{Engine: c.engine, Address: DefaultDockerHost, Err: &os.SyscallError{Syscall: "connect", Err: c.err}}
		if got := err.Error(); got != c.want {
			t.Errorf("%s %v:\n got %q\nwant %q", c.engine, c.err, got, c.want)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%v does not wrap %v", err, c.err)
		}
	}
}

func TestClientMissingSocket(t *testing.T) {
	addr := "unix://" + filepath.Join(t.TempDir(), "podman.sock")
	c, err := NewClient(Endpoint{Podman, addr}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Ping(context.Background())
	if !Missing(err) || err.Error() != "cannot read the Podman API at "+addr+": no such file" {
		t.Fatalf("ping of a missing socket: %v (Missing %v)", err, Missing(err))
	}
}

// serveUnix serves h on a unix socket in t.TempDir() and returns a client
// of it.
func serveUnix(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	c, err := NewClient(Endpoint{Docker, serveUnixHTTP(t, h)}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestClientStatusError(t *testing.T) {
	c := serveUnix(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "gone") {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"No such container: gone"}`))
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(strings.Repeat("\xff", 10<<10)))
	})
	_, err := c.Inspect(context.Background(), "gone")
	if !errors.Is(err, ErrNotFound) || err.Error() != "Docker inspect: HTTP 404 Not Found: No such container: gone" {
		t.Fatalf("inspect of a removed container: %v", err)
	}
	_, err = c.List(context.Background())
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 500 || len(se.Message) > 3*maxErrorBody || !strings.HasPrefix(se.Message, "\uFFFD") {
		t.Fatalf("a 500 with a 10 KiB invalid body: %v", err)
	}
}

func TestClientBodyLimit(t *testing.T) {
	c := serveUnix(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"Id":"x","Name":"/` + strings.Repeat("a", maxInspectBody) + `"}`))
	})
	_, err := c.Inspect(context.Background(), "x")
	if err == nil || !strings.Contains(err.Error(), "the body is over 1048576 bytes") {
		t.Fatalf("an inspect over 1 MiB: %v", err)
	}
}

func TestClientCallTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	c := serveUnix(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c.timeout = 50 * time.Millisecond
	if _, err := c.Ping(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a ping the engine never answers: %v", err)
	}
	err := c.Events(context.Background(), time.Time{}, func(Event) error { return nil })
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "no answer in 50ms") {
		t.Fatalf("an event stream whose headers never come: %v", err)
	}
}

// endless is a reader of an endless line.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func TestReadEventsLongLine(t *testing.T) {
	err := readEvents(endless{}, func(Event) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "an event line is over 65536 bytes") {
		t.Fatalf("an endless line: %v", err)
	}
	// Through a real stream, after a good line.
	c := serveUnix(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("since") == "" || !strings.Contains(r.URL.RawQuery, "filters=") {
			t.Errorf("events query %q lacks since or filters", r.URL.RawQuery)
		}
		w.Write([]byte(`{"Type":"container","Action":"start","Actor":{"ID":"a1","Attributes":{"name":"a"}},"timeNano":5}` + "\n"))
		w.Write([]byte(strings.Repeat("x", 70<<10) + "\n"))
	})
	var got []Event
	err = c.Events(context.Background(), time.Unix(1, 5), func(e Event) error { got = append(got, e); return nil })
	if err == nil || !strings.Contains(err.Error(), "over 65536 bytes") || len(got) != 1 || got[0] != (Event{Action: "start", ID: "a1", Name: "a", TimeNano: 5}) {
		t.Fatalf("a 70 KiB line after a start: %v, events %+v", err, got)
	}
	err = readEvents(strings.NewReader(""), func(Event) error { return nil })
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a stream that ends: %v", err)
	}
}

func TestClientPing(t *testing.T) {
	for _, podman := range []bool{false, true} {
		f := newFakeEngine(t, podman)
		c, err := NewClient(Endpoint{Docker, f.addr}, 0)
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Ping(context.Background())
		if err != nil || p.APIVersion != "1.41" || p.Podman != podman {
			t.Fatalf("ping of a fake (podman %v): %+v, %v", podman, p, err)
		}
		c.Close()
	}
}

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
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEngine is an engine's API on a unix socket in t.TempDir(): it
// serves the containers the test sets and an event stream the test
// writes to.
type fakeEngine struct {
	t       *testing.T
	addr    string // unix://...
	podman  bool
	rootDir string

	mu         sync.Mutex
	containers map[string]fakeContainer // by ID
	listBody   []byte                   // served instead of the list when set
	streams    int                      // event streams opened
	inspects   map[string]int           // inspects served, by ID
	sinces     []string
	lines      chan string // to the open stream; "" ends it
}

// fakeContainer is what the fake says of one container.
type fakeContainer struct {
	ID, Name, State string
	ExitCode        int
	RestartCount    int
	Health          string // "" for none
	OOMKilled       bool
}

func (c fakeContainer) inspect() []byte {
	health, check := "", ""
	if c.Health != "" {
		health = fmt.Sprintf(`,"Health":{"Status":%q,"FailingStreak":1,"Log":[{"ExitCode":1,"Output":"down"}]}`, c.Health)
		check = `,"Healthcheck":{"Test":["CMD","/srv","check"],"Interval":1000000000}`
	}
	return fmt.Appendf(nil, `{"Id":%q,"Name":"/%s","Config":{"Image":"srv","Labels":{}%s},"State":{"Status":%q,"Pid":42,"ExitCode":%d,"OOMKilled":%v,"StartedAt":"2026-12-04T18:46:00.375736906Z","FinishedAt":"0001-01-01T00:00:00Z"%s},"RestartCount":%d,"HostConfig":{"NetworkMode":"bridge","RestartPolicy":{"Name":"always"},"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}},"NetworkSettings":{"Ports":{}}}`,
		c.ID, c.Name, check, c.State, c.ExitCode, c.OOMKilled, health, c.RestartCount)
}

func newFakeEngine(t *testing.T, podman bool, cs ...fakeContainer) *fakeEngine {
	t.Helper()
	f := &fakeEngine{t: t, podman: podman, rootDir: "/var/lib/docker", containers: map[string]fakeContainer{}, lines: make(chan string)}
	for _, c := range cs {
		f.containers[c.ID] = c
	}
	f.addr = serveUnixHTTP(t, f.serve)
	return f
}

// serveUnixHTTP serves h on a unix socket in t.TempDir() until the test
// ends and returns its address (unix://...).
func serveUnixHTTP(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listening on %s: %v", path, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return "unix://" + path
}

func (f *fakeEngine) set(c fakeContainer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.containers[c.ID] = c
}

func (f *fakeEngine) delete(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
}

func (f *fakeEngine) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.41")
	if f.podman {
		w.Header().Set("Libpod-Api-Version", "4.3.1")
	}
	p := strings.TrimPrefix(r.URL.Path, "/v1.41")
	f.mu.Lock()
	switch {
	case p == "/_ping":
		f.mu.Unlock()
		w.Write([]byte("OK"))
	case p == "/info":
		f.mu.Unlock()
		fmt.Fprintf(w, `{"ID":"x","DockerRootDir":%q}`, f.rootDir)
	case p == "/containers/json":
		body := f.listBody
		if body == nil {
			var l []map[string]any
			for _, c := range f.containers {
				l = append(l, map[string]any{"Id": c.ID, "Names": []string{"/" + c.Name}, "State": c.State})
			}
			body, _ = json.Marshal(l)
		}
		f.mu.Unlock()
		w.Write(body)
	case strings.HasPrefix(p, "/containers/") && strings.HasSuffix(p, "/json"):
		id := strings.TrimSuffix(strings.TrimPrefix(p, "/containers/"), "/json")
		c, ok := f.containers[id]
		if f.inspects == nil {
			f.inspects = map[string]int{}
		}
		f.inspects[id]++
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"No such container: x"}`))
			return
		}
		w.Write(c.inspect())
	case p == "/events":
		f.streams++
		f.sinces = append(f.sinces, r.URL.Query().Get("since"))
		f.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case line := <-f.lines:
				if line == "" {
					return
				}
				w.Write([]byte(line + "\n"))
				w.(http.Flusher).Flush()
			}
		}
	default:
		f.mu.Unlock()
		http.NotFound(w, r)
	}
}

// send writes an event line to the open stream (waiting for one).
func (f *fakeEngine) send(line string) {
	f.t.Helper()
	select {
	case f.lines <- line:
	case <-time.After(10 * time.Second):
		f.t.Fatalf("no event stream took %q in 10 s", line)
	}
}

// event sends one container event, stamped now.
func (f *fakeEngine) event(action, id string, attrs map[string]string) {
	f.t.Helper()
	b, _ := json.Marshal(map[string]any{
		"Type": "container", "Action": action, "status": action,
		"Actor":    map[string]any{"ID": id, "Attributes": attrs},
		"time":     time.Now().Unix(),
		"timeNano": time.Now().UnixNano(),
	})
	f.send(string(b))
}

func (f *fakeEngine) streamCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.streams
}

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

//go:build bench

package bench

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/enginetest"
)

// TestContainerEventsReplayed is the rate, which dockerd cannot
// make here (it restarts 3-5 containers a second on these 2 cores): 50
// containers each restarted once a second by its restart policy — docker's
// die (exit 3) and start events, 100 a second, in docker 20.10.24's own
// wording (internal/containers/testdata) — served by an engine of the
// test's on a unix socket, followed by the watcher in its own process,
// whose CPU is measured. Its inspects are docker's captured answer.
func TestContainerEventsReplayed(t *testing.T) {
	inspect, err := os.ReadFile("../internal/containers/testdata/docker-inspect-web.json")
	if err != nil {
		t.Fatal(err)
	}
	const n = benchContainers
	id := func(i int) string { return fmt.Sprintf("%064x", i+1) }
	name := func(i int) string { return fmt.Sprintf("wdn-replay%02d", i) }
	var origID, origName string
	if _, err := fmt.Sscanf(string(inspect), `{"Id":%q`, &origID); err != nil {
		t.Fatalf("the captured inspect: %v", err)
	}
	origName = "/web"
	events := make(chan string, 1024)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1.41/_ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Write([]byte("OK"))
	})
	mux.HandleFunc("/v1.41/containers/json", func(w http.ResponseWriter, r *http.Request) {
		var l []string
		for i := range n {
			l = append(l, fmt.Sprintf(`{"Id":%q,"Names":["/%s"],"State":"running"}`, id(i), name(i)))
		}
		w.Write([]byte("[" + strings.Join(l, ",") + "]"))
	})
	mux.HandleFunc("/v1.41/containers/", func(w http.ResponseWriter, r *http.Request) {
		cid := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1.41/containers/"), "/json")
		var i int
		fmt.Sscanf(cid, "%x", &i)
		body := strings.Replace(string(inspect), origID, cid, 1)
		w.Write([]byte(strings.Replace(body, `"Name":"`+origName+`"`, `"Name":"/`+name(i-1)+`"`, 1)))
	})
	mux.HandleFunc("/v1.41/events", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case line := <-events:
				w.Write([]byte(line + "\n"))
				w.(http.Flusher).Flush()
			}
		}
	})
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	h := startWatcherHelper(t, &enginetest.Engine{Name: "docker", Socket: sock, Address: "unix://" + sock})
	h.waitContainers(t, n)
	i0 := h.sample(t)
	time.Sleep(idleWindow)
	idle := h.sample(t).since(i0)
	event := func(action, cid, cname, exit string) string {
		now := time.Now()
		attrs := fmt.Sprintf(`"image":"srv:h24","name":%q`, cname)
		if exit != "" {
			attrs += fmt.Sprintf(`,"exitCode":%q`, exit)
		}
		return fmt.Sprintf(`{"status":%q,"id":%q,"from":"srv:h24","Type":"container","Action":%q,"Actor":{"ID":%q,"Attributes":{%s}},"scope":"local","time":%d,"timeNano":%d}`,
			action, cid, action, cid, attrs, now.Unix(), now.UnixNano())
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Each container restarted once a second, spread over the second:
		// a die, and its start 100 ms later (docker's first backoff).
		tick := time.NewTicker(time.Second / time.Duration(n))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			c := i % n
			events <- event("die", id(c), name(c), "3")
			go func() {
				time.Sleep(100 * time.Millisecond)
				select {
				case events <- event("start", id(c), name(c), ""):
				case <-stop:
				}
			}()
		}
	}()
	time.Sleep(warmup)
	s0 := h.sample(t)
	time.Sleep(eventWindow)
	busy := h.sample(t).since(s0)
	close(stop)
	<-done
	fmt.Printf("\n%-50s %8s %9s %10s %8s %12s\n", "window", "seconds", "events/s", "restarts/s", "CPU", "CPU/restart")
	fmt.Printf("%-50s %s\n", fmt.Sprintf("idle: %d containers, no event (replayed)", n), idle)
	fmt.Printf("%-50s %s\n", fmt.Sprintf("%d containers restarting once a second (replayed)", n), busy)
	if busy.restartsPerSecond() < 0.8*n {
		t.Errorf("the watcher counted %.1f restarts a second, want about %d", busy.restartsPerSecond(), n)
	}
	fmt.Printf("SUMMARY|containers: events of %d containers restarting once a second (docker's events replayed)|%.2f %% of a core|%.0f events/s|-|< 1 %%\n",
		n, busy.cpuPercent(), busy.eventsPerSecond())
}

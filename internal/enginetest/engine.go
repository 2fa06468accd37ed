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

// Package enginetest runs real container engines for tests: a dockerd
// (Debian's docker.io) or a rootful podman API service (with runc), each
// started by the test with state of its own in a temporary directory, and
// the test server of ./srv imported as a FROM-scratch image (no registry).
//
// Both engines are driven through the Docker-compatible API 1.41 over their
// unix socket with net/http, as the exporter itself reads them: a health
// check in exec form (["CMD", "/srv", "check", ...]) needs the API, the
// docker CLI only makes shell-form checks and the image has no shell.
//
// One engine of a kind runs on the machine at a time: Docker and Podman
// take an flock held for the engine's life, so test packages that go test
// runs in parallel wait for each other (at most 10 minutes). Start one per
// test package and share it between subtests: a dockerd starts in well
// under a second here, but each start and teardown is machine-wide work.
package enginetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiVersion is the Docker API version both engines speak (podman 4.3.1's
// compat API says 1.41; docker.io 20.10 speaks up to 1.41).
const apiVersion = "/v1.41"

// Bounds on what the harness reads from an engine and how long it waits.
const (
	maxResponse  = 8 << 20         // an inspect is a few KiB; a list of a test's containers well below this
	callTimeout  = 2 * time.Minute // a stop waits up to its own timeout (10 s) before the answer
	pollInterval = 50 * time.Millisecond
)

// Engine is one running container engine.
type Engine struct {
	Name    string // "docker" or "podman"
	Socket  string // path of its API socket
	Address string // "unix://" + Socket, for DOCKER_HOST or the exporter's flags

	client   *http.Client
	ulimits  []ulimit // given to every container (podman: see Podman)
	imageMu  sync.Mutex
	image    string // Image's reference, once built
	imageDur time.Duration
}

func newEngine(name, socket string) *Engine {
	return &Engine{
		Name:    name,
		Socket:  socket,
		Address: "unix://" + socket,
		client: &http.Client{
			Timeout: callTimeout,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "unix", socket)
				},
			},
		},
	}
}

// APIError is an engine's answer with a status of 400 or more.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Message) }

// Call sends one API request (path below /v1.41, e.g. "/containers/json")
// with body (nil, an io.Reader sent as is, or a value sent as JSON) and
// decodes the answer into out (nil to discard it, a *[]byte to take it as
// is). It reads at most 8 MiB.
func (e *Engine) Call(method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, "application/x-tar"
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("%s %s: encoding the body: %w", method, path, err)
		}
		rd, ctype = bytes.NewReader(buf), "application/json"
	}
	u := "http://" + e.Name + apiVersion + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s on %s: %w", method, path, e.Name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%s %s on %s: reading the answer: %w", method, path, e.Name, err)
	}
	if resp.StatusCode >= 400 {
		var m struct{ Message string }
		if json.Unmarshal(data, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(data))
		}
		return fmt.Errorf("%s %s on %s: %w", method, path, e.Name, &APIError{resp.StatusCode, strings.ToValidUTF8(m.Message, "?")})
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s on %s: decoding %d bytes: %w", method, path, e.Name, len(data), err)
	}
	return nil
}

// ping reports whether the engine answers /_ping (outside the versioned
// prefix, as clients probe it).
func (e *Engine) ping() error {
	resp, err := e.client.Get("http://" + e.Name + "/_ping")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/_ping: status %d", resp.StatusCode)
	}
	return nil
}

// RunOptions are a container's settings: what `docker run` would be given.
type RunOptions struct {
	// Cmd follows the image's entrypoint /srv: e.g. {"serve", ":9863"}.
	// Empty: {"sleep"}.
	Cmd []string
	// Env are NAME=VALUE pairs (srv reads CRASH_AFTER, EAT_MB, NO_LISTEN).
	Env []string
	// Publish are port bindings as `docker run -p` writes them:
	// "127.0.0.1:18080:9863", "18080:9863", "127.0.0.1::9863" (any host
	// port), with an optional "/tcp" or "/udp".
	Publish []string
	// Network is the network mode: "" (the engine's default bridge),
	// "host", "none".
	Network string
	// Restart is the restart policy: "", "no", "always", "unless-stopped",
	// "on-failure".
	Restart string
	// Memory limits the container's memory, in bytes (0: no limit). Swap is
	// limited to the same figure, so the limit is where the OOM killer acts.
	Memory int64
	// HealthCmd is a health check in exec form (the image has no shell):
	// e.g. {"/srv", "check", "127.0.0.1:9863"}. Empty: none.
	HealthCmd []string
	// HealthInterval is the time between checks (0: 1 s, for tests).
	HealthInterval time.Duration
	// HealthRetries is how many failures in a row make it unhealthy (0: 1).
	HealthRetries int
}

type ulimit struct {
	Name       string
	Soft, Hard int64
}

type portBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string
}

// parsePublish reads one RunOptions.Publish entry: container port (with
// its protocol) and the host side.
func parsePublish(s string) (string, portBinding, error) {
	spec, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	var b portBinding
	var cport string
	switch parts := strings.Split(spec, ":"); len(parts) {
	case 1:
		cport = parts[0]
	case 2:
		b.HostPort, cport = parts[0], parts[1]
	case 3:
		b.HostIP, b.HostPort, cport = parts[0], parts[1], parts[2]
	default:
		return "", b, fmt.Errorf("publish %q: want [IP:][HOSTPORT:]PORT[/PROTO]", s)
	}
	for _, p := range []string{cport, b.HostPort} {
		if n, err := strconv.Atoi(p); p != "" && (err != nil || n <= 0 || n > 65535) {
			return "", b, fmt.Errorf("publish %q: bad port %q", s, p)
		}
	}
	if cport == "" || (proto != "tcp" && proto != "udp") {
		return "", b, fmt.Errorf("publish %q: want [IP:][HOSTPORT:]PORT[/tcp|udp]", s)
	}
	return cport + "/" + proto, b, nil
}

// createBody is the body of POST /containers/create for opts.
func (e *Engine) createBody(image string, opts RunOptions) (map[string]any, error) {
	cmd := opts.Cmd
	if len(cmd) == 0 {
		cmd = []string{"sleep"}
	}
	exposed := map[string]any{}
	bindings := map[string][]portBinding{}
	for _, p := range opts.Publish {
		port, b, err := parsePublish(p)
		if err != nil {
			return nil, err
		}
		exposed[port] = struct{}{}
		bindings[port] = append(bindings[port], b)
	}
	host := map[string]any{"PortBindings": bindings}
	if opts.Network != "" {
		host["NetworkMode"] = opts.Network
	}
	if opts.Restart != "" {
		host["RestartPolicy"] = map[string]any{"Name": opts.Restart}
	}
	if opts.Memory > 0 {
		host["Memory"], host["MemorySwap"] = opts.Memory, opts.Memory
	}
	if len(e.ulimits) > 0 {
		host["Ulimits"] = e.ulimits
	}
	body := map[string]any{
		"Image":        image,
		"Cmd":          cmd,
		"Env":          opts.Env,
		"ExposedPorts": exposed,
		"HostConfig":   host,
	}
	if len(opts.HealthCmd) > 0 {
		interval := opts.HealthInterval
		if interval <= 0 {
			interval = time.Second
		}
		retries := opts.HealthRetries
		if retries <= 0 {
			retries = 1
		}
		body["Healthcheck"] = map[string]any{
			"Test":     append([]string{"CMD"}, opts.HealthCmd...),
			"Interval": interval.Nanoseconds(),
			"Timeout":  (5 * time.Second).Nanoseconds(), // srv check gives up after 1 s
			"Retries":  retries,
		}
	}
	return body, nil
}

// Run creates and starts a container named name from Image, and returns
// its ID. It is removed (forced) when the test ends.
func (e *Engine) Run(t testing.TB, name string, opts RunOptions) string {
	t.Helper()
	image := e.Image(t)
	body, err := e.createBody(image, opts)
	if err != nil {
		t.Fatalf("%s: container %s: %v", e.Name, name, err)
	}
	var created struct {
		ID string `json:"Id"`
	}
	if err := e.Call(http.MethodPost, "/containers/create", url.Values{"name": {name}}, body, &created); err != nil {
		t.Fatalf("creating container %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := e.remove(created.ID); err != nil {
			t.Errorf("removing container %s: %v", name, err)
		}
	})
	e.Start(t, name)
	return created.ID
}

// Start starts a stopped container.
func (e *Engine) Start(t testing.TB, name string) {
	t.Helper()
	e.act(t, name, "start", nil)
}

// Stop stops a container: SIGTERM, SIGKILL after 10 s, as `docker stop`.
// srv exits at SIGTERM at once.
func (e *Engine) Stop(t testing.TB, name string) {
	t.Helper()
	e.act(t, name, "stop", url.Values{"t": {"10"}})
}

// Pause freezes a container's processes, as `docker pause`; Unpause
// thaws them.
func (e *Engine) Pause(t testing.TB, name string) {
	t.Helper()
	e.act(t, name, "pause", nil)
}

func (e *Engine) Unpause(t testing.TB, name string) {
	t.Helper()
	e.act(t, name, "unpause", nil)
}

// Kill sends signal (e.g. "KILL", "TERM") to a container's process.
func (e *Engine) Kill(t testing.TB, name, signal string) {
	t.Helper()
	e.act(t, name, "kill", url.Values{"signal": {signal}})
}

// act asks the engine for action on container name (POST
// /containers/NAME/ACTION) and fails the test if it refuses.
func (e *Engine) act(t testing.TB, name, action string, query url.Values) {
	t.Helper()
	if err := e.Call(http.MethodPost, "/containers/"+url.PathEscape(name)+"/"+action, query, nil, nil); err != nil {
		t.Fatalf("%s container %s (%v): %v", action, name, query, err)
	}
}

// Remove removes a container, running or not.
func (e *Engine) Remove(t testing.TB, name string) {
	t.Helper()
	if err := e.remove(name); err != nil {
		t.Fatalf("removing container %s: %v", name, err)
	}
}

// remove removes a container; one already gone is no error.
func (e *Engine) remove(name string) error {
	err := e.Call(http.MethodDelete, "/containers/"+url.PathEscape(name), url.Values{"force": {"1"}, "v": {"1"}}, nil, nil)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return nil
	}
	return err
}

// Inspect returns GET /containers/{name}/json as decoded JSON.
func (e *Engine) Inspect(t testing.TB, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := e.Call(http.MethodGet, "/containers/"+url.PathEscape(name)+"/json", nil, nil, &m); err != nil {
		t.Fatalf("inspecting container %s: %v", name, err)
	}
	return m
}

// Field returns the value at a dotted path of an Inspect result
// ("State.Health.Status"), nil where it is missing.
func Field(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[k]
	}
	return v
}

// WaitState waits until the container's State.Status is state ("running",
// "exited", "restarting" …), polling for at most within, and fails with
// the last state seen.
func (e *Engine) WaitState(t testing.TB, name, state string, within time.Duration) map[string]any {
	t.Helper()
	return e.WaitFor(t, name, "State.Status", state, within)
}

// WaitFor waits until the Inspect field at path (see Field) reads want
// (compared as fmt's %v prints it), for at most within, and returns the
// Inspect result that matched; it fails with the last value seen.
func (e *Engine) WaitFor(t testing.TB, name, path, want string, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		m := e.Inspect(t, name)
		got := fmt.Sprint(Field(m, path))
		if got == want {
			return m
		}
		if time.Now().After(deadline) {
			st, _ := json.Marshal(Field(m, "State"))
			t.Fatalf("%s: container %s: %s is %q after %v, want %q (State: %s)", e.Name, name, path, got, within, want, st)
		}
		time.Sleep(pollInterval)
	}
}

// WaitGreeting dials addr until it answers with srv's greeting, for at
// most within, and fails with the last error or answer seen. A published
// port can accept (docker-proxy, a CNI DNAT) before the server inside
// listens: such a connection closes with no greeting.
func WaitGreeting(t testing.TB, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := Greet(addr)
		if err == nil && got == Greeting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no greeting within %v: got %q, %v", addr, within, got, err)
		}
		time.Sleep(pollInterval)
	}
}

// Greet dials addr (2 s timeout) and returns what it says before it closes,
// at most 64 bytes, read within 2 s.
func Greet(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(io.LimitReader(c, 64))
	return strings.ToValidUTF8(string(b), "?"), err
}

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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// The bounds of what is read from an engine: a list of 1024 containers is
// ~2 MiB at docker's ~2 KiB each, an inspect ~10 KiB (5 health logs of up
// to 4 KiB each make ~25 KiB), an event line ~1 KiB (podman adds every
// label as an attribute).
const (
	DefaultCallTimeout = 5 * time.Second
	maxListBody        = 16 << 20
	maxInspectBody     = 1 << 20
	maxInfoBody        = 1 << 20
	maxPingBody        = 4 << 10
	maxErrorBody       = 4 << 10
	maxEventLine       = 64 << 10
)

// apiBase is the URL prefix of every call: both engines speak the Docker
// API 1.41 (docker 20.10; podman 4's compat API), the host is a
// placeholder since the transport dials the socket.
const apiBase = "http://d/v1.41"

// ErrNotFound is an inspect of a container the engine no longer has.
var ErrNotFound = errors.New("no such container")

// Client reads one engine's API.
type Client struct {
	ep      Endpoint
	network string
	dial    string // socket path or host:port
	timeout time.Duration
	http    *http.Client
}

// NewClient returns a client of ep whose calls each last at most timeout
// (DefaultCallTimeout when 0), the event stream excepted.
func NewClient(ep Endpoint, timeout time.Duration) (*Client, error) {
	network, dial, err := splitAddress(ep.Address)
	if err != nil {
		return nil, fmt.Errorf("the %s address %q: %w", ep.Engine, ep.Address, err)
	}
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	c := &Client{ep: ep, network: network, dial: dial, timeout: timeout}
	var d net.Dialer
	c.http = &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, dial)
			},
			// One stream plus up to 4 inspects at a time.
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
		// No redirects: the API has none, and a redirect off the socket
		// would be an engine leading us elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// Endpoint returns the client's endpoint.
func (c *Client) Endpoint() Endpoint { return c.ep }

// SocketPath returns the unix socket's path ("" for tcp://).
func (c *Client) SocketPath() string {
	if c.network != "unix" {
		return ""
	}
	return c.dial
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// ConnectError is an engine that could not be reached. Its message is the
// operator's: what to fix, without Go's dial noise.
type ConnectError struct {
	Engine, Address string
	Err             error // the dial's error (errors.Is syscall.EACCES, ENOENT)
}

func (e *ConnectError) Error() string {
	prefix := fmt.Sprintf("cannot read the %s API at %s", title(e.Engine), e.Address)
	switch {
	case errors.Is(e.Err, syscall.EACCES):
		// Debian's defaults: docker.sock root:docker 0660; podman's
		// socket root:root 0660 in /run/podman, itself 0700 root
		// (tmpfiles.d/podman.conf): a group on the socket alone is not
		// enough there.
		want := "the docker group"
		if e.Engine == Podman {
			want = "root, or a group on the socket and on /run/podman (0700 root)"
		}
		return prefix + ": permission denied (it needs " + want + "; see docs/containers.md#permissions)"
	case errors.Is(e.Err, syscall.ENOENT):
		return prefix + ": no such file"
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return prefix + ": connection refused (is the engine running?)"
	}
	return prefix + ": " + e.Err.Error()
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Missing says err is an engine whose socket does not exist.
func Missing(err error) bool {
	var ce *ConnectError
	return errors.As(err, &ce) && errors.Is(ce.Err, syscall.ENOENT)
}

// StatusError is an engine's answer with an HTTP error status.
type StatusError struct {
	Engine, What string
	Status       int
	Message      string // the engine's, bounded and valid UTF-8
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d %s: %s", title(e.Engine), e.What, e.Status, http.StatusText(e.Status), e.Message)
}

// Is makes a 404 ErrNotFound.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// do sends a GET of path and returns the response once its headers are in
// and its status is 2xx. The caller closes the body.
func (c *Client) do(ctx context.Context, what, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiBase+path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", title(c.ep.Engine), what, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, &ConnectError{Engine: c.ep.Engine, Address: c.ep.Address, Err: op.Err}
		}
		return nil, fmt.Errorf("%s %s: %w", title(c.ep.Engine), what, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		var m struct{ Message string }
		msg := string(b)
		if json.Unmarshal(b, &m) == nil && m.Message != "" {
			msg = m.Message
		}
		return nil, &StatusError{Engine: c.ep.Engine, What: what, Status: resp.StatusCode, Message: clean(strings.TrimSpace(msg), maxErrorBody)}
	}
	return resp, nil
}

// get does one bounded call: at most c.timeout, at most limit bytes.
func (c *Client) get(ctx context.Context, what, path string, limit int64) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.do(ctx, what, path)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: reading the body: %w", title(c.ep.Engine), what, err)
	}
	if int64(len(b)) > limit {
		return nil, nil, fmt.Errorf("%s %s: the body is over %d bytes", title(c.ep.Engine), what, limit)
	}
	return b, resp.Header, nil
}

// Ping is what GET /_ping says of the engine.
type Ping struct {
	APIVersion string
	// Podman: the peer is podman (its Libpod-Api-Version header), also
	// behind docker.sock (the podman-docker package's symlink).
	Podman        bool
	LibpodVersion string
}

// Ping checks the engine answers and says which it is.
func (c *Client) Ping(ctx context.Context) (Ping, error) {
	_, h, err := c.get(ctx, "ping", "/_ping", maxPingBody)
	if err != nil {
		return Ping{}, err
	}
	p := Ping{APIVersion: clean(h.Get("Api-Version"), 64), LibpodVersion: clean(h.Get("Libpod-Api-Version"), 64)}
	p.Podman = p.LibpodVersion != ""
	return p, nil
}

// RootDir returns the engine's storage root (GET /info's DockerRootDir):
// the same root is the same engine, whichever socket reached it (podman's
// /info ID is new at each call, so it cannot tell).
func (c *Client) RootDir(ctx context.Context) (string, error) {
	b, _, err := c.get(ctx, "info", "/info", maxInfoBody)
	if err != nil {
		return "", err
	}
	var r struct{ DockerRootDir string }
	if err := json.Unmarshal(b, &r); err != nil {
		return "", fmt.Errorf("%s info: decoding: %w", title(c.ep.Engine), err)
	}
	return clean(r.DockerRootDir, maxString), nil
}

// List returns every container, running or not.
func (c *Client) List(ctx context.Context) ([]Listed, error) {
	b, _, err := c.get(ctx, "list", "/containers/json?all=1", maxListBody)
	if err != nil {
		return nil, err
	}
	l, err := decodeList(b)
	if err != nil {
		return nil, fmt.Errorf("%s list: %w", title(c.ep.Engine), err)
	}
	return l, nil
}

// Inspect returns the container id; an error wrapping ErrNotFound when
// the engine no longer has it.
func (c *Client) Inspect(ctx context.Context, id string) (Container, error) {
	b, _, err := c.get(ctx, "inspect", "/containers/"+url.PathEscape(id)+"/json", maxInspectBody)
	if err != nil {
		return Container{}, err
	}
	ct, err := decodeInspect(c.ep.Engine, b)
	if err != nil {
		return Container{}, fmt.Errorf("%s inspect %s: %w", title(c.ep.Engine), id, err)
	}
	return ct, nil
}

// eventFilter is filters={"type":["container"],"event":[...]}: it asks for container events only, naming both engines'
// actions: podman matches its own names ("died", "remove"; "die" alone
// drops every die event) and docker matches by prefix ("health_status"
// covers "health_status: unhealthy"); neither rejects a name it does not
// emit (docker 20.10.24, podman 4.3.1). exec_* (three per health probe)
// stay out. "stop" is the only event of stopping a container that is not
// running (docker stop during a crash loop's restart delay: no die).
const eventFilter = `%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22create%22%2C%22start%22%2C%22restart%22%2C%22die%22%2C%22died%22%2C%22oom%22%2C%22health_status%22%2C%22destroy%22%2C%22remove%22%2C%22pause%22%2C%22unpause%22%2C%22rename%22%2C%22stop%22%5D%7D`

// Events streams the engine's container events since since to fn until
// ctx ends, the stream breaks or fn fails. The call's timeout bounds the
// wait for the stream's headers; then the stream lives until ctx ends.
func (c *Client) Events(ctx context.Context, since time.Time, fn func(Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := time.AfterFunc(c.timeout, cancel)
	path := "/events?filters=" + eventFilter
	if !since.IsZero() {
		// seconds.nanoseconds: both engines take it (docker 20.10.24,
		// podman 4.3.1), and a whole second would replay up to 1 s.
		path += fmt.Sprintf("&since=%d.%09d", since.Unix(), since.Nanosecond())
	}
	resp, err := c.do(ctx, "events", path)
	if !timer.Stop() {
		// Fired, also just after the headers came: ctx is cancelled.
		if err == nil {
			resp.Body.Close()
			err = ctx.Err()
		}
		return fmt.Errorf("%s events: no answer in %v: %w", title(c.ep.Engine), c.timeout, err)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readEvents(resp.Body, fn)
}

// eventBatch is the shortest time between two reads of the event stream:
// an event waits at most that long. Below docker's shortest restart delay
// (100 ms after a die), so a crash and its restart stay two batches, and
// the watch sees the outage. 50 ms: 1.0 % of a core at 100 events/s,
// 80 ms: 0.7-0.9 % (bench/containers.sh, replayed).
const eventBatch = 80 * time.Millisecond

// readEvents calls fn with each event of r, one JSON object a line; a
// line over maxEventLine is an error (not a wait for its end).
func readEvents(r io.Reader, fn func(Event) error) error {
	br := bufio.NewReaderSize(r, maxEventLine)
	var woke time.Time
	for {
		if br.Buffered() == 0 {
			// Read in batches, at most one wake-up per eventBatch: the
			// engines write each event as it happens, and a wake-up for
			// each line was most of the watcher's CPU (140 µs an event
			// here: 1.4 % of a core at 100 events/s).
			if d := eventBatch - time.Since(woke); d > 0 {
				time.Sleep(d)
			}
			woke = time.Now()
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("an event line is over %d bytes", maxEventLine)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			ev, ok, derr := decodeEvent(line)
			if derr != nil {
				return derr
			}
			if ok {
				if ferr := fn(ev); ferr != nil {
					return ferr
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("the event stream ended: %w", io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("reading the event stream: %w", err)
		}
	}
}

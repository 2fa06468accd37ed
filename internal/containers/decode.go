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
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxString bounds the engine-supplied strings kept per container (names,
// images, errors, units): a name is at most 253 bytes in docker, an error
// a line; 1 KiB keeps a hostile engine from filling the cache.
const maxString = 1024

// clean makes an engine-supplied string valid UTF-8 and at most n bytes,
// clipped at a rune's start.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return s
}

// inspectJSON is the part of GET /containers/{id}/json the layer reads.
type inspectJSON struct {
	ID     string `json:"Id"`
	Name   string
	Image  string
	Config struct {
		Image       string
		Labels      map[string]string
		Healthcheck *struct {
			Test     []string
			Interval int64 // ns; 0: the engine's default, 30 s
		}
	}
	State struct {
		Status     string
		Pid        int
		ExitCode   int
		OOMKilled  bool
		Error      string
		StartedAt  string
		FinishedAt string
		Health     *struct {
			Status        string
			FailingStreak int
			Log           []struct {
				ExitCode int
				Output   string
			}
		}
	}
	RestartCount int
	HostConfig   struct {
		NetworkMode   string
		RestartPolicy struct{ Name string }
		PortBindings  map[string][]hostPort
	}
	NetworkSettings struct {
		Ports map[string][]hostPort
	}
}

type hostPort struct {
	HostIP   string `json:"HostIp"`
	HostPort string
}

// listJSON is one entry of GET /containers/json.
type listJSON struct {
	ID    string `json:"Id"`
	Names []string
	State string
}

// Listed is one container of a list: enough to know which to inspect.
type Listed struct {
	ID, Name, State string
}

// decodeList decodes GET /containers/json?all=1.
func decodeList(b []byte) ([]Listed, error) {
	var raw []listJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("decoding the container list: %w", err)
	}
	out := make([]Listed, 0, len(raw))
	for _, r := range raw {
		if r.ID == "" {
			continue
		}
		l := Listed{ID: clean(r.ID, maxString), State: clean(r.State, maxString)}
		if len(r.Names) > 0 {
			l.Name = clean(strings.TrimPrefix(r.Names[0], "/"), maxString)
		}
		out = append(out, l)
	}
	return out, nil
}

// podmanState maps libpod's states that leak through its compat API to
// the Docker ones (podman 4 reports "configured" for a created container
// in some paths, "stopped" for an exited one).
func podmanState(s string) string {
	switch s {
	case "configured", "initialized":
		return StateCreated
	case "stopped":
		return StateExited
	case "stopping":
		return StateRunning
	}
	return s
}

// decodeInspect decodes GET /containers/{id}/json into a Container of
// engine.
func decodeInspect(engine string, b []byte) (Container, error) {
	var r inspectJSON
	if err := json.Unmarshal(b, &r); err != nil {
		return Container{}, fmt.Errorf("decoding a container's inspect: %w", err)
	}
	if r.ID == "" {
		return Container{}, fmt.Errorf("decoding a container's inspect: no Id")
	}
	c := Container{
		Engine:        engine,
		ID:            clean(r.ID, maxString),
		Name:          clean(strings.TrimPrefix(r.Name, "/"), maxString),
		Image:         clean(r.Config.Image, maxString),
		State:         clean(strings.ToLower(r.State.Status), maxString),
		Pid:           r.State.Pid,
		ExitCode:      r.State.ExitCode,
		OOMKilled:     r.State.OOMKilled,
		Error:         clean(r.State.Error, maxString),
		StartedAt:     parseTime(r.State.StartedAt),
		FinishedAt:    parseTime(r.State.FinishedAt),
		RestartCount:  r.RestartCount,
		RestartPolicy: clean(r.HostConfig.RestartPolicy.Name, maxString),
		Health:        Health{Status: HealthNone},
		NetworkMode:   clean(r.HostConfig.NetworkMode, maxString),
		SystemdUnit:   clean(r.Config.Labels["PODMAN_SYSTEMD_UNIT"], maxString),
	}
	if hc := r.Config.Healthcheck; hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE" {
		c.Health.Interval = defaultHealthInterval
		if hc.Interval > 0 {
			c.Health.Interval = time.Duration(hc.Interval)
		}
	}
	if c.Image == "" {
		c.Image = clean(r.Image, maxString)
	}
	c.State = podmanState(c.State)
	if c.State != StateRunning && c.State != StatePaused && c.State != StateRestarting {
		c.Pid = 0
	}
	if h := r.State.Health; h != nil && h.Status != "" {
		c.Health.Status = clean(h.Status, maxString)
		c.Health.FailingStreak = h.FailingStreak
		if n := len(h.Log); n > 0 {
			c.Health.LastExitCode = h.Log[n-1].ExitCode
			c.Health.LastOutput = clean(h.Log[n-1].Output, MaxHealthOutput)
		}
	}
	c.Ports = decodePorts(r.HostConfig.PortBindings, r.NetworkSettings.Ports, c.State == StateRunning)
	return c, nil
}

// parseTime parses the engines' RFC 3339 times; Go's zero time
// ("0001-01-01T00:00:00Z", never started or never finished) and anything
// unparsable are the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// maxPorts bounds the published ports kept per container: a range
// "-p 1000-2000:1000-2000" is 1001 bindings per family.
const maxPorts = 4096

// decodePorts merges what the container asked for (HostConfig.PortBindings)
// with what the engine bound while it runs (NetworkSettings.Ports): docker
// picks a HostPort left "" at each start and says so only in the latter.
// An empty HostIp binds both families (docker then lists 0.0.0.0 and ::
// with the same port): that is HostIP ""; an explicit 0.0.0.0 stays.
func decodePorts(bindings, bound map[string][]hostPort, running bool) []PortBinding {
	var out []PortBinding
	fixed := map[PortBinding]bool{} // Proto, ContainerPort, HostPort
	for key, hps := range bindings {
		proto, cport, ok := parsePortKey(key)
		if !ok {
			continue
		}
		for _, hp := range hps {
			p := PortBinding{Proto: proto, HostIP: clean(hp.HostIP, maxString), ContainerPort: cport}
			if n, err := strconv.Atoi(hp.HostPort); err == nil && n > 0 && n < 65536 {
				p.HostPort = n
				fixed[PortBinding{Proto: proto, ContainerPort: cport, HostPort: n}] = true
			} else if running {
				continue // the engine picked it: NetworkSettings has it
			}
			out = append(out, p)
		}
	}
	if running {
		out = append(out, boundPorts(bound, fixed)...)
	}
	if len(out) > maxPorts {
		out = out[:maxPorts]
	}
	slices.SortFunc(out, comparePorts)
	return slices.Compact(out)
}

// boundPorts are the bindings of NetworkSettings.Ports not already in
// fixed, with a port bound on both 0.0.0.0 and :: merged into HostIP "".
func boundPorts(bound map[string][]hostPort, fixed map[PortBinding]bool) []PortBinding {
	var out []PortBinding
	for key, hps := range bound {
		proto, cport, ok := parsePortKey(key)
		if !ok {
			continue
		}
		both := map[int]int{} // host port → bit 1 for 0.0.0.0, 2 for ::
		for _, hp := range hps {
			n, err := strconv.Atoi(hp.HostPort)
			if err != nil || n <= 0 || n > 65535 || fixed[PortBinding{Proto: proto, ContainerPort: cport, HostPort: n}] {
				continue
			}
			switch hp.HostIP {
			case "0.0.0.0":
				both[n] |= 1
			case "::":
				both[n] |= 2
			default:
				out = append(out, PortBinding{Proto: proto, HostIP: clean(hp.HostIP, maxString), HostPort: n, ContainerPort: cport})
			}
		}
		for n, fam := range both {
			ip := map[int]string{1: "0.0.0.0", 2: "::", 3: ""}[fam]
			out = append(out, PortBinding{Proto: proto, HostIP: ip, HostPort: n, ContainerPort: cport})
		}
	}
	return out
}

// parsePortKey parses "27017/tcp" (a key without a protocol is tcp).
func parsePortKey(key string) (proto string, port int, ok bool) {
	p, proto, found := strings.Cut(key, "/")
	if !found {
		proto = "tcp"
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 || n > 65535 {
		return "", 0, false
	}
	return clean(strings.ToLower(proto), 16), n, true
}

func comparePorts(a, b PortBinding) int {
	if c := strings.Compare(a.Proto, b.Proto); c != 0 {
		return c
	}
	if a.ContainerPort != b.ContainerPort {
		return a.ContainerPort - b.ContainerPort
	}
	if a.HostPort != b.HostPort {
		return a.HostPort - b.HostPort
	}
	return strings.Compare(a.HostIP, b.HostIP)
}

// Event is one container event of an engine's stream.
type Event struct {
	// Action is the event, normalised across engines: "health_status"
	// for docker's "health_status: unhealthy", "die" for podman's
	// "died", "destroy" for its "remove".
	Action string
	ID     string
	Name   string
	// ExitCode is a die event's (docker's exitCode attribute, podman's
	// containerExitCode); HasExitCode says it was there.
	ExitCode    int
	HasExitCode bool
	// Health is the status a docker health_status event names
	// ("health_status: unhealthy"); "" when it names none.
	Health string
	// TimeNano is when the engine saw it, in ns since the epoch.
	TimeNano int64
}

type eventJSON struct {
	Type   string
	Action string
	Actor  struct {
		ID string
		// The attributes read, not a map of them all: an event of an
		// image with labels carries them all (22 allocations an event
		// with the map).
		Attributes struct {
			Name              string `json:"name"`
			ExitCode          string `json:"exitCode"`
			ContainerExitCode string `json:"containerExitCode"`
		}
	}
	Time     int64 `json:"time"`
	TimeNano int64 `json:"timeNano"`
}

// eventAction maps the engines' actions the watcher acts on to one name;
// ok is false for the others.
func eventAction(action string) (string, bool) {
	switch action {
	case "create", "start", "restart", "die", "oom", "health_status", "destroy", "pause", "unpause", "rename", "stop":
		return action, true
	case "died": // podman's libpod name
		return "die", true
	case "remove": // podman's
		return "destroy", true
	}
	return "", false
}

// decodeEvent decodes one line of GET /events. ok is false for an event
// the watcher does not act on (another type, exec_* of health probes).
func decodeEvent(line []byte) (ev Event, ok bool, err error) {
	var r eventJSON
	if err := json.Unmarshal(line, &r); err != nil {
		return Event{}, false, fmt.Errorf("decoding an event: %w", err)
	}
	if r.Type != "" && r.Type != "container" {
		return Event{}, false, nil
	}
	action, status, _ := strings.Cut(r.Action, ":")
	action, ok = eventAction(strings.TrimSpace(action))
	if !ok || r.Actor.ID == "" {
		return Event{}, false, nil
	}
	ev = Event{
		Action:   action,
		ID:       clean(r.Actor.ID, maxString),
		Name:     clean(r.Actor.Attributes.Name, maxString),
		TimeNano: r.TimeNano,
	}
	switch status = strings.TrimSpace(status); status {
	case HealthStarting, HealthHealthy, HealthUnhealthy:
		ev.Health = status
	}
	if ev.TimeNano == 0 {
		ev.TimeNano = r.Time * int64(time.Second)
	}
	for _, v := range []string{r.Actor.Attributes.ExitCode, r.Actor.Attributes.ContainerExitCode} {
		if n, err := strconv.Atoi(v); err == nil {
			ev.ExitCode, ev.HasExitCode = n, true
			break
		}
	}
	return ev, true, nil
}

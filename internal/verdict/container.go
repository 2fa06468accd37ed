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

package verdict

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
)

// Container is what a check's container engine says of its container, and
// the listeners of the container's own network namespace: the collector
// fills it from the engine's cache.
type Container struct {
	Engine string // "docker" or "podman"; "" when no engine has it
	Name   string
	// EngineDown says no engine runs (none found, or its socket refuses):
	// the container does not run either. EngineError says the engine
	// could not be read (permission denied, a timeout): the layer is
	// unknown. Each is a sentence naming the engine and its address.
	EngineDown, EngineError string
	Found                   bool
	ID                      string
	State                   string // the engine's word: running, exited, restarting, ...
	// ExitCode, OOMKilled, Error and FinishedAt are of its last exit.
	ExitCode              int
	OOMKilled             bool
	Error                 string
	StartedAt, FinishedAt time.Time
	RestartCount          int
	// Health is its own health check's status ("none" without one),
	// with the failing streak and the last run's exit code and output.
	Health         string
	HealthStreak   int
	HealthExitCode int
	HealthOutput   string
	// HostNetwork: it shares the host's network namespace (its ports are
	// the check's own, looked up on the host).
	HostNetwork bool
	// SystemdUnit is the unit that runs it (Podman's
	// PODMAN_SYSTEMD_UNIT): its listeners are the engine's too.
	SystemdUnit string
	Published   []Published
	// Inside are the listeners of its network namespace: nil when not
	// read (not running, host network, or the read failed: InsideError).
	Inside      *Namespace
	InsideError string
}

// Published is one published port: HostIP:HostPort on the host goes to
// ContainerPort inside.
type Published struct {
	Proto         string
	HostIP        string // "" for every address
	HostPort      int    // 0: picked by the engine at each start, not known while stopped
	ContainerPort int
}

// String words a published port as the engines' port map does:
// "127.0.0.1:27017 → 27017/tcp".
func (p Published) String() string {
	return fmt.Sprintf("%s → %d/%s", hostSide(p), p.ContainerPort, p.Proto)
}

// hostSide is "127.0.0.1:27017", "*:27017", "*:?" (picked at start).
func hostSide(p Published) string {
	addr, port := p.HostIP, "?"
	if addr == "" {
		addr = "*"
	}
	if p.HostPort != 0 {
		port = strconv.Itoa(p.HostPort)
	}
	return net.JoinHostPort(addr, port)
}

// ContainerVerdict is the container layer of a check: its service layer
// (state) and what its published ports and health check add to the others.
type ContainerVerdict struct {
	Name   string `json:"name"`
	Engine string `json:"engine,omitempty"`
	ID     string `json:"id,omitempty"` // the short (12-digit) ID
	Known  bool   `json:"known"`        // the engine was read
	State  string `json:"state,omitempty"`
	Up     bool   `json:"up"` // running
	// EngineError says why the engine could not be read, or that it does
	// not run.
	EngineError  string `json:"engine_error,omitempty"`
	ExitCode     int    `json:"exit_code"`
	OOMKilled    bool   `json:"oom_killed,omitempty"`
	Error        string `json:"error,omitempty"`
	StartedAt    string `json:"started_at,omitempty"`
	FinishedAt   string `json:"finished_at,omitempty"`
	RestartCount int    `json:"restart_count"`
	Health       string `json:"health,omitempty"`
	// HealthFailingStreak and HealthOutput are of its health check's
	// last runs.
	HealthFailingStreak int    `json:"health_failing_streak,omitempty"`
	HealthOutput        string `json:"health_output,omitempty"`
	HostNetwork         bool   `json:"host_network,omitempty"`
	// Published are its published ports ("127.0.0.1:27017 → 27017/tcp").
	Published []string `json:"published,omitempty"`
	// ListensInside is where it listens in its own network namespace.
	ListensInside []string `json:"listens_inside,omitempty"`
	InsideError   string   `json:"inside_error,omitempty"`
}

// maxHealthOutputInReason bounds what a reason quotes of a health check's
// output (the engines keep 4 KiB of it).
const maxHealthOutputInReason = 120

// judgeContainer is the container's service layer.
func judgeContainer(c config.Check, ct *Container) *ContainerVerdict {
	cv := &ContainerVerdict{Name: c.Container, Engine: c.Engine, Known: ct != nil && ct.EngineError == ""}
	if ct == nil {
		return cv
	}
	cv.EngineError = ct.EngineError
	if ct.EngineDown != "" {
		cv.EngineError, cv.State = ct.EngineDown, "not_running_engine"
		return cv
	}
	if !ct.Found {
		if cv.Known {
			cv.State = "not_found"
		}
		return cv
	}
	cv.Engine, cv.ID, cv.State, cv.Up = ct.Engine, shortID(ct.ID), ct.State, ct.State == "running"
	cv.ExitCode, cv.OOMKilled, cv.Error, cv.RestartCount = ct.ExitCode, ct.OOMKilled, ct.Error, ct.RestartCount
	cv.StartedAt, cv.FinishedAt = rfc3339(ct.StartedAt), rfc3339(ct.FinishedAt)
	cv.Health, cv.HealthFailingStreak, cv.HostNetwork = ct.Health, ct.HealthStreak, ct.HostNetwork
	if ct.Health == "unhealthy" {
		cv.HealthOutput = ct.HealthOutput
	}
	for _, p := range ct.Published {
		cv.Published = append(cv.Published, p.String())
	}
	if ct.Inside != nil {
		for _, l := range ct.Inside.Listeners {
			cv.ListensInside = append(cv.ListensInside, l.Proto+" "+netip.AddrPortFrom(l.Addr, l.Port).String())
		}
		slices.Sort(cv.ListensInside)
		cv.ListensInside = slices.Compact(cv.ListensInside)
	}
	cv.InsideError = ct.InsideError
	return cv
}

func shortID(id string) string { return id[:min(len(id), 12)] }

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// describeContainer words the container's state for a reason: full, with
// the times and the restart count; stable (a label), without what changes
// while the failure does not.
func describeContainer(cv *ContainerVerdict, full bool) string {
	if cv == nil {
		return ""
	}
	name := "container " + cv.Name
	switch {
	case cv.State == "not_running_engine":
		return name + " does not run: " + cv.EngineError
	case cv.State == "not_found" && cv.Engine != "":
		return name + " is not in " + cv.Engine
	case cv.State == "not_found":
		return name + " is in no engine found"
	}
	name += " (" + cv.Engine + ")"
	var s string
	switch cv.State {
	case "running":
		return name + " is running"
	case "restarting":
		s = fmt.Sprintf("%s is restarting after exit %d", name, cv.ExitCode)
	case "exited", "dead":
		s = fmt.Sprintf("%s %s %d", name, cv.State, cv.ExitCode)
		if cv.State == "dead" {
			s = fmt.Sprintf("%s is dead (the engine could not stop or remove it), exit %d", name, cv.ExitCode)
		}
	case "created":
		return name + " was created, never started"
	default:
		return name + " is " + cv.State
	}
	if cv.OOMKilled {
		s += ", OOM killed"
	}
	if cv.Error != "" {
		s += " (" + clip(cv.Error, maxReasonDetail) + ")"
	}
	if full && cv.FinishedAt != "" && cv.State != "restarting" {
		s += " at " + cv.FinishedAt
	}
	if full && cv.RestartCount > 0 {
		s += fmt.Sprintf("; restarted %d times", cv.RestartCount)
	}
	return s
}

// healthFailure words a failing health check (unhealthy, of a running
// container): "" when it is not failing.
func healthFailure(ct *Container, cv *ContainerVerdict, full bool) string {
	if ct == nil || !cv.Up || ct.Health != "unhealthy" {
		return ""
	}
	s := fmt.Sprintf("the health check of container %s (%s) fails", cv.Name, cv.Engine)
	if !full {
		return s + fmt.Sprintf(" (exit %d)", ct.HealthExitCode)
	}
	s += fmt.Sprintf(" (%d in a row, exit %d)", ct.HealthStreak, ct.HealthExitCode)
	if ct.HealthOutput != "" {
		s += ": " + clip(ct.HealthOutput, maxHealthOutputInReason)
	}
	return s
}

// judgePublished is the port layer of a container's published ports:
// each checked on the host (the engine's proxy or port reservation) and
// inside the container's own namespace. While the container does not run
// none is expected (BetweenRuns: no series), but a listener on one is
// someone else's: the container cannot start while it is held.
func judgePublished(c config.Check, ct *Container, cv *ContainerVerdict, host *Namespace, strangers map[uint64]Stranger, f *portFindings) {
	if ct == nil || !ct.Found {
		return
	}
	for _, p := range ct.Published {
		pv := PortVerdict{Proto: p.Proto, Address: p.HostIP, Port: p.HostPort, Known: host != nil, Owned: OwnerUnknown,
			BetweenRuns: !cv.Up, ContainerPort: p.ContainerPort, Source: ct.Engine + ": published → " + strconv.Itoa(p.ContainerPort)}
		if p.HostPort == 0 || host == nil {
			f.verdicts = append(f.verdicts, pv)
			continue
		}
		onHost := config.Check{Name: c.Name, Ports: []config.Port{{Proto: p.Proto, Address: p.HostIP, Port: p.HostPort}}}
		pv.Seen = seenListeners(onHost, host.Listeners, host.index, host.Owners, strangers, noTriggers)[0]
		pv.ListeningOnHost = len(pv.Seen) > 0 // (joinPorts matches alike: a check without a unit owns none)
		inside, loopbackOnly := listensInside(ct.Inside, p)
		pv.ListeningInside = inside
		pv.Listening = pv.ListeningOnHost && inside
		for i, s := range pv.Seen {
			if s.Owner == "" && s.UID != nil {
				// Named even where its cgroup says nothing (no
				// systemd): who holds a port the container needs.
				pv.Seen[i].Owner = strangerName(s, true)
			}
		}
		switch {
		case !cv.Up && pv.ListeningOnHost && !slices.ContainsFunc(pv.Seen, func(s SeenListener) bool { return enginesOwn(s, ct) }) && f.foreign == "":
			pv.Owned = OwnedByOther
			f.foreign, f.foreignSeen = fmt.Sprintf("%s %s (%s publishes it for container %s)", p.Proto, hostSide(p), ct.Engine, ct.Name), pv.Seen
		case !cv.Up || f.down != "":
		case !pv.ListeningOnHost:
			f.down = fmt.Sprintf("%s %s on the host (%s publishes it → %d in container %s)", p.Proto, hostSide(p), ct.Engine, p.ContainerPort, ct.Name)
		case ct.Inside != nil && !inside:
			f.down = fmt.Sprintf("%s %d inside container %s (%s publishes %s)", p.Proto, p.ContainerPort, ct.Name, ct.Engine, p)
			if loopbackOnly {
				f.down += "; it listens there on loopback only, which the published port cannot reach"
			}
		}
		f.verdicts = append(f.verdicts, pv)
	}
}

func noTriggers(string) []string { return nil }

// listensInside says whether ns holds a listener on p's container port
// that the published port reaches (not on loopback: the engine forwards
// to the container's address), and whether it holds only loopback ones.
// A namespace not read (nil) is not judged: true.
func listensInside(ns *Namespace, p Published) (listening, loopbackOnly bool) {
	if ns == nil {
		return true, false
	}
	for _, l := range ns.Listeners {
		if l.Proto != p.Proto || int(l.Port) != p.ContainerPort {
			continue
		}
		if !l.Addr.IsLoopback() {
			return true, false
		}
		loopbackOnly = true
	}
	return false, loopbackOnly
}

// The processes and units of the engines that hold a published port on the
// host: docker-proxy (in docker.service's cgroup under systemd), dockerd
// itself when its userland proxy is off (userland-proxy false: the port is
// NAT-ed, and dockerd binds and listens on it to reserve it; seen holding
// it through a crash loop's restarts in 150 of 1,890 evaluations, 40 s,
// docker 20.10.24, all foreign_listener before it was named here), podman's
// conmon (a port reservation; in podman.service's cgroup when started
// through the API, in libpod-conmon-ID.scope, or in the container's own
// unit), rootless podman's rootlessport.
var (
	engineProcesses = []string{"docker-proxy", "dockerd", "conmon", "rootlessport", "rootlessport-child"}
	engineUnits     = []string{"docker.service", "podman.service"}
)

// enginesOwn says s is the engine's own listener for a container's port:
// it binds the port before the container runs (docker-proxy at each
// restart of a crash loop) and after it stops, for a moment; a squatter is
// anyone else.
func enginesOwn(s SeenListener, ct *Container) bool {
	switch {
	case slices.Contains(engineProcesses, s.Process), slices.Contains(engineUnits, s.Owner):
		return true
	case ct.SystemdUnit != "" && s.Owner == ct.SystemdUnit:
		return true
	}
	return strings.HasPrefix(s.Owner, "libpod-conmon-") && strings.HasSuffix(s.Owner, ".scope")
}

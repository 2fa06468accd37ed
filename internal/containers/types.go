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

// Package containers is the container layer: what the container engines
// (Docker, and Podman through its Docker-compatible API) say of their
// containers, read over the engines' unix sockets with plain net/http and
// kept in a cache fed by each engine's event stream (with a resync), so a
// scrape makes no API call.
package containers

import (
	"cmp"
	"slices"
	"time"
)

// The engines.
const (
	Docker = "docker"
	Podman = "podman"
)

// The states a container can be in (State.Status of the engines' inspect),
// and NotFound for a container no engine knows.
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StatePaused     = "paused"
	StateRestarting = "restarting"
	StateRemoving   = "removing"
	StateExited     = "exited"
	StateDead       = "dead"
	StateNotFound   = "not_found"
)

// States are the states of warden_container_state's series.
var States = []string{StateCreated, StateRunning, StatePaused, StateRestarting, StateRemoving, StateExited, StateDead, StateNotFound}

// The health statuses (State.Health.Status); HealthNone for a container
// without a health check.
const (
	HealthNone      = "none"
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// HealthStatuses are the series of warden_container_health.
var HealthStatuses = []string{HealthNone, HealthStarting, HealthHealthy, HealthUnhealthy}

// PortBinding is one published port: HostIP:HostPort on the host is
// forwarded to ContainerPort inside the container.
type PortBinding struct {
	Proto  string // "tcp" or "udp"
	HostIP string // "" for every address (the engine's 0.0.0.0 and ::)
	// HostPort is 0 when the engine picks it at each start and the
	// container is not running (nothing is known of it then).
	HostPort      int
	ContainerPort int
}

// Health is a container's own health check, as the engine last ran it.
type Health struct {
	Status        string // one of HealthStatuses
	FailingStreak int
	// LastExitCode and LastOutput are the last run's (the output valid
	// UTF-8, clipped to MaxHealthOutput bytes).
	LastExitCode int
	LastOutput   string
	// Interval is how often the engine runs the check (0: no check).
	Interval time.Duration
}

// defaultHealthInterval is Docker's and Podman's when a check sets none.
const defaultHealthInterval = 30 * time.Second

// MaxHealthOutput bounds a health check's output kept per container: the
// engines keep 4 KiB per run (docker) and five runs.
const MaxHealthOutput = 512

// Container is one container as its engine last described it. Every string
// is valid UTF-8 (made so where it is read).
type Container struct {
	Engine string
	ID     string
	Name   string // without the engine's leading "/"
	Image  string
	State  string // one of States
	Pid    int    // the main process's, on the host; 0 when not running
	// ExitCode, OOMKilled, Error and FinishedAt are of its last exit.
	ExitCode   int
	OOMKilled  bool
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	// RestartCount is how many times the engine restarted it by its
	// restart policy since it was last started by hand.
	RestartCount  int
	RestartPolicy string
	Health        Health
	// NetworkMode is "host" for a container that shares the host's
	// network namespace (its listeners are the host's).
	NetworkMode string
	Ports       []PortBinding
	// SystemdUnit is the unit that runs it, where the engine says
	// (podman's PODMAN_SYSTEMD_UNIT label).
	SystemdUnit string
}

// Running says the container's processes run (running or paused states
// have a process; only running serves).
func (c Container) Running() bool { return c.State == StateRunning }

// Engine is what is known of one engine's endpoint.
type Engine struct {
	Name    string // Docker or Podman
	Address string // "unix:///var/run/docker.sock"
	// Present: its socket exists (or the address is not a unix socket).
	// An engine that is not present is not an error unless a check
	// names it.
	Present bool
	// Err is why the engine could not be read, nil when it was; wording
	// it is the engine's job ("cannot read the Docker API: permission
	// denied (see ...)").
	Err        error
	APIVersion string
	// Synced is when the cache last matched the engine (a full list, or
	// the event stream since); zero before the first sync.
	Synced time.Time
	// Dropped is how many of its containers are not kept: beyond the
	// watcher's MaxContainers.
	Dropped int
	// SameAs names the engine this endpoint reaches too (podman behind
	// docker.sock, the podman-docker package): its containers are read
	// and listed there only, and this endpoint is not Present.
	SameAs string
}

// Counts are what the event stream counted of one container since the
// exporter started: monotonic, for increase().
type Counts struct {
	Starts   uint64
	Restarts uint64 // by the restart policy (RestartCount's increases)
	OOMKills uint64
	// Unhealthy counts the health check's turns to unhealthy.
	Unhealthy uint64
	// Exits by class: ExitSuccess (0), ExitFailure (1-128), ExitKilled
	// (above 128: a signal, 137 the OOM killer's or docker kill's).
	Exits [3]uint64
}

// The exit classes, Counts.Exits' indexes.
const (
	ExitSuccess = iota
	ExitFailure
	ExitKilled
)

// ExitClasses are the exit classes' label values, by index.
var ExitClasses = [3]string{"success", "failure", "killed"}

// ExitClass is the class of exit code code.
func ExitClass(code int) int {
	switch {
	case code == 0:
		return ExitSuccess
	case code > 128:
		return ExitKilled
	default:
		return ExitFailure
	}
}

// Key names a container across engines.
type Key struct{ Engine, Name string }

// Snapshot is one view of every engine and its containers. It is never
// changed once made: readers share it.
type Snapshot struct {
	Engines    []Engine
	Containers []Container // sorted by engine, then name
	Counts     map[Key]Counts
}

// Find returns the container named name, in engine (any engine when "",
// the first in Engines' order).
func (s *Snapshot) Find(engine, name string) (Container, bool) {
	if s == nil {
		return Container{}, false
	}
	for _, e := range s.Engines {
		if engine != "" && e.Name != engine {
			continue
		}
		// Containers are sorted: a check's lookup is not a walk of them
		// all (every check, every evaluation).
		i, found := slices.BinarySearchFunc(s.Containers, Key{e.Name, name}, func(c Container, k Key) int {
			return cmp.Or(cmp.Compare(c.Engine, k.Engine), cmp.Compare(c.Name, k.Name))
		})
		if found {
			return s.Containers[i], true
		}
	}
	return Container{}, false
}

// EngineNamed returns the engine called name ("" for the first present).
func (s *Snapshot) EngineNamed(name string) (Engine, bool) {
	if s == nil {
		return Engine{}, false
	}
	for _, e := range s.Engines {
		if (name == "" && e.Present) || (name != "" && e.Name == name) {
			return e, true
		}
	}
	return Engine{}, false
}

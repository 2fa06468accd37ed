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

package collector

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/go-kit/log/level"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/containers"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// ContainerSource is the container layer: the engines' containers as their
// event streams left them, no API call per evaluation (*containers.Watcher
// outside tests).
type ContainerSource interface {
	Snapshot() *containers.Snapshot
	// Changes signals (coalesced) each change the event stream applied:
	// the watch judges then, so a container that dies between scrapes is
	// counted.
	Changes() <-chan struct{}
}

const layerContainers = "containers"

// engineErrors is the container layer's failure when some engine could
// not be read: the reading of the others is kept (their checks are
// judged), and the checks of a failing engine say why.
type engineErrors struct{ err error }

func (e *engineErrors) Error() string { return e.err.Error() }
func (e *engineErrors) Unwrap() error { return e.err }

// readContainers is the container layer's reading: the cache's view, and
// the errors of the engines that are there but cannot be read.
func (e *Exporter) readContainers() (*containers.Snapshot, error) {
	snap := e.containers.Snapshot()
	if snap == nil {
		return nil, errors.New("the container source returned nothing")
	}
	var errs []error
	for _, en := range snap.Engines {
		if en.Present && en.Err != nil && !engineDown(en) {
			errs = append(errs, en.Err)
		}
	}
	if len(errs) > 0 {
		return snap, &engineErrors{errors.Join(errs...)}
	}
	return snap, nil
}

// engineDown says an engine does not run: no socket, or nothing accepts
// on it (the daemon stopped). Its containers do not run either; any other
// failure (permission denied, a timeout) says nothing of them.
func engineDown(en containers.Engine) bool {
	return !en.Present || errors.Is(en.Err, syscall.ECONNREFUSED) || errors.Is(en.Err, syscall.ENOENT)
}

// judgedContainer is what the judge is given of check c's container, from
// snap; nil when the layer was not read.
func judgedContainer(c config.Check, snap *containers.Snapshot, inside map[containers.Key]containerNamespace) *verdict.Container {
	if snap == nil {
		return nil
	}
	out := &verdict.Container{Name: c.Container}
	var down, failing []string
	candidates := 0 // the engines it may be in
	for _, en := range snap.Engines {
		if c.Engine != "" && en.Name != c.Engine && en.SameAs != c.Engine {
			continue
		}
		candidates++
		if en.SameAs != "" {
			// docker.sock is podman's (podman-docker): read there.
			if same, ok := snap.EngineNamed(en.SameAs); ok {
				en = same
			}
		}
		switch {
		case engineDown(en):
			down = append(down, fmt.Sprintf("%s at %s", en.Name, en.Address))
			continue
		case en.Err != nil:
			failing = append(failing, en.Err.Error())
			continue
		}
		ct, ok := snap.Find(en.Name, c.Container)
		if !ok {
			continue
		}
		fillContainer(out, ct)
		if ns, ok := inside[containers.Key{Engine: ct.Engine, Name: ct.Name}]; ok {
			out.Inside, out.InsideError = ns.ns, ns.err
		}
		return out
	}
	switch {
	case len(failing) > 0:
		out.EngineError = strings.Join(failing, "; ")
	case len(down) > 0 && len(down) == candidates:
		out.EngineDown = "no engine answers (" + strings.Join(down, ", ") + ")"
	}
	out.Engine = c.Engine
	return out
}

func fillContainer(out *verdict.Container, ct containers.Container) {
	out.Engine, out.Found, out.ID, out.State = ct.Engine, true, ct.ID, ct.State
	out.ExitCode, out.OOMKilled, out.Error = ct.ExitCode, ct.OOMKilled, ct.Error
	out.StartedAt, out.FinishedAt, out.RestartCount = ct.StartedAt, ct.FinishedAt, ct.RestartCount
	out.Health, out.HealthStreak = ct.Health.Status, ct.Health.FailingStreak
	out.HealthExitCode, out.HealthOutput = ct.Health.LastExitCode, ct.Health.LastOutput
	out.HostNetwork, out.SystemdUnit = ct.NetworkMode == "host", ct.SystemdUnit
	for _, p := range ct.Ports {
		out.Published = append(out.Published, verdict.Published{Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort})
	}
}

// namesContainer says check c names container ct (by name, in its engine
// when it names one).
func namesContainer(c config.Check, ct containers.Container) bool {
	return c.Container != "" && ct.Name == c.Container && (c.Engine == "" || ct.Engine == c.Engine)
}

// containerNamespace is the listeners of a container's own network
// namespace, or why they could not be read.
type containerNamespace struct {
	ns  *verdict.Namespace
	err string
}

// readContainerNamespaces reads the listeners inside the running
// containers the checks name that publish ports (their own network
// namespace, entered through the main process's PID as netns: unit does).
func (e *Exporter) readContainerNamespaces(ctx context.Context, o *observation) {
	if e.listeners == nil || o.containers == nil {
		return
	}
	for _, c := range o.checks {
		if c.Container == "" {
			continue
		}
		for _, ct := range o.containers.Containers {
			key := containers.Key{Engine: ct.Engine, Name: ct.Name}
			if !namesContainer(c, ct) || !ct.Running() ||
				ct.Pid <= 0 || ct.NetworkMode == "host" || len(ct.Ports) == 0 {
				continue
			}
			if _, done := o.containerNamespaces[key]; done {
				continue
			}
			if o.containerNamespaces == nil {
				o.containerNamespaces = map[containers.Key]containerNamespace{}
			}
			ls, _, err := e.listeners.InNetnsOf(ctx, ct.Pid)
			if err != nil {
				level.Debug(e.logger).Log("msg", "cannot read the listeners inside a container", "check", c.Name, "container", ct.Name, "err", err)
				o.containerNamespaces[key] = containerNamespace{err: err.Error()}
				continue
			}
			o.containerNamespaces[key] = containerNamespace{ns: judgedNamespace(ls, nil)}
		}
	}
}

// publishedPorts are the host ports the containers publish (running, the
// port known), by proto and port: discovery does not learn them as the
// engine's (docker-proxy runs in docker.service), the container's implicit
// check has them.
func publishedPorts(snap *containers.Snapshot) map[listenerKey]bool {
	if snap == nil {
		return nil
	}
	out := map[listenerKey]bool{}
	for _, ct := range snap.Containers {
		for _, p := range ct.Ports {
			if p.HostPort > 0 {
				out[listenerKey{p.Proto, uint16(p.HostPort)}] = true
			}
		}
	}
	return out
}

// unpublished drops from learned checks the ports containers publish.
func unpublished(learned []config.Check, published map[listenerKey]bool) []config.Check {
	if len(published) == 0 {
		return learned
	}
	isPublished := func(p config.Port) bool { return published[listenerKey{p.Proto, uint16(p.Port)}] }
	out := make([]config.Check, len(learned))
	for i, c := range learned {
		out[i] = c
		if slices.ContainsFunc(c.Ports, isPublished) {
			out[i].Ports = slices.DeleteFunc(slices.Clone(c.Ports), isPublished)
		}
	}
	return out
}

type listenerKey struct {
	proto string
	port  uint16
}

// withoutPublished drops the listeners on published ports, and those of
// the units that run containers, with their owners (owners[i] holds
// ls[i]).
func withoutPublished(ls []listeners.Listener, owners []owner.Owner, published map[listenerKey]bool, units map[string]bool) ([]listeners.Listener, []owner.Owner) {
	if len(published) == 0 && len(units) == 0 {
		return ls, owners
	}
	outL := make([]listeners.Listener, 0, len(ls))
	outO := make([]owner.Owner, 0, len(owners))
	for i, l := range ls {
		if published[listenerKey{l.Proto, l.Port}] || i < len(owners) && units[owners[i].Unit] {
			continue
		}
		outL = append(outL, l)
		if i < len(owners) {
			outO = append(outO, owners[i])
		}
	}
	return outL, outO
}

// maxImplicitContainerChecks bounds the checks discovery makes of
// containers (the watcher holds at most 1,024 containers).
const maxImplicitContainerChecks = 256

// containerChecks are discovery's checks of the containers that publish
// ports and that no configured check names: "docker/mongo". A stopped
// container keeps its check (the engine still lists it): its outage is
// what the check is for; a removed one loses it.
func containerChecks(cfg *config.Config, snap *containers.Snapshot) []config.Check {
	if snap == nil || !cfg.Discovery.Enabled {
		return nil
	}
	named := map[containers.Key]bool{}
	for _, c := range cfg.Checks {
		if c.Container != "" {
			named[containers.Key{Engine: c.Engine, Name: c.Container}] = true
		}
	}
	var out []config.Check
	for _, ct := range snap.Containers {
		if len(ct.Ports) == 0 || named[containers.Key{Name: ct.Name}] || named[containers.Key{Engine: ct.Engine, Name: ct.Name}] {
			continue
		}
		if len(out) == maxImplicitContainerChecks {
			break
		}
		out = append(out, config.Check{Name: ct.Engine + "/" + ct.Name, Container: ct.Name, Engine: ct.Engine})
	}
	return out
}

// emitContainer emits a container check's series: its state and health
// (one series each 1), and what the event stream counted of it, from 0
// (increase() needs the first sample).
func (e *Exporter) emitContainer(emit seriesSink, v verdict.Verdict, snap *containers.Snapshot, engine string) {
	d := e.descs
	check, name := v.Check, v.Container.Name
	cv := v.Container
	if cv.Known {
		state := cv.State
		if state == "" || state == "not_running_engine" {
			state = containers.StateNotFound
		}
		stateSet(emit, d.containerState, state, containers.States, check, name)
		health := cv.Health
		if health == "" {
			health = containers.HealthNone
		}
		stateSet(emit, d.containerHealth, health, containers.HealthStatuses, check, name)
	}
	var n containers.Counts
	if snap != nil {
		for _, en := range snap.Engines {
			if engine != "" && en.Name != engine {
				continue
			}
			// By key, not a walk of every container's counts per check.
			if c, ok := snap.Counts[containers.Key{Engine: en.Name, Name: name}]; ok {
				n.Starts += c.Starts
				n.Restarts += c.Restarts
				n.OOMKills += c.OOMKills
				n.Unhealthy += c.Unhealthy
				for i := range n.Exits {
					n.Exits[i] += c.Exits[i]
				}
			}
		}
	}
	emit.counter(d.containerRestarts, float64(n.Restarts), check, name)
	emit.counter(d.containerOOMKills, float64(n.OOMKills), check, name)
	emit.counter(d.containerUnhealthy, float64(n.Unhealthy), check, name)
	for i, class := range containers.ExitClasses {
		emit.counter(d.containerExits, float64(n.Exits[i]), check, name, class)
	}
}

// emitEngines emits each engine's warden_container_engine_up: the engines
// whose socket is there, and those a check names.
func (e *Exporter) emitEngines(emit seriesSink, snap *containers.Snapshot, checks []config.Check) {
	named := map[string]bool{}
	for _, c := range checks {
		if c.Container != "" {
			named[c.Engine] = true
		}
	}
	for _, en := range snap.Engines {
		if en.Present || named[en.Name] || named[""] {
			emit.gauge(e.descs.containerEngineUp, bool01(en.Present && en.Err == nil), en.Name)
		}
	}
}

// maxContainerUnits bounds the units remembered as running containers.
const maxContainerUnits = 1024

// containerUnits are the units seen running a container (Podman's
// PODMAN_SYSTEMD_UNIT: container-NAME.service of podman generate systemd
// --new). Their listeners are their containers' published ports (conmon's
// reservations), never learned as the unit's: remembered across the
// container's recreation at each start (--rm --replace), when for a
// moment the new container is not read yet and its port would be the
// unit's (the booted-host test saw one learned).
type containerUnits struct {
	mu    sync.Mutex
	units map[string]bool
}

// of adds snap's containers' units and returns them all.
func (u *containerUnits) of(snap *containers.Snapshot) map[string]bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if snap != nil {
		for _, c := range snap.Containers {
			if c.SystemdUnit != "" && len(u.units) < maxContainerUnits {
				if u.units == nil {
					u.units = map[string]bool{}
				}
				u.units[c.SystemdUnit] = true
			}
		}
	}
	return maps.Clone(u.units)
}

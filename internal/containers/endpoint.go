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
	"fmt"
	"net/url"
	"strings"
)

// The engines' default addresses and the environment variables their own
// clients read (docker, podman --remote).
const (
	DefaultDockerHost = "unix:///var/run/docker.sock"
	DefaultPodmanHost = "unix:///run/podman/podman.sock"
	DockerHostEnv     = "DOCKER_HOST"
	PodmanHostEnv     = "CONTAINER_HOST"
)

// Endpoint is where one engine's API is read.
type Endpoint struct {
	Engine  string // Docker or Podman
	Address string // unix:///path or tcp://host:port (plain HTTP)
}

// Resolve returns the endpoints of both engines: each the flag's value
// when not "", else the engine's environment variable, else its default
// socket. Only unix:// and tcp:// (plain HTTP, e.g. a loopback socat) are
// read; anything else is an error naming where the address came from.
func Resolve(dockerHost, podmanHost string, getenv func(string) string) ([]Endpoint, error) {
	var eps []Endpoint
	for _, e := range []struct{ engine, flag, env, def string }{
		{Docker, dockerHost, DockerHostEnv, DefaultDockerHost},
		{Podman, podmanHost, PodmanHostEnv, DefaultPodmanHost},
	} {
		addr, from := e.flag, "--containers."+e.engine+"-host"
		if addr == "" {
			addr, from = getenv(e.env), "$"+e.env
		}
		if addr == "" {
			addr, from = e.def, "the default"
		}
		if _, _, err := splitAddress(addr); err != nil {
			return nil, fmt.Errorf("the %s address %q (from %s): %w", e.engine, addr, from, err)
		}
		eps = append(eps, Endpoint{Engine: e.engine, Address: addr})
	}
	return eps, nil
}

// splitAddress returns the network ("unix" or "tcp") and the dial address
// (a socket path or host:port) of an endpoint's address.
func splitAddress(addr string) (network, dial string, err error) {
	u, err := url.Parse(addr)
	if err != nil {
		return "", "", fmt.Errorf("not a URL: %w", err)
	}
	switch u.Scheme {
	case "unix":
		// unix:///path parses to Path; unix://relative would be a Host.
		p := u.Host + u.Path
		if !strings.HasPrefix(p, "/") {
			return "", "", fmt.Errorf("unix socket path %q is not absolute", p)
		}
		return "unix", p, nil
	case "tcp":
		if u.Host == "" || u.Port() == "" {
			return "", "", fmt.Errorf("tcp address needs host:port")
		}
		if u.Path != "" && u.Path != "/" {
			return "", "", fmt.Errorf("tcp address has a path %q", u.Path)
		}
		return "tcp", u.Host, nil
	default:
		return "", "", fmt.Errorf("scheme %q is not unix:// or tcp://", u.Scheme)
	}
}

// title is the engine's name as its users write it ("Docker").
func title(engine string) string {
	switch engine {
	case Docker:
		return "Docker"
	case Podman:
		return "Podman"
	}
	return engine
}

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

package systemd

import "strings"

// containerIDLen is the length of a full container ID: 64 hex digits (a
// SHA-256), the name podman gives a container's health-check units.
const containerIDLen = 64

// IsContainerHealthCheckUnit reports whether name is one of the transient
// units podman runs a container's health check with: exactly
// ^[0-9a-f]{64}\.(service|timer)$, the container's full ID. Podman (4.3.1
// here) creates <id>.timer (OnUnitInactiveSec= the check's interval) and
// <id>.service (ExecStart=podman healthcheck run <id>) for every container
// with a health check; while the container is unhealthy that service sits
// in failed (Result exit-code) between runs, so a host's failed-unit list
// would flap with every run, and each run's state changes would cost the
// cache a read of the unit (8-10 calls). The container layer judges the container's
// health itself (probe_failed), so the watched units, the failed units
// and discovery skip these; a check that names one by name still reads
// it. A shorter or longer name, or one in upper case, is not podman's.
func IsContainerHealthCheckUnit(name string) bool {
	id, ok := strings.CutSuffix(name, ".service")
	if !ok {
		id, ok = strings.CutSuffix(name, ".timer")
	}
	if !ok || len(id) != containerIDLen {
		return false
	}
	for i := range len(id) {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

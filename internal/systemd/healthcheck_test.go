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

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/go-kit/log"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
)

// hcID is a container's full ID, as podman names its health-check units.
const hcID = "3f1c2b9a8e7d6c5b4a3928170615243342516070819a0b1c2d3e4f5a6b7c8d9e"

func TestIsContainerHealthCheckUnit(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{hcID + ".service", true},
		{hcID + ".timer", true},
		{hcID[1:] + ".service", false}, // 63 hex digits
		{hcID + "0.service", false},    // 65
		{strings.ToUpper(hcID) + ".service", false},
		{hcID[:63] + "g.service", false}, // not hex
		{hcID + ".socket", false},        // podman makes no other kind
		{hcID + ".scope", false},
		{"libpod-" + hcID + ".scope", false}, // the container's own scope
		{hcID, false},
		{".service", false},
		{"web.service", false},
	} {
		if got := IsContainerHealthCheckUnit(tc.name); got != tc.want {
			t.Errorf("IsContainerHealthCheckUnit(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The predicate is the facts' expression, without a regexp per unit name.
func FuzzIsContainerHealthCheckUnit(f *testing.F) {
	re := regexp.MustCompile(`^[0-9a-f]{64}\.(service|timer)$`)
	for _, name := range []string{hcID + ".service", hcID + ".timer", hcID[1:] + ".service", strings.ToUpper(hcID) + ".timer", "web.service", hcID + ".service\n"} {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := IsContainerHealthCheckUnit(name), re.MatchString(name); got != want {
			t.Errorf("IsContainerHealthCheckUnit(%q) = %v, the expression says %v", name, got, want)
		}
	})
}

// A listing that shows podman's health-check units, failed, leaves them
// out of the cache whatever --systemd.unit-include says: they are neither
// listed nor counted among the failed units, even past the list's bound,
// while a failed unit of any other name is. A check that names one reads
// it, and sees it failed.
func TestCacheSkipsContainerHealthChecks(t *testing.T) {
	failed := func(name string) sdbus.UnitStatus {
		return sdbus.UnitStatus{Name: name, LoadState: "loaded", ActiveState: "failed", SubState: "failed"}
	}
	listed := []sdbus.UnitStatus{
		failed("boot.service"), failed(hcID[1:] + ".service"), failed(strings.ToUpper(hcID) + ".service"),
		{Name: hcID + ".timer", LoadState: "loaded", ActiveState: "active", SubState: "waiting"},
	}
	// More health checks failing than the failed list holds: none is
	// counted in its "more" either.
	for i := range FailedListed + 1 {
		listed = append(listed, failed(fmt.Sprintf("%063x%x.service", i, i%16)))
	}
	hc := listed[len(listed)-1].Name
	if !IsContainerHealthCheckUnit(hc) {
		t.Fatalf("%s: the test's health-check names are not podman's", hc)
	}
	client := New(Options{Include: anchored(`.*`)})
	for _, named := range []bool{false, true} {
		cache := newUnitCache(nil, nil, nil, client.watched, nil, time.Second, time.Minute)
		snap := &Snapshot{}
		if named {
			cache.extraNames[hc] = true
			snap.named = map[string]sdbus.UnitStatus{hc: failed(hc)}
		}
		cache.applyListing(fetchResult{listed: listed})
		snap.snap = cache.snap()
		units, more := snap.Failed()
		var names []string
		for _, u := range units {
			names = append(names, u.Name)
		}
		want := []string{strings.ToUpper(hcID) + ".service", "boot.service", hcID[1:] + ".service"}
		if named {
			want = append(want, hc)
			slices.Sort(want)
		}
		if !slices.Equal(names, want) || more != 0 {
			t.Errorf("named %v: failed units %v and %d more, want %v and none", named, names, more, want)
		}
		for _, name := range snap.Names() {
			if IsContainerHealthCheckUnit(name) && !(named && name == hc) {
				t.Errorf("named %v: %s is cached", named, name)
			}
		}
	}
}

// The same with a real manager: a transient unit named as podman names a
// container's health check (a timer that runs the service when it has
// been inactive a while; here it runs once and fails) is not among the
// failed units, beside a failed service of another name; a check that
// names it sees it failed.
func TestFailedUnitsSkipContainerHealthChecks(t *testing.T) {
	m := systemdtest.Start(t)
	c := New(Options{Endpoint: Endpoint{Path: filepath.Join(m.RuntimeDir, "systemd", "private"), Direct: true}, Include: anchored(`.+`), Logger: log.NewNopLogger()})
	t.Cleanup(c.Close)
	hc, short := hcID+".service", hcID[1:]+".service"
	// As podman 4.3.1 does (systemd-run --on-unit-inactive=INTERVAL
	// podman healthcheck run ID), with a first run at once.
	m.Run(t, hcID, "--on-active=0", "--on-unit-inactive=1h", "/bin/false")
	m.Run(t, short, "/bin/false")
	m.Run(t, "boot-fail.service", "/bin/false")
	for _, unit := range []string{hc, short, "boot-fail.service"} {
		systemdtest.WaitFor(t, 10*time.Second, unit+" failed", func() bool { return m.Show(t, unit, "ActiveState") == "failed" })
	}
	failedNames := func(s *Snapshot) []string {
		units, more := s.Failed()
		if more != 0 {
			t.Errorf("%d more failed units", more)
		}
		var names []string
		for _, u := range units {
			names = append(names, u.Name)
		}
		return names
	}
	// Read after systemctl saw them failed: the snapshot is at least as
	// fresh (cache.go), so what it lists is final.
	s := c.mustSnapshot(t, 5*time.Second)
	if got, want := failedNames(s), []string{"boot-fail.service", short}; !slices.Equal(got, want) {
		t.Errorf("failed units %v, want %v", got, want)
	}
	for _, name := range s.Names() {
		if strings.HasPrefix(name, hcID) {
			t.Errorf("%s is cached (state %s)", name, m.Show(t, name, "ActiveState"))
		}
	}
	if got, want := failedNames(c.mustSnapshot(t, 5*time.Second, hc)), []string{hc, "boot-fail.service", short}; !slices.Equal(got, want) {
		t.Errorf("a check naming %s: failed units %v, want %v", hc, got, want)
	}
}

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
	"time"

	"github.com/warden-exporter/warden_exporter/config"
)

// FailedUnits are the host's units in ActiveState failed, beside the
// checks: a unit no check names that failed (at boot, an `exit 1`
// service, one that failed before it ever listened, so discovery never
// learned it) is seen on /checks and the landing page too.
type FailedUnits struct {
	// Known is false when systemd was not read: then nothing is listed.
	Known bool         `json:"known"`
	Units []FailedUnit `json:"units"`
	// More counts the failed units left out past Units.Failed's bound.
	More int `json:"more,omitempty"`
}

// FailedUnit is one failed unit.
type FailedUnit struct {
	Unit string `json:"unit"`
	// Result is systemd's (exit-code, signal, core-dump, timeout, ...),
	// for a service; "" for other units.
	Result string `json:"result,omitempty"`
	// Since is when it failed (RFC 3339), "" if systemd did not say.
	Since string `json:"since,omitempty"`
	// Check names the check whose unit it is, "" for none: a failed
	// check's unit pages as that check, any other is a ticket
	// (WardenUnitFailedOutsideChecks).
	Check string `json:"check,omitempty"`
}

// Failed lists the failed units of units (nil: not read) and the check
// that names each, if any (the configured checks, then the learned ones).
func Failed(units Units, checks []config.Check) FailedUnits {
	if units == nil {
		return FailedUnits{}
	}
	list, more := units.Failed()
	out := FailedUnits{Known: true, Units: make([]FailedUnit, 0, len(list)), More: more}
	for _, u := range list {
		f := FailedUnit{Unit: u.Name, Result: u.Result}
		if !u.Since.IsZero() {
			f.Since = u.Since.UTC().Format(time.RFC3339)
		}
		for _, c := range checks {
			if c.Unit == u.Name {
				f.Check = c.Name
				break
			}
		}
		out.Units = append(out.Units, f)
	}
	return out
}

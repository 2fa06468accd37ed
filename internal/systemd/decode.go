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
	"github.com/godbus/dbus/v5"

	"github.com/warden-exporter/warden_exporter/internal/hosttext"
)

func setUnitProps(u *Unit, changed map[string]dbus.Variant) {
	for k, v := range changed {
		switch k {
		case "LoadState":
			u.LoadState = propWord(v)
		case "ActiveState":
			u.ActiveState = propWord(v)
		case "SubState":
			u.SubState = propWord(v)
		case "ActiveEnterTimestamp":
			u.ActiveEnterTimestamp, _ = v.Value().(uint64)
		case "Triggers":
			triggers, _ := v.Value().([]string)
			u.Triggers = hosttext.CleanAll(triggers, maxUnitName)
		case "TriggeredBy":
			by, _ := v.Value().([]string)
			u.TriggeredBy = hosttext.CleanAll(by, maxUnitName)
		}
	}
}

func setTypeProps(u *Unit, changed map[string]dbus.Variant) {
	for k, v := range changed {
		switch k {
		case "Result":
			u.Result = propWord(v)
		case "Type":
			u.Type = propWord(v)
		case "NRestarts":
			u.NRestarts, u.HasRestarts = v.Value().(uint32)
		case "MainPID":
			u.MainPID, _ = v.Value().(uint32)
		case "ControlGroup":
			u.ControlGroup, _ = v.Value().(string)
		case "Listen":
			if pairs, ok := v.Value().([][]any); ok {
				u.Listen = nil // a new slice: the old one is the snapshots'

				for _, p := range pairs {
					if len(p) == 2 {
						t, _ := p[0].(string)
						a, _ := p[1].(string)
						u.Listen = append(u.Listen, ListenSpec{Type: hosttext.Clean(t, maxWord), Address: hosttext.Clean(a, maxListenAddress)})
					}
				}
			}
		}
	}
}

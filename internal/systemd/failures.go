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

// Failures are counted from the manager's signals alone, in the order it
// sent them, never from a fetch or a listing: those are read at another
// instant (a fetch's reply can be applied before signals sent ahead of it),
// and a state or Result they carry may be one the signals reach later.
//
// What systemd 252 sends, seen under a user manager for a service killed
// by SIGKILL 0.1 s after each start (Restart=always, RestartSec=100ms),
// each line one PropertiesChanged, the Service interface's before the
// Unit's of the same flush:
//
//	Service Result=success             Unit active/running
//	Service Result=signal              Unit failed/failed
//	Service Result=signal              Unit activating/auto-restart
//	Service Result=signal NRestarts+1  Unit activating/auto-restart
//	Service Result=success             Unit inactive/dead
//	Service Result=success             Unit active/running
//
// Every state is signalled: each unit type's set_state() flushes the
// unit's pending PropertiesChanged before it switches state, "so that
// clients can follow the full state transition" (systemd's
// bus_unit_send_pending_change_signal); the Result a failure is named by
// is the one the Service signal carried just before. The Unit interface's
// signal alone carries no Result, and reading it afterwards races the
// restart, which resets it to success: over a bus, where only the Unit
// interface was matched, 0 of 5 such crashes were counted and 1 of 5
// failed starts.
//
// Not NRestarts: it also moves for a restart after a clean exit
// (Restart=always) and for the restart systemd refuses at the start
// limit, so it cannot say which restarts followed a failure; the signals
// name each one.
//
// One failure per run that ended badly: a failed start (activating ->
// failed) or a crash (running -> failed, or straight to auto-restart on
// other versions), by the Result systemd gives. systemd 252 goes failed
// then auto-restart for one failure; and when it refuses a restart at the
// start limit it goes auto-restart -> inactive -> failed keeping the last
// Result (exit-code): nothing ran, so nothing more is counted (redis with
// port 99999 and the default limit, 5 starts in 10 s: 5 failed starts,
// counted 6 before), and the unit is marked as given up instead. A Result
// of start-limit-hit (a start refused outright) is systemd's own word for
// a failure and counts.

// FailureResults are the series of warden_unit_failures_total every unit
// with counters has from the start, at 0 until it fails so (increase()
// sees the first failure): systemd 252's ServiceResult values other than
// success and skip-condition. A Result outside them (a newer systemd's, a
// socket's) gets a series of its own when it occurs.
var FailureResults = []string{"exit-code", "signal", "core-dump", "timeout", "watchdog", "oom-kill", "start-limit-hit", "resources", "protocol"}

// failureTrack follows a unit through its signals.
type failureTrack struct {
	// active and sub are the state the last Unit signal gave ("" before
	// any signal, listing or fetch told).
	active, sub string
	// result is the Result the last Service (or Socket) signal carried.
	result string
	// ran: the unit was starting, up or stopping since it last failed or
	// stopped, so a failure now is a run that ended badly.
	ran bool
	// restarting: it entered auto-restart since it last ran; failed
	// without a run in between is systemd giving up on the restart.
	restarting bool
}

// runs reports whether a unit in this state is starting, up or stopping:
// a process of it runs or is about to.
func runs(active, sub string) bool {
	switch active {
	case "active", "reloading", "deactivating":
		return true
	case "activating":
		// auto-restart (and a newer systemd's auto-restart-queued) waits
		// for the restart timer: nothing runs.
		return !strings.HasPrefix(sub, "auto-restart")
	}
	return false
}

// baseline takes the first state known of the unit (a listing, a fetch,
// or its first signal): a state the unit was in before we watched counts
// nothing.
func (f *failureTrack) baseline(active, sub string) {
	if f.active != "" || active == "" {
		return
	}
	f.active, f.sub, f.ran = active, sub, runs(active, sub)
	f.restarting = strings.HasPrefix(sub, "auto-restart")
}

// step follows one Unit signal to (active, sub): it returns the Result of
// the failure the unit just had ("" for none) and whether systemd has
// given up restarting it (while it stays failed).
func (f *failureTrack) step(active, sub string, gaveUp bool) (string, bool) {
	if f.active == "" {
		f.baseline(active, sub)
		return "", gaveUp && active == "failed"
	}
	prevActive, prevSub := f.active, f.sub
	f.active, f.sub = active, sub
	if active != "failed" {
		gaveUp = false
	}
	if active == prevActive && sub == prevSub {
		return "", gaveUp
	}
	if runs(active, sub) {
		f.ran, f.restarting = true, false
		return "", gaveUp
	}
	enteredFailed := active == "failed" && prevActive != "failed"
	enteredRestart := strings.HasPrefix(sub, "auto-restart") && !strings.HasPrefix(prevSub, "auto-restart") && prevActive != "failed"
	failure := ""
	if enteredFailed || enteredRestart {
		if r := f.result; r != "" && r != "success" && r != "skip-condition" && (f.ran || r == "start-limit-hit") {
			failure = r
		}
		if enteredFailed && !f.ran && f.restarting {
			gaveUp = true
		}
	}
	if strings.HasPrefix(sub, "auto-restart") {
		f.restarting = true
	}
	f.ran = false
	return failure, gaveUp
}

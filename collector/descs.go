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

import "github.com/prometheus/client_golang/prometheus"

// descs are every series the exporter emits, in one place: the layers'
// own (units, listeners, probes), the verdicts', and the collectors'
// health.
type descs struct {
	// Collectors' health.
	success, duration, seriesErrors *prometheus.Desc

	// The service layer.
	unitState, loadState, fileState, restarts, activeEnter *prometheus.Desc
	unitStateChanges, unitFailures                         *prometheus.Desc

	// The port layer.
	listenersSource, listenerInfo, listenerDropped *prometheus.Desc

	// The answer layer.
	probeSuccess, probeFailure, probeDuration, probeConnect, probeCertExpiry *prometheus.Desc
	probeLastRun, probeFailures, probesCutShort                              *prometheus.Desc

	// The verdicts.
	checkUp, checkStatus, checkReason, dependency         *prometheus.Desc
	serviceUp, portListening, portOwned, servicePortUp    *prometheus.Desc
	checkStatusChanges, checkDownSeconds, checkLastChange *prometheus.Desc
	checkLearned                                          *prometheus.Desc

	// The daemons' own configurations.
	daemonConfigSuccess, daemonConfigNotApplied *prometheus.Desc

	// The container layer.
	containerState, containerHealth, containerEngineUp                       *prometheus.Desc
	containerRestarts, containerOOMKills, containerUnhealthy, containerExits *prometheus.Desc

	// meta is what the exposition says of each family (familyBuilder).
	meta map[*prometheus.Desc]*descMeta
}

func newDescs() *descs {
	probe := []string{"check", "target"}
	port := []string{"check", "proto", "address", "port"}
	r := &descRecorder{}
	d := &descs{
		success: r.NewDesc("warden_collector_success",
			"1 if the collector read its source successfully in this scrape, 0 if it failed or ran out of time.",
			[]string{"collector"}, nil),
		duration: r.NewDesc("warden_collector_duration_seconds",
			"Time the collector spent reading its source in this scrape.",
			[]string{"collector"}, nil),
		seriesErrors: r.NewDesc("warden_series_errors_total",
			"Series left out of a scrape because they could not be built (a bug: a label value that is not valid UTF-8, a label missing), since the exporter started: the rest of the scrape is served. The units no check names count once per change of the unit cache, the rest once per evaluation.",
			nil, nil),

		unitState: r.NewDesc("warden_unit_state",
			"The unit's ActiveState: exactly one series per unit is 1.", []string{"unit", "state"}, nil),
		loadState: r.NewDesc("warden_unit_load_state",
			"The LoadState of a unit a check names: exactly one series per unit is 1.", []string{"unit", "state"}, nil),
		fileState: r.NewDesc("warden_unit_file_state",
			"The UnitFileState of a check's unit (configured or discovered) (enabled, disabled, static, masked, ...): whether it starts at boot. Always 1.", []string{"unit", "state"}, nil),
		restarts: r.NewDesc("warden_unit_restarts_total",
			"Times systemd restarted the service automatically (NRestarts).", []string{"unit"}, nil),
		activeEnter: r.NewDesc("warden_unit_active_enter_timestamp_seconds",
			"When the unit last entered the active state, as a Unix time; 0 if never.", []string{"unit"}, nil),

		unitStateChanges: r.NewDesc("warden_unit_state_changes_total",
			"Times the unit entered each ActiveState since the exporter started watching it, counted from systemd's signals: manual restarts and crashes Restart= undoes between scrapes included.",
			[]string{"unit", "state"}, nil),
		unitFailures: r.NewDesc("warden_unit_failures_total",
			"Runs of the unit that ended badly (failed starts and crashes) since the exporter started watching it, by systemd's Result, counted from its signals; 0 for each Result it has not failed with yet.",
			[]string{"unit", "result"}, nil),

		listenersSource: r.NewDesc("warden_listeners_source_info",
			"Which kernel interface the listener source reads (netlink sock_diag, or /proc/net when netlink is unavailable), and why it fell back.",
			[]string{"source", "fallback_reason"}, nil),
		listenerInfo: r.NewDesc("warden_listener_info",
			"Every listening TCP socket and bound UDP socket, with the unit holding it (\"\" if unknown).",
			[]string{"proto", "address", "port", "unit"}, nil),
		listenerDropped: r.NewDesc("warden_listener_series_dropped_total",
			"Listener inventory series left out because of --listeners.max-series.",
			nil, nil),

		probeSuccess: r.NewDesc("warden_probe_success",
			"1 if the last dial (and TLS handshake, and send/expect steps) of the target succeeded.", probe, nil),
		probeFailure: r.NewDesc("warden_probe_failure",
			"Why the probe failed: exactly one reason is 1 on failure, all are 0 on success.", append(probe, "reason"), nil),
		probeDuration: r.NewDesc("warden_probe_duration_seconds",
			"How long the whole probe took.", probe, nil),
		probeConnect: r.NewDesc("warden_probe_connect_duration_seconds",
			"How long the TCP connect took (the last one, with several addresses).", probe, nil),
		probeCertExpiry: r.NewDesc("warden_probe_tls_cert_expiry_timestamp_seconds",
			"The earliest NotAfter of the certificates the TLS server presented, as a Unix time.", probe, nil),

		probeLastRun: r.NewDesc("warden_probe_last_run_timestamp_seconds",
			"When the probe's last run ended, as a Unix time: a probe with an interval runs in the background and the scrape reads its last result.", probe, nil),
		probeFailures: r.NewDesc("warden_probe_failures_total",
			"Failed runs of the probe since the exporter started, by reason: the background runs between scrapes included.", append(probe, "reason"), nil),
		probesCutShort: r.NewDesc("warden_probe_runs_cut_short_total",
			"Probe runs a request's deadline ended before the probe's own timeout (a scrape timeout shorter than the probe's): neither failures nor results.", nil, nil),

		checkStatusChanges: r.NewDesc("warden_check_status_changes_total",
			"Times the check entered each status since the exporter started, from every evaluation: the scrapes' and the watch's between them.",
			[]string{"check", "status"}, nil),
		checkDownSeconds: r.NewDesc("warden_check_down_seconds_total",
			"Seconds the check spent not ok since the exporter started, to the resolution of the watch's interval (or the scrapes' without a watch).",
			[]string{"check"}, nil),
		checkLastChange: r.NewDesc("warden_check_last_change_timestamp_seconds",
			"When the check last changed status (or was first judged), as a Unix time.",
			[]string{"check"}, nil),

		checkLearned: r.NewDesc("warden_check_learned",
			"1 if discovery learned the check, 0 if the configuration names it: a learned unit is not a promise to start at boot.", []string{"check"}, nil),
		checkUp: r.NewDesc("warden_check_up",
			"1 if every layer of the check is healthy (status ok).", []string{"check"}, nil),
		checkStatus: r.NewDesc("warden_check_status",
			"The check's verdict: exactly one status is 1 (ok, service_down, port_down, service_and_port_down, foreign_listener, probe_failed, unknown).",
			[]string{"check", "status"}, nil),
		checkReason: r.NewDesc("warden_check_reason_info",
			"Why a check is not ok, in one line that changes only when the diagnosis does: the unit's state and systemd's result, who holds a port (by name), where the unit listens now, how the probe failed and what it expected; at most 256 bytes. /checks and the landing page give the full reason (since when, PIDs, the probe's error). Only while the check is not ok; always 1.",
			[]string{"check", "status", "reason"}, nil),
		dependency: r.NewDesc("warden_check_dependency_info",
			"The check depends on depends_on (depends_on in the config): alerts use it to silence dependents while it is down.",
			[]string{"check", "depends_on"}, nil),
		serviceUp: r.NewDesc("warden_service_up",
			"1 if the check's unit is active or reloading (a oneshot that exited successfully with RemainAfterExit=yes is active).", []string{"check", "unit"}, nil),
		portListening: r.NewDesc("warden_port_listening",
			"1 if a listening socket matches the check's expected port, 0 if none does.", port, nil),
		portOwned: r.NewDesc("warden_port_owned",
			"1 if the expected port is held by the check's unit (or the socket unit that activates it), 0 if by something else; absent when nothing listens or the owner cannot be determined.",
			port, nil),
		daemonConfigSuccess: r.NewDesc("warden_daemon_config_success",
			"1 if the check's daemon's own configuration was read and parsed (its expected ports come from it), 0 if not (they are learned; /checks says why). Only for checks whose unit runs a daemon the exporter knows.",
			[]string{"check", "daemon"}, nil),
		daemonConfigNotApplied: r.NewDesc("warden_daemon_config_not_applied",
			"1 if the check's daemon's configuration files changed after its unit last (re)started or reloaded and say something else than what it read: the next restart applies them (/checks shows the ports configured and the ports bound side by side).",
			[]string{"check", "daemon"}, nil),
		containerState: r.NewDesc("warden_container_state",
			"The state of a check's container as its engine says (not_found: no engine has it): exactly one series per check is 1.",
			[]string{"check", "container", "state"}, nil),
		containerHealth: r.NewDesc("warden_container_health",
			"The status of a check's container's own health check (none: it has none): exactly one series per check is 1.",
			[]string{"check", "container", "status"}, nil),
		containerEngineUp: r.NewDesc("warden_container_engine_up",
			"1 if the container engine's API was read through its event stream; 0 when it does not run or cannot be read (permission denied: see the log and /checks).",
			[]string{"engine"}, nil),
		containerRestarts: r.NewDesc("warden_container_restarts_total",
			"Restarts of a check's container by its restart policy, counted from the engine's events since the exporter started.",
			[]string{"check", "container"}, nil),
		containerOOMKills: r.NewDesc("warden_container_oom_kills_total",
			"OOM kills of a check's container (the engine's oom event, or OOMKilled on its exit), since the exporter started.",
			[]string{"check", "container"}, nil),
		containerUnhealthy: r.NewDesc("warden_container_unhealthy_total",
			"Turns of a check's container's health check to unhealthy, since the exporter started.",
			[]string{"check", "container"}, nil),
		containerExits: r.NewDesc("warden_container_exits_total",
			"Exits of a check's container by class of exit code: success (0), failure (1-128), killed (above 128: a signal; 137 the OOM killer's or a kill), since the exporter started.",
			[]string{"check", "container", "class"}, nil),
		servicePortUp: r.NewDesc("warden_service_port_up",
			"service_up x port_listening for each expected port of a check with a unit.",
			[]string{"check", "unit", "proto", "address", "port"}, nil),
	}
	d.meta = r.meta
	return d
}

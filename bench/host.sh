#!/usr/bin/env bash
# The packaged exporter on a booted Debian host (this machine's own, as a
# throwaway systemd system container, pure cgroup v2), over dbus-daemon's
# system bus: start to the first good scrape at ~250 units, scrapes failed
# through daemon-reloads at ~250 and WARDEN_BENCH_UNITS (default 2000)
# units, and node_exporter's systemd collector against it at
# WARDEN_BENCH_UNITS units (WARDEN_BENCH_SCRAPES, default 20, each). Needs
# root (the container; apt for node_exporter).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v prometheus-node-exporter >/dev/null; then
	[ "$(id -u)" -eq 0 ] || { echo "needs prometheus-node-exporter (apt-get install prometheus-node-exporter)" >&2; exit 1; }
	../scripts/apt-install.sh prometheus-node-exporter
fi
exec go test -tags bench -count=1 -timeout 30m -run '^TestHostSystemBus$' -v . 2>&1 | grep -v '^=== RUN'

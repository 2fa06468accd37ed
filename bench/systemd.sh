#!/usr/bin/env bash
# Side by side, against one real systemd user manager with WARDEN_BENCH_UNITS
# units (default 2000): warden_exporter's systemd source, node_exporter's
# systemd collector (restarts + start-time metrics on), and the same series
# encoded from memory. Prints the medians, the ratios and systemd's own CPU
# per scrape. Needs root (a private manager in its own namespace, as the
# tests run it).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v prometheus-node-exporter >/dev/null; then
	[ "$(id -u)" -eq 0 ] || { echo "needs prometheus-node-exporter (apt-get install prometheus-node-exporter)" >&2; exit 1; }
	../scripts/apt-install.sh prometheus-node-exporter
fi
exec go test -tags bench -count=1 -timeout 30m -run TestSystemdVsNodeExporter -v . 2>&1 | grep -v '^=== RUN'

#!/usr/bin/env bash
# 100 loopback targets: the probe source against 100 bare dials, a scrape
# with 10 probes timing out at 1s, and the whole exporter against Debian's
# blackbox_exporter 0.23 probing the same targets (one /probe each).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v prometheus-blackbox-exporter >/dev/null; then
	[ "$(id -u)" -eq 0 ] || { echo "needs prometheus-blackbox-exporter (apt-get install prometheus-blackbox-exporter)" >&2; exit 1; }
	../scripts/apt-install.sh prometheus-blackbox-exporter
fi
exec go test -tags bench -count=1 -timeout 30m -run 'TestProbesVsBareDialsAndBlackbox|TestIntervalProbesAgainstAHangingTarget' -v . 2>&1 | grep -v '^=== RUN'

#!/usr/bin/env bash
# Every side-by-side benchmark, then one table of the results and the
# machine they ran on. Needs root (test systemd managers, fd limits, apt for
# node_exporter and blackbox_exporter, a dockerd of its own for containers.sh).
set -euo pipefail
cd "$(dirname "$0")"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for b in systemd scrape listeners probes load watch host daemonconf containers; do
	echo "=== bench/$b.sh"
	"./$b.sh" | tee -a "$log"
done
echo
echo "=== Summary ($(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Linux $(uname -r), $(go version | cut -d' ' -f3))"
{
	echo "measure|warden_exporter|peer / floor|ratio|target"
	grep '^SUMMARY|' "$log" | cut -d'|' -f2-
} | column -t -s '|'

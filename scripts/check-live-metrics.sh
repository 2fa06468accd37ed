#!/usr/bin/env bash
# Starts the built exporter on its embedded default, on a free loopback
# port, and lints its live /metrics with promtool.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x ./warden_exporter ] || make --no-print-directory build
log=$(mktemp)
./warden_exporter --web.listen-address=127.0.0.1:0 "$@" 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log"' EXIT

addr=""
for _ in $(seq 100); do # at most 10 s
	addr=$(sed -n 's/.*msg="Listening on" address=\([^ ]*\).*/\1/p' "$log" | head -1)
	[ -n "$addr" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "exporter exited" >&2; exit 1; }
	sleep 0.1
done
[ -n "$addr" ] || { cat "$log"; echo "exporter did not listen within 10s" >&2; exit 1; }

body=$(curl -fsS --max-time 30 "http://$addr/metrics")
promtool check metrics <<<"$body"
echo "promtool check metrics: OK ($(grep -vc '^#' <<<"$body") samples from http://$addr/metrics)"

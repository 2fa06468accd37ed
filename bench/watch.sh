#!/usr/bin/env bash
# The watch's cost (--watch.interval=1s against 0, side by side, 100 checks
# and 300 units under a real systemd manager): CPU on an idle host over
# WARDEN_WATCH_IDLE (60s), scrape latency, and goroutines/fds/RSS over
# WARDEN_WATCH_SOAK (10m). Needs root (the test systemd manager).
set -euo pipefail
cd "$(dirname "$0")"
exec go test -tags bench -count=1 -timeout 30m -run '^TestWatchCost$' -v . 2>&1 | grep -v '^=== RUN'

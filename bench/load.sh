#!/usr/bin/env bash
# 50 concurrent clients scrape an exporter with 100 checks (real units under
# a real systemd manager, real listeners, 10 probes of which 2 time out) for
# WARDEN_LOAD_DURATION (default 60s): p50/p99 latency, errors (only the 503s
# beyond --web.max-requests are expected), peak RSS, CPU per scrape. Needs
# root (the test systemd manager).
set -euo pipefail
cd "$(dirname "$0")"
exec go test -tags bench -count=1 -timeout 30m -run '^TestLoad$' -v . 2>&1 | grep -v '^=== RUN'

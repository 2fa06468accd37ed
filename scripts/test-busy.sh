#!/usr/bin/env bash
# Runs the tests of the HTTP server (the root package) and of the systemd
# layer (internal/systemd, and collector's integration tests against a real
# manager) once more while two busy loops compete for the machine's two
# cores: a test that holds only on an idle machine fails here, in CI,
# rather than on the next machine. (A fresh machine found two: the
# slow-reader test's socket buffers, the daemon-reexec scrapes at load 4.)
# Only the loops this script starts are killed, by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

pids=()
stop_loops() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop_loops EXIT
for _ in 1 2; do
	bash -c 'while :; do :; done' &
	pids+=("$!")
done
echo "test-busy: busy loops ${pids[*]} on $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

go test -race -count=1 ${WARDEN_BUSY_RUN:+-run "$WARDEN_BUSY_RUN"} . ./internal/systemd/ ./collector/
echo "test-busy: passed with the busy loops; load $(cut -d' ' -f1-3 /proc/loadavg)"

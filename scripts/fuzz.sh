#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZTIME, default 15s each).
# A crasher is written by go test to <package>/testdata/fuzz/<target>/;
# commit it: from then on it runs as a regression test in every go test.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-15s}
targets=(
	"./config FuzzParse"
	"./internal/listeners FuzzParseDiagMessages"
	"./internal/listeners FuzzProcNet"
	"./internal/probe FuzzExchange"
	"./internal/probe FuzzStartTLSSMTP"
)
# The daemons' configuration parsers: nine more targets, each for
# FUZZTIME_DAEMONCONF (default FUZZTIME), so CI can give them less each.
for name in FuzzNginx FuzzApache FuzzHAProxy FuzzRedis FuzzPostgreSQL FuzzMariaDB FuzzOpenSSH FuzzMongoDB FuzzMemcached; do
	targets+=("./internal/daemonconf $name ${FUZZTIME_DAEMONCONF:-$fuzztime}")
done
for t in "${targets[@]}"; do
	read -r pkg name time <<<"$t"
	time=${time:-$fuzztime}
	echo "--- fuzzing $name in $pkg for $time"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" "$pkg"
done

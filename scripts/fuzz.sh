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
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "--- fuzzing $name in $pkg for $fuzztime"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done

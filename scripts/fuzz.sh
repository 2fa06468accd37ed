#!/usr/bin/env bash
# Runs every fuzz target on a bounded budget of executions (below).
# A crasher is written by go test to <package>/testdata/fuzz/<target>/;
# commit it: from then on it runs as a regression test in every go test.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-}
# Every target runs on a budget of executions, not of seconds: Go 1.26's
# coordinator can fail a duration-based run with a bare "context deadline
# exceeded" when the deadline fires while a worker is busy
# (go.dev/issue/75804, fixed in 1.27) — FuzzParse did at 15 s under a
# loaded CI machine (load 10), no input written. FUZZTIME, when set to a
# count ("5000x"), replaces every budget. The budgets took 2-16 s each at
# load 6 on 2 cores; FuzzExchange's probes dial, ~14 execs/s.
if [[ "${FUZZTIME:-}" != *x ]]; then
	fuzztime=""
fi
targets=(
	"./config FuzzParse 10000x"
	"./internal/listeners FuzzParseDiagMessages 100000x"
	"./internal/listeners FuzzProcNet 5000x"
	"./internal/probe FuzzExchange 200x"
	"./internal/probe FuzzStartTLSSMTP 1000x"
)
# The daemons' configuration parsers: a budget of executions each, not of
# seconds (FUZZTIME_DAEMONCONF overrides them all). Go 1.26's coordinator
# can fail a target with a bare "context deadline exceeded" when a
# duration's deadline fires while a worker is busy (go.dev/issue/75804,
# fixed in 1.27): FuzzApache did on a loaded CI machine, no input written.
# The counts take 2-12 s each on an idle CI machine (measured: half of
# each took 1-6 s); PostgreSQL's and OpenSSH's seeds are whole trees,
# slower to run.
for t in "FuzzNginx 25000x" "FuzzApache 25000x" "FuzzHAProxy 20000x" "FuzzRedis 16000x" "FuzzPostgreSQL 4000x" \
	"FuzzMariaDB 30000x" "FuzzOpenSSH 2000x" "FuzzMongoDB 8000x" "FuzzMemcached 10000x"; do
	read -r name budget <<<"$t"
	targets+=("./internal/daemonconf $name ${FUZZTIME_DAEMONCONF:-${fuzztime:-$budget}}")
done
# The container engines' decoders (issue 24), budgets of executions for the
# same reason: 20,000 each took 2-5 s here under a CI run's load.
for name in FuzzDecodeInspect FuzzDecodeList FuzzDecodeEvent; do
	targets+=("./internal/containers $name ${FUZZTIME_CONTAINERS:-${fuzztime:-20000x}}")
done
targets+=("./internal/systemd FuzzIsContainerHealthCheckUnit ${FUZZTIME_CONTAINERS:-${fuzztime:-20000x}}")
for t in "${targets[@]}"; do
	read -r pkg name time <<<"$t"
	time=${fuzztime:-$time}
	echo "--- fuzzing $name in $pkg for $time"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" "$pkg"
done

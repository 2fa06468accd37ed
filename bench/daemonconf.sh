#!/usr/bin/env bash
# The daemons' configuration layer per evaluation at 20 daemons (issue 23:
# under 50 µs), beside its floor: the same 20 files read and parsed at
# every scrape, as a reader without the inotify watch would. Go benchmarks,
# one run of each, so the ratio is of one machine at one moment.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(go test -run '^$' -bench '^BenchmarkDaemonConfigs(ParsedEachScrape)?$' -benchtime 20000x -count 1 ./collector/)
echo "$out" | grep -E '^Benchmark'
kept=$(echo "$out" | awk '$1 ~ /^BenchmarkDaemonConfigs-/ { print $3 }')
parsed=$(echo "$out" | awk '$1 ~ /^BenchmarkDaemonConfigsParsedEachScrape-/ { print $3 }')
awk -v k="$kept" -v p="$parsed" 'BEGIN {
	printf "SUMMARY|daemon configs: 20 daemons, per evaluation|%.1f µs|parsed each scrape %.1f µs|%.1fx less|< 50 µs\n", k/1000, p/1000, p/k
}'

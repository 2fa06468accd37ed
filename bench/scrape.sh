#!/usr/bin/env bash
# A whole scrape of the exporter (2,000 units under a real systemd user
# manager, no config file) against the same bytes served pre-compressed by
# a bare Go handler, gzip asked as Prometheus does, interleaved, 40 of
# each: --systemd.unit-series=compact (the default) and full. Needs root
# (the test systemd manager).
set -euo pipefail
cd "$(dirname "$0")"
exec go test -tags bench -count=1 -timeout 30m -run '^TestScrapeVsStaticFloor$' -v . 2>&1 | grep -v '^=== RUN'

#!/usr/bin/env bash
# The container layer against a real dockerd (issue 24): the cost per
# scrape at 50 running containers beside a polling exporter's list and 50
# inspects (target <= 0.1x), and the watcher's CPU while 50 containers
# restart once a second (target < 1 % of a core). Needs root and Debian's
# docker.io (dockerd, runc): the bench starts a dockerd of its own and
# removes it and every container afterwards. Skips (no SUMMARY line)
# without them.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ] || [ ! -x /usr/sbin/dockerd ] || [ ! -x /usr/sbin/runc ]; then
	echo "containers: skipped: needs root and /usr/sbin/dockerd, /usr/sbin/runc (apt-get install docker.io runc)"
	exit 0
fi
exec go test -tags bench -count=1 -timeout 30m -run '^(TestContainerLayerCost|TestContainerEventsReplayed)$' -v . 2>&1 | grep -v '^=== RUN'

#!/usr/bin/env bash
# Side by side at 0, 10k and 50k established loopback connections: the
# listener source, the raw sock_diag dump floor, mdlayher/netlink, and
# procfs NetTCP+NetTCP6. Needs root (raising the fd limit for 100k sockets).
set -euo pipefail
cd "$(dirname "$0")"
exec go test -tags bench -count=1 -timeout 30m -run TestListenersVsProcfs -v . 2>&1 | grep -v '^=== RUN'

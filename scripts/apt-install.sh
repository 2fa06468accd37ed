#!/usr/bin/env bash
# apt-install.sh PACKAGE...: installs Debian packages without starting the
# daemons they ship (prometheus would take :9090, nginx :80): service starts
# are refused for the duration, and whatever policy the machine had is put
# back. Needs root.
set -euo pipefail
[ "$#" -gt 0 ] || exit 0
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then saved=$(mktemp); cp -p "$policy" "$saved"; fi
restore() { if [ -n "$saved" ]; then mv "$saved" "$policy"; else rm -f "$policy"; fi; }
trap restore EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 755 "$policy"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@" >/dev/null

#!/bin/sh
# warden-exporter: before the files go.
#   deb: prerm remove | upgrade NEW-VERSION | deconfigure ... | failed-upgrade ...
#   rpm: %preun N (N = versions left: 0 on erase, 1 or more on upgrade)
# Stops and disables the service when the package is removed; on upgrade it
# keeps running and the new package's postinst/%post restarts it.
set -e

unit=warden_exporter.service

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl stop "$unit" || true
fi
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable "$unit" >/dev/null 2>&1 || true
fi
# deb only: the config files stay until purge; installing again is then a
# "configure OLD-VERSION", which the flag turns back into a first install.
if [ "$1" = remove ]; then
	mkdir -p /var/lib/warden_exporter
	: >/var/lib/warden_exporter/.package-removed
fi
exit 0

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
# The flag lives in a directory of root's own: this script runs as root, and
# a file it writes in the service user's state directory could be a symlink
# that user planted there (to /etc/shadow, say), which the write truncates.
if [ "$1" = remove ]; then
	flag_dir=/var/lib/warden-exporter-package
	if [ -L "$flag_dir" ] || ! mkdir -p -m 0755 "$flag_dir"; then
		echo "warden-exporter: cannot make $flag_dir, a reinstall will not start the service" >&2
	else
		: >"$flag_dir/removed"
	fi
fi
exit 0

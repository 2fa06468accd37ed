#!/bin/sh
# warden-exporter: after the files are gone.
#   deb: postrm remove | purge | upgrade NEW-VERSION | abort-install ... | disappear ...
#   rpm: %postun N (N = versions left: 0 on erase, 1 or more on upgrade)
# Forgets the unit on removal; on purge (deb) also deletes what discovery
# learned. The static user stays (files it owned may remain, and a later
# install must get the same ids); rpm has no purge, so its state stays too.
set -e

case "$1" in
remove | purge | 0)
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
	fi
	;;
esac
if [ "$1" = purge ]; then
	rm -rf /var/lib/warden_exporter /var/lib/warden-exporter-package
fi
exit 0

#!/bin/sh
# warden-exporter: after the files are in place.
#   deb: postinst configure [OLD-VERSION] | abort-upgrade | abort-remove ...
#   rpm: %post N (N = installed versions: 1 on install, 2 or more on upgrade)
# Creates the static user, enables and starts the service on install,
# restarts it on upgrade if it was running. Never fails for lack of a
# running systemd (a chroot, an image build, a container).
set -e

unit=warden_exporter.service
user=warden_exporter
config=/etc/warden_exporter/config.yml
# Left by the deb prerm on remove (not purge), so that installing again
# enables and starts the service again like a first install. In a directory
# only root writes: never in the service user's /var/lib/warden_exporter.
flag_dir=/var/lib/warden-exporter-package
removed_flag=$flag_dir/removed

case "$1" in
configure)
	format=deb
	if [ -z "$2" ] || [ -e "$removed_flag" ]; then action=install; else action=upgrade; fi
	;;
abort-upgrade | abort-remove | abort-deconfigure)
	format=deb action=upgrade ;;
[0-9]*)
	format=rpm
	if [ "$1" -le 1 ]; then action=install; else action=upgrade; fi
	;;
*)
	exit 0 ;;
esac
rm -f "$removed_flag"
rmdir "$flag_dir" 2>/dev/null || true

# The static system user (never DynamicUser=: dbus-daemon rejects dynamic
# users on the system bus). systemd-sysusers reads the file the package
# installs; without it, the distribution's tools make the same user.
if ! getent passwd "$user" >/dev/null; then
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers /usr/lib/sysusers.d/warden_exporter.conf
	elif [ "$format" = deb ] && command -v adduser >/dev/null 2>&1; then
		adduser --system --group --no-create-home --home /nonexistent \
			--gecos "warden_exporter Prometheus exporter" --quiet "$user"
	else
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin --comment "warden_exporter Prometheus exporter" "$user"
	fi
fi

# The config may hold TLS keys and passwords: readable by the service's
# group, not by everyone. The package ships it root:root 0640, as the group
# does not exist when the files are unpacked; it gets the group here, once
# the user exists. Only a file as shipped: an administrator's own owner or
# mode (or an edited file the upgrade kept) stays. /etc/warden_exporter is
# root's, so nothing was planted there.
if [ -f "$config" ] && [ ! -L "$config" ] && [ "$(stat -c %U:%G:%a "$config")" = root:root:640 ]; then
	chgrp "$user" "$config"
fi

systemd_running() { [ -d /run/systemd/system ]; }

# Debian's policy-rc.d (image builds, containers) may forbid starting
# services; deb-systemd-invoke honours it the same way (101 = do not).
may_start() {
	[ "$format" = deb ] && [ -x /usr/sbin/policy-rc.d ] || return 0
	rc=0
	/usr/sbin/policy-rc.d "$unit" "$1" >/dev/null 2>&1 || rc=$?
	if [ "$rc" -eq 101 ]; then
		echo "warden-exporter: policy-rc.d forbids '$1', not running it" >&2
		return 1
	fi
	return 0
}

if systemd_running; then
	systemctl daemon-reload || true
fi

case "$action" in
install)
	# Enabling only writes symlinks: it works without a running systemd too.
	if command -v systemctl >/dev/null 2>&1; then
		systemctl enable "$unit" >/dev/null 2>&1 ||
			echo "warden-exporter: could not enable $unit" >&2
	fi
	if systemd_running && may_start start; then
		systemctl start "$unit" ||
			echo "warden-exporter: $unit did not start: see 'systemctl status $unit'" >&2
	fi
	;;
upgrade)
	# Only if it was running: an operator's stop or disable stays.
	if systemd_running && may_start restart; then
		systemctl try-restart "$unit" ||
			echo "warden-exporter: $unit did not restart: see 'systemctl status $unit'" >&2
	fi
	;;
esac
exit 0

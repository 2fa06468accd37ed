#!/usr/bin/env bash
# sysbox.sh: boots this machine's own Debian as a throwaway systemd *system*
# container, by hand: what internal/sysboxtest does for the tests (read its
# package comment for the why of each step).
#
#   sysbox.sh up BINDIR [systemd args...]  boot; BINDIR is read-only at /opt/warden
#                                          inside ("-" for none); the args go to the
#                                          container's systemd (systemd.mask=UNIT ...)
#   sysbox.sh exec CMD...                  run CMD inside, in all its namespaces
#   sysbox.sh net CMD...                   run a host CMD in its network namespace only
#                                          (e.g. curl -s http://127.0.0.1:9863/metrics)
#   sysbox.sh down                         power off, kill what is left in its cgroups,
#                                          remove them and the state directory
#
# SYSBOX_NAME (default sysbox) names the container: several can run at once.
# SYSBOX_STATE (default ${TMPDIR:-/tmp}/warden-sysbox-$SYSBOX_NAME) is its state
# directory (console.log, the cgroups it made, the pids).
# SYSBOX_V2=1 gives the container a pure cgroup v2 tree, as on a production
# Debian 12 host (default: the host's own layout).
#
# Needs root, systemd-nspawn (apt-get install --no-install-recommends
# systemd-container) and util-linux (unshare, nsenter).
set -euo pipefail
NAME=${SYSBOX_NAME:-sysbox}
ST=${SYSBOX_STATE:-${TMPDIR:-/tmp}/warden-sysbox-$NAME}
# Enabled on the host by the test dependencies: Alertmanager refuses to
# start without a private IP address; the daemons of the daemon
# configuration test (apache2 wants :80 as nginx does) start only where a
# test asks. internal/sysboxtest's DefaultMask, the same list.
DEFAULT_MASK=(systemd.mask=prometheus-alertmanager.service systemd.mask=apache2.service systemd.mask=haproxy.service
	systemd.mask=mariadb.service systemd.mask=memcached.service systemd.mask=ssh.service systemd.mask=ssh.socket)

die() { echo "sysbox: $*" >&2; exit 1; }

# cgmount HIERARCHY: the mount point of a hierarchy named as in
# /proc/self/cgroup ("" for the v2 tree, "cpu,cpuacct", "name=systemd").
cgmount() {
	if [ -z "$1" ]; then findmnt -rn -t cgroup2 -o TARGET | head -1; return; fi
	findmnt -rn -t cgroup -o TARGET,OPTIONS | while read -r target opts; do
		local all=1 c
		for c in ${1//,/ }; do
			case ",$opts," in *",$c,"*) ;; *) all=0 ;; esac
		done
		if [ "$all" = 1 ]; then echo "$target"; break; fi
	done
}

leader() { cat "$ST/leader" 2>/dev/null || die "$NAME is not up (no $ST/leader)"; }

# The container's PID 1: below nspawn (its grandchild for a moment, then its
# child), the last NSpid 1.
find_leader() {
	local np=$1 c g
	for c in $(pgrep -P "$np" || true); do
		for g in "$c" $(pgrep -P "$c" || true); do
			if awk '/^NSpid:/ { exit !(NF > 2 && $NF == 1) }' "/proc/$g/status" 2>/dev/null; then
				echo "$g"; return 0
			fi
		done
	done
	return 1
}

up() {
	[ $# -ge 1 ] || die "usage: $0 up BINDIR [systemd args...]"
	local bindir=$1; shift
	[ "$(id -u)" -eq 0 ] || die "needs root (cgroups, mounts, systemd-nspawn)"
	local nspawn; nspawn=$(command -v systemd-nspawn) ||
		die "systemd-nspawn not found (apt-get install --no-install-recommends systemd-container)"
	[ ! -e "$ST" ] || die "$ST exists: run '$0 down' first (SYSBOX_NAME=$NAME)"
	local bind=()
	if [ "$bindir" != - ]; then
		[ -d "$bindir" ] || die "$bindir is not a directory"
		bindir=$(realpath "$bindir")
		bind=(--bind-ro="${bindir//:/\\:}:/opt/warden")
	fi
	mkdir -m 0700 "$ST" "$ST/ovl" "$ST/root"

	# Cgroups of its own, below ours, in every hierarchy: a manager started
	# at a cgroup root takes the whole machine over. nspawn makes payload/
	# and supervisor/ below them.
	: >"$ST/cgroups"
	local ctrl path mnt dir f
	while IFS=: read -r _ ctrl path; do
		mnt=$(cgmount "$ctrl")
		[ -n "$mnt" ] || continue
		dir="$mnt${path%/}/$NAME-$$"
		mkdir "$dir"
		echo "$dir" >>"$ST/cgroups"
		# A v1 cpuset cgroup refuses tasks until it has CPUs and memory nodes.
		for f in cpuset.cpus cpuset.mems; do
			if [ -e "$dir/$f" ]; then cat "$(dirname "$dir")/$f" >"$dir/$f"; fi
		done
	done </proc/self/cgroup

	# In a private mount namespace: join the cgroups, hide the host's
	# /run/systemd (nspawn keeps locks and directories in /run/systemd/nspawn),
	# mount an overlay of / on a tmpfs as the container's root (every write is
	# thrown away), and become nspawn: no host systemd or machined needed
	# (--keep-unit --register=no), loopback only (--private-network).
	local env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
	if [ "${SYSBOX_V2:-0}" = 1 ]; then env+=(SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1); fi
	env -i "${env[@]}" setsid -f unshare -m --propagation private bash -c '
		set -e
		state=$1 nspawn=$2; shift 2
		while IFS= read -r dir; do echo $$ >"$dir/cgroup.procs"; done <"$state/cgroups"
		echo $$ >"$state/nspawn.pid"
		if [ -d /run/systemd ]; then mount -t tmpfs -o mode=0755 wsbx /run/systemd; else mount -t tmpfs -o mode=0755 wsbx /run; fi
		mount -t tmpfs -o mode=0755 wsbx "$state/ovl"
		mkdir "$state/ovl/upper" "$state/ovl/work"
		mount -t overlay wsbx -o "lowerdir=/,upperdir=$state/ovl/upper,workdir=$state/ovl/work" "$state/root"
		exec "$nspawn" "$@"' \
		sysbox "$ST" "$nspawn" --quiet --keep-unit --register=no --private-network \
		-D "$ST/root" -M "$NAME" --link-journal=no --resolv-conf=off --timezone=off \
		--console=read-only "${bind[@]}" -b "${DEFAULT_MASK[@]}" "$@" \
		</dev/null >"$ST/console.log" 2>&1

	# Bounded waits: the container's PID 1 (10 s), then the end of the boot (90 s).
	local i np state=""
	for i in $(seq 100); do
		np=$(cat "$ST/nspawn.pid" 2>/dev/null || true)
		if [ -n "$np" ] && find_leader "$np" >"$ST/leader.new"; then mv "$ST/leader.new" "$ST/leader"; break; fi
		sleep 0.1
	done
	rm -f "$ST/leader.new"
	[ -s "$ST/leader" ] || { cat "$ST/console.log" >&2; die "the container did not start (clean up: $0 down)"; }
	for i in $(seq 900); do
		state=$(ex systemctl is-system-running 2>/dev/null || true)
		case $state in running | degraded) echo "$NAME: $state"; return 0 ;; esac
		kill -0 "$np" 2>/dev/null || { cat "$ST/console.log" >&2; die "the container exited while booting (clean up: $0 down)"; }
		sleep 0.1
	done
	die "the boot did not finish in 90 s (state: $state): $0 exec systemctl list-jobs; clean up: $0 down"
}

# ex CMD...: CMD inside, with a root environment of its own.
ex() {
	local l; l=$(leader)
	env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM="${TERM:-dumb}" \
		nsenter -t "$l" -a -- "$@"
}

net() {
	local l; l=$(leader)
	nsenter -t "$l" -n -- "$@"
}

down() {
	[ -d "$ST" ] || return 0
	local np; np=$(cat "$ST/nspawn.pid" 2>/dev/null || true)
	if [ -n "$np" ] && kill -0 "$np" 2>/dev/null; then
		kill -TERM "$np" # nspawn forwards it as SIGRTMIN+3: a clean power-off
		local i
		for i in $(seq 300); do kill -0 "$np" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$np" 2>/dev/null && echo "sysbox: no clean power-off in 30 s: killing what is in its cgroups" >&2
	fi
	if [ -s "$ST/cgroups" ]; then
		# Everything still in our cgroups is the container's (nspawn too), and
		# nothing else is killed.
		local left d c
		for _ in $(seq 50); do
			left=$(while read -r d; do [ ! -d "$d" ] || find "$d" -name cgroup.procs -exec cat {} +; done <"$ST/cgroups")
			[ -n "$left" ] || break
			kill -KILL $left 2>/dev/null || true
			sleep 0.1
		done
		while read -r d; do
			[ -d "$d" ] || continue
			find "$d" -depth -type d | while read -r c; do
				for _ in $(seq 50); do rmdir "$c" 2>/dev/null && break; sleep 0.1; done
			done
			[ ! -d "$d" ] || echo "sysbox: could not remove $d" >&2
		done <"$ST/cgroups"
	fi
	# The overlay lived in nspawn's mount namespace; never remove through a mount.
	if findmnt -rn -o TARGET | grep -q "^$ST/"; then die "$ST has mounts: left in place"; fi
	rm -rf "$ST"
}

cmd=${1:-}
shift || true
case $cmd in
up) up "$@" ;;
exec) ex "$@" ;;
net) net "$@" ;;
down) down ;;
*) echo "usage: $0 up BINDIR [systemd args...] | exec CMD... | net CMD... | down" >&2; exit 2 ;;
esac

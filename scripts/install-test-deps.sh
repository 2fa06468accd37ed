#!/usr/bin/env bash
# Installs what the test suite needs on a Debian 12 machine: Debian packages
# (as root; otherwise it lists what is missing and the tests that need them
# skip with a reason) and the Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."

# program -> Debian package that provides it
declare -A needs=(
	[promtool]=prometheus          # promtool check metrics / test rules
	[podman]=podman                # offline image build
	[curl]=curl                    # TLS + basic auth against a real client
	[update-ca-certificates]=ca-certificates
	[/lib/systemd/systemd]=systemd # the real user manager the tests run
	[systemd-run]=systemd
	[unshare]=util-linux           # its private mount namespace
	[dbus-daemon]=dbus-daemon      # the user bus (--systemd.scope=user tests)
	[ip]=iproute2                  # loopback up in the tests' network namespaces
	[redis-server]=redis-server    # a real server for send/expect probes and the verdict scenarios
	[nginx]=nginx                  # the verdict scenarios
	[prometheus-alertmanager]=prometheus-alertmanager # the end-to-end alert test (and amtool)
	[/usr/lib/systemd/user/dbus.socket]=dbus-user-session
	[rpm]=rpm                      # inspects the .rpm `make package` builds (packaging/)
	[systemd-nspawn]=systemd-container # internal/sysboxtest: this host booted as a system container
	[chromium]=chromium            # the landing page in a real browser (headless --dump-dom)
	[prometheus-node-exporter]=prometheus-node-exporter # side by side: what node_exporter misses between scrapes
	# The daemons whose own configuration the exporter reads (issue 23;
	# e2e/host/daemons_integration_test.go). Not started here (apt-install.sh);
	# internal/sysboxtest masks them at boot but where a test unmasks them.
	[/usr/sbin/apache2]=apache2
	[/usr/sbin/haproxy]=haproxy
	[/usr/sbin/mariadbd]=mariadb-server
	[/usr/sbin/sshd]=openssh-server
	[/usr/bin/memcached]=memcached
	[/usr/lib/postgresql/15/bin/postgres]=postgresql # Debian 12's default cluster, 15/main
	# The container layer's tests (issue 24; internal/enginetest): each test
	# package starts a dockerd and a rootful podman service of its own with
	# runc (crun cannot run on a cgroup v1/v2 hybrid). apt-install.sh keeps
	# the package from starting the machine's dockerd.
	[/usr/sbin/dockerd]=docker.io
	[/usr/sbin/runc]=runc
)

missing=()
for program in "${!needs[@]}"; do
	if [[ "$program" == /* ]]; then
		[ -e "$program" ] && continue
	else
		command -v "$program" >/dev/null 2>&1 && continue
	fi
	[[ " ${missing[*]} " == *" ${needs[$program]} "* ]] || missing+=("${needs[$program]}")
done

if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-test-deps: not root, cannot install: ${missing[*]} (tests needing them will skip)" >&2
	else
		echo "install-test-deps: installing ${missing[*]}" >&2
		./scripts/apt-install.sh "${missing[@]}"
	fi
fi

go mod download
# nfpm, which `make package` runs from its own tool module (kept out of go.mod)
go mod download -modfile=packaging/tools/go.mod

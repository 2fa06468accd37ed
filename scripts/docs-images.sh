#!/usr/bin/env bash
# Regenerates docs/images/landing.png: a real screenshot, by headless
# chromium, of the landing page of the built exporter on a free loopback
# port, with one passing and two failing checks and their diagnosis.
#
# The checks have no `unit` and the systemd layer is off
# (--no-collector.systemd): the machines this runs on (containers, CI
# VMs) do not boot with systemd as PID 1, so the service layer would read
# nothing there and every check naming a unit would be `unknown` — a
# picture of the exporter's access, not of a service's failure. Without a
# unit, the port and answer layers alone make the verdict:
#   web    the exporter's own port, probed with an HTTP request: ok
#   api    a port nobody listens on, its probe refused: port_down
#   redis  the exporter's port probed as Redis: it answers HTTP, so the
#          expect step fails and the page quotes what the peer sent:
#          probe_failed
# Nothing is dialed but loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/images/landing.png}
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "chromium not found (apt-get install chromium)" >&2; exit 1; }
make --no-print-directory build >/dev/null

dir=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT

# Two loopback ports nobody listens on (a connect is refused), below the
# kernel's ephemeral range (32768-60999 by default) so that no outgoing
# connection takes one meanwhile: the exporter listens on the first, the
# second stays unused (that is the point of the `api` check).
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 10000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	echo "no free loopback port found in 50 tries" >&2
	return 1
}
port=$(free_port)
dead=$(free_port)
while [ "$dead" = "$port" ]; do dead=$(free_port); done

cat >"$dir/config.yml" <<EOF
checks:
  - name: web
    ports: [{port: $port, address: 127.0.0.1}]
    probes:
      - target: 127.0.0.1:$port
        query_response: [{send: "HEAD /-/healthy HTTP/1.0\r\n\r\n"}, {expect: "^HTTP/1\\\\.[01] [23]"}]
  - name: api
    ports: [{port: $dead, address: 127.0.0.1}]
    probes: [{target: "127.0.0.1:$dead"}]
  - name: redis
    ports: [{port: $port, address: 127.0.0.1}]
    probes:
      - target: 127.0.0.1:$port
        query_response: [{send: "PING\r\n"}, {expect: "^\\\\+PONG"}]
EOF
./warden_exporter --config.check --config.file="$dir/config.yml" >/dev/null

./warden_exporter --config.file="$dir/config.yml" --web.listen-address="127.0.0.1:$port" \
	--no-collector.systemd --watch.interval=0 2>"$dir/log" &
pid=$!
up=""
for _ in $(seq 100); do # at most 10 s
	if curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/-/ready" 2>/dev/null; then up=1; break; fi
	kill -0 "$pid" 2>/dev/null || { cat "$dir/log" >&2; echo "exporter exited" >&2; exit 1; }
	sleep 0.1
done
[ -n "$up" ] || { cat "$dir/log" >&2; echo "exporter not ready within 10s" >&2; exit 1; }
# One evaluation, so the page shows it rather than running its own.
curl -fsS --max-time 10 -o /dev/null "http://127.0.0.1:$port/checks"

mkdir -p "$(dirname "$out")"
out=$(realpath "$out")
# Bounded like the browser test: a throwaway profile, no network but loopback.
HOME="$dir" XDG_CONFIG_HOME="$dir" XDG_CACHE_HOME="$dir" \
	timeout -k 10 60 "$chromium" --headless --no-sandbox \
	--user-data-dir="$dir/profile" --no-proxy-server \
	--host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
	--disable-background-networking --disable-component-update --disable-sync \
	--disable-default-apps --disable-extensions --disable-breakpad \
	--no-first-run --no-default-browser-check --disable-gpu --hide-scrollbars \
	--window-size="${WINDOW:-1200,720}" --screenshot="$out" \
	"http://127.0.0.1:$port/" 2>"$dir/chromium.log" </dev/null ||
	{ cat "$dir/chromium.log" >&2; echo "chromium failed" >&2; exit 1; }
[ -s "$out" ] || { cat "$dir/chromium.log" >&2; echo "no screenshot written" >&2; exit 1; }
echo "wrote $out"

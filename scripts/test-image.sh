#!/usr/bin/env bash
# Builds the container image offline and checks that the binary inside it is
# the one we built and answers --version. Containers cannot run on these
# machines, so the binary is copied out of a created (never started)
# container and run here.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
	if [ "${WARDEN_REQUIRE_INTEGRATION:-}" = 1 ]; then
		echo "image test cannot run (WARDEN_REQUIRE_INTEGRATION=1): $*" >&2
		exit 1
	fi
	echo "SKIP image test: $*" >&2
	exit 0
}

command -v podman >/dev/null || skip "podman not found (apt-get install podman)"
[ -r /etc/ssl/certs/ca-certificates.crt ] || skip "no CA bundle (apt-get install ca-certificates)"

version=$(cat VERSION)
image="localhost/warden_exporter:test-$$"
podman=(podman --storage-driver=vfs)
container=""
out=$(mktemp -d)
cleanup() {
	[ -n "$container" ] && "${podman[@]}" rm -f "$container" >/dev/null 2>&1 || true
	"${podman[@]}" rmi -f "$image" >/dev/null 2>&1 || true
	rm -rf "$out"
}
trap cleanup EXIT

make --no-print-directory image IMAGE="$image" >"$out/build.log" 2>&1 || { cat "$out/build.log"; exit 1; }

container=$("${podman[@]}" create "$image")
"${podman[@]}" cp "$container:/bin/warden_exporter" "$out/warden_exporter"
"${podman[@]}" cp "$container:/etc/passwd" "$out/passwd"
"${podman[@]}" cp "$container:/etc/ssl/certs/ca-certificates.crt" "$out/ca.crt"

fail() { echo "image test FAILED: $*" >&2; exit 1; }
got=$("$out/warden_exporter" --version 2>&1) || fail "--version exited $?"
grep -q "warden_exporter, version $version " <<<"$got" || fail "unexpected --version output: $got"
file "$out/warden_exporter" 2>/dev/null | grep -q "statically linked" || ldd "$out/warden_exporter" 2>&1 | grep -q "not a dynamic executable" || fail "binary is not static"
grep -q '^nobody:x:65534:' "$out/passwd" || fail "no nobody entry in /etc/passwd"
[ -s "$out/ca.crt" ] || fail "no CA certificates"

inspect=$("${podman[@]}" image inspect "$image" --format '{{.Config.User}} {{json .Config.ExposedPorts}} {{index .Config.Labels "org.opencontainers.image.version"}}')
[[ "$inspect" == "nobody "*'"9863/tcp"'*" $version" ]] || fail "image config: $inspect"

echo "image test OK: $got" | head -1

#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs Deno from the npm
# registry and the real servers the tests start (Debian packages) when missing,
# checks fmt/lint/types, runs `deno task test`, and ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.6
if ! command -v deno >/dev/null 2>&1 || ! deno --version 2>/dev/null | grep -q "^deno $DENO_VERSION "; then
  echo "== installing deno $DENO_VERSION from the npm registry"
  npm install -g "deno@$DENO_VERSION" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi

# command -> Debian package
declare -A PACKAGES=(
  [redis-server]=redis-server [mosquitto]=mosquitto [influxd]=influxdb [socat]=socat
  [clickhouse-server]=clickhouse-server [chromium]=chromium [ffmpeg]=ffmpeg [ffprobe]=ffmpeg
  [prlimit]=util-linux [setpriv]=util-linux [initdb]=postgresql
  [go]=golang-go # Go's own strconv.ParseFloat, to check the gateway's stand-in for it
  [qemu-aarch64-static]=qemu-user-static # the gateway on arm64, emulated (tests/tools/arm64_test.ts)
  [mkfs.xfs]=xfsprogs [mkfs.ext4]=e2fsprogs [losetup]=mount # power cuts on loop devices (tests/e2e/power_cut_test.ts)
  [faketime]=faketime # steps a running gateway's wall clock (tests/e2e/clock_steps_test.ts)
)
# Debian keeps PostgreSQL's server programs in /usr/lib/postgresql/<version>/bin.
pg_path() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
export PATH="$PATH:/usr/sbin:/sbin:$(pg_path)"
missing=()
for cmd in "${!PACKAGES[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGES[$cmd]}")
done
# The Kafka tests build librdkafka's mock cluster with gcc.
[ -f /usr/include/librdkafka/rdkafka_mock.h ] || missing+=(librdkafka-dev)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
# qemu-aarch64-static runs the arm64 deno against Debian's arm64 C library.
[ -f /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=(libc6-arm64-cross)
[ -f /usr/aarch64-linux-gnu/lib/libgcc_s.so.1 ] || missing+=(libgcc-s1-arm64-cross)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} with apt-get"
  SUDO=""
  [ "$(id -u)" != 0 ] && SUDO=sudo
  $SUDO apt-get update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      $(printf "%s\n" "${missing[@]}" | sort -u) >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
  export PATH="$PATH:$(pg_path)"
fi

export NO_COLOR=1
failed_checks=0
echo "== deno fmt --check"
deno fmt --check || failed_checks=$((failed_checks + 1))
echo "== deno lint"
deno lint || failed_checks=$((failed_checks + 1))
echo "== deno check"
deno check main.ts bench/ tests/ tools/ || failed_checks=$((failed_checks + 1))

echo "== deno task test"
log=$(mktemp)
deno task test 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -1)
passed=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")
failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")
if [ -z "$summary" ]; then
  passed=0
  failed=1
fi
failed=$((failed + failed_checks))
[ "$failed_checks" -gt 0 ] && echo "($failed_checks of fmt/lint/check failed, counted as failures)"
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]

#!/usr/bin/env bash
# Signing throughput through a PKCS#11 token (SoftHSM2) beside in-memory AWS-LC, per algorithm
# (RS256, PS256 on RSA-2048; ES256; ES384), on one thread and on THREADS threads, measured in one
# run: the cost of the PKCS#11 path (SoftHSM2 is OpenSSL inside). Prints a Markdown table.
#
#   benches/bench-pkcs11.sh [SECONDS] [THREADS]   (default 3 seconds per measurement, all cores)
#
# Makes a throw-away SoftHSM2 token (own softhsm2.conf and token directory in a temporary
# directory, random PINs; removed on exit), builds the `bench_sign` example of keyward-pkcs11
# in release (in $CARGO_TARGET_DIR if set, else target/) and runs it with SOFTHSM2_CONF set.
# Needs softhsm2 (softhsm2-util and the module).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-3}"
threads="${2:-$(nproc)}"

command -v softhsm2-util >/dev/null || {
    echo "softhsm2-util not found; install softhsm2 (apt-get install softhsm2)" >&2
    exit 69
}
module=/usr/lib/softhsm/libsofthsm2.so
if [ ! -e "$module" ]; then
    module="$(dpkg -L softhsm2 2>/dev/null | grep '/libsofthsm2\.so$' | head -n1 || true)"
fi
if [ -z "$module" ] || [ ! -e "$module" ]; then
    echo "libsofthsm2.so not found (looked at /usr/lib/softhsm and in dpkg -L softhsm2)" >&2
    exit 69
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/keyward-bench-pkcs11.XXXXXX")"
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/tokens"
cat >"$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
CONF
export SOFTHSM2_CONF="$dir/softhsm2.conf"
label=keyward-bench
so_pin="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
KEYWARD_PKCS11_PIN="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export KEYWARD_PKCS11_PIN
softhsm2-util --init-token --free --label "$label" --so-pin "$so_pin" --pin "$KEYWARD_PKCS11_PIN" >/dev/null

cargo build --release --locked --quiet -p keyward-pkcs11 --example bench_sign
"${CARGO_TARGET_DIR:-target}/release/examples/bench_sign" \
    --seconds "$secs" --threads "$threads" --module "$module" --token "$label"
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
    "$(softhsm2-util --version 2>/dev/null | head -n1 | sed 's/^/SoftHSM2 /'); $(openssl version)."

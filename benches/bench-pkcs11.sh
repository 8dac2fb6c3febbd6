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

# shellcheck source=scripts/softhsm-dev.sh
source scripts/softhsm-dev.sh
softhsm_module

dir="$(mktemp -d "${TMPDIR:-/tmp}/keyward-bench-pkcs11.XXXXXX")"
trap 'rm -rf "$dir"' EXIT
label=keyward-bench
softhsm_token "$dir" "$label"

cargo build --release --locked --quiet -p keyward-pkcs11 --example bench_sign
"${CARGO_TARGET_DIR:-target}/release/examples/bench_sign" \
    --seconds "$secs" --threads "$threads" --module "$module" --token "$label"
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
    "$(softhsm2-util --version 2>/dev/null | head -n1 | sed 's/^/SoftHSM2 /'); $(openssl version)."

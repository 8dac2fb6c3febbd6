#!/usr/bin/env bash
# SignClientAssertion over gRPC on a key kept in a PKCS#11 token (SoftHSM2) against raw RS256
# signing through the same token, and the wall time of a rotation that makes its key in the token
# against one that seals it in the store: the method of scripts/bench-ratio.sh, with custody
# pkcs11, as ratios from one run.
#
#   benches/bench-pkcs11-grpc.sh [ROUNDS] [SECONDS]     (default 3 rounds of 10 s loads)
#
# Makes a throw-away SoftHSM2 token (own softhsm2.conf and token directory, random PINs; removed
# on exit with the `keyward dev` directory), starts `keyward dev --pkcs11-* --pkcs11-custody both`
# on it (the dev tenant's KEK and every new key in the token) and then:
#
# 1. Rotation time, before any assertion exists (rotations with --grace 0s retire the previous
#    key at once only while no assertion it signed is live): ROTATIONS (default 5) rotations of
#    demo-app (RS256, --grace 0s) with --custody pkcs11 and as many with --custody sealed,
#    alternating; prints each one's wall time (the whole `keyward rotate client` command), the
#    mean of each and the ratio pkcs11 / sealed.
# 2. A last rotation of demo-app with --custody pkcs11 (its RS256 key now lives in the token);
#    then per round: raw RS256 signing through the token on all cores just before and just after
#    (the `bench_sign` example of keyward-pkcs11 on the same token, while the server holds it:
#    its RS256 row at $(nproc) threads, RAW_SECONDS (default 2) s per measurement; it signs with
#    a key pair it generates, and the cost is per signature), and the `keyward-load`
#    SignClientAssertion load between them. One line per round: raw before and after, rps,
#    p50/p99, CPU seconds of the server and of the load generator, and ratio = rps / mean(raw).
#    Last the mean ratio.
#
# Needs: cargo, jq, softhsm2 (softhsm2-util and the module). Builds the release binaries (in
# $CARGO_TARGET_DIR if set, else target/).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-3}"
seconds="${2:-10}"
rotations="${ROTATIONS:-5}"
raw_seconds="${RAW_SECONDS:-2}"
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[1-9][0-9]*$ && "$rotations" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [ROUNDS] [SECONDS]   (env: ROTATIONS, RAW_SECONDS)" >&2
    exit 64
fi

# shellcheck source=scripts/softhsm-dev.sh
source scripts/softhsm-dev.sh
softhsm_module

# Two invocations: `--example` in the same one would build only the example.
cargo build --release --locked -q -p keyward -p keyward-load
cargo build --release --locked -q -p keyward-pkcs11 --example bench_sign
bin="${CARGO_TARGET_DIR:-target}/release"

dir="$(mktemp -d "${TMPDIR:-/tmp}/keyward-bench-pkcs11-grpc.XXXXXX")"
server=
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
label=keyward-bench-grpc
softhsm_token "$dir" "$label"

"$bin/keyward" dev --dir "$dir/d" --listen 127.0.0.1:0 --pkcs11-module "$module" --pkcs11-token "$label" \
    --pkcs11-pin-env KEYWARD_PKCS11_PIN --pkcs11-custody both >"$dir/dev.log" 2>&1 &
server=$!
for _ in $(seq 300); do
    [[ -s "$dir/d/grpc-addr" ]] && break
    kill -0 "$server" 2>/dev/null || { cat "$dir/dev.log" >&2; exit 1; }
    sleep 0.1
done
[[ -s "$dir/d/grpc-addr" ]] || { echo "keyward dev did not start; its log:" >&2; cat "$dir/dev.log" >&2; exit 1; }
endpoint="http://$(cat "$dir/d/grpc-addr")"
token="$dir/d/token"

rotate() {
    "$bin/keyward" rotate client --tenant dev --client demo-app --alg RS256 --grace 0s --custody "$1" \
        --endpoint "$endpoint" --token-file "$token" --json
}
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# RS256 through the token on all cores: the token sig/s of bench_sign's RS256 row at nproc threads.
raw() {
    "$bin/examples/bench_sign" --seconds "$raw_seconds" --threads "$(nproc)" --module "$module" --token "$label" |
        awk -F'|' -v t="$(nproc)" '$2 ~ /RS256/ && $3 + 0 == t { gsub(/ /, "", $4); print int($4) }'
}

echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "SoftHSM2 $(softhsm2-util --version 2>/dev/null | head -n1); $(openssl version 2>/dev/null || true)"

# 1. Rotation time, before any assertion is live.
echo
printf '%-8s %6s %10s\n' custody n wall_s
declare -A rot_sum
for n in $(seq "$rotations"); do
    for custody in pkcs11 sealed; do
        t0="$(date +%s%N)"
        out="$(rotate "$custody")"
        t1="$(date +%s%N)"
        got="$(jq -r '.credential.custody // empty' <<<"$out")"
        if [ -n "$got" ] && [ "$got" != "$custody" ]; then
            echo "rotation asked for custody $custody, got $got" >&2
            exit 1
        fi
        wall="$(jq -n --argjson a "$t0" --argjson b "$t1" '($b - $a) / 1e9')"
        rot_sum[$custody]="$(jq -n --argjson s "${rot_sum[$custody]:-0}" --argjson x "$wall" '$s + $x')"
        printf '%-8s %6s %10.3f\n' "$custody" "$n" "$wall"
    done
done
mean_pkcs11="$(jq -n --argjson s "${rot_sum[pkcs11]}" --argjson n "$rotations" '$s / $n')"
mean_sealed="$(jq -n --argjson s "${rot_sum[sealed]}" --argjson n "$rotations" '$s / $n')"
printf 'mean rotation wall time over %s each: pkcs11 %.3f s, sealed %.3f s, pkcs11 / sealed %.2f\n' \
    "$rotations" "$mean_pkcs11" "$mean_sealed" "$(jq -n --argjson a "$mean_pkcs11" --argjson b "$mean_sealed" '$a / $b')"

# 2. SignClientAssertion on a key in the token vs raw token signing.
out="$(rotate pkcs11)"
echo
echo "demo-app signs with $(jq -r '.credential.custody // "?"' <<<"$out") key $(jq -r '.credential.kid // "?"' <<<"$out")"
printf '%5s %9s %9s %9s %8s %8s %8s %8s %7s\n' round "raw-pre" "raw-post" rps p50_ms p99_ms srv_cpu load_cpu ratio
sum=0
for round in $(seq "$rounds"); do
    pre="$(raw)"
    srv0="$(cpu_seconds "$server")"
    # `times` in the subshell reports the CPU of its only child, the load generator.
    mapfile -t lines < <(
        "$bin/keyward-load" --endpoint "$endpoint" --token-file "$token" --tenant dev \
            --rpc sign-client-assertion --client demo-app --concurrency 64 --duration "${seconds}s" --json
        times
    )
    srv1="$(cpu_seconds "$server")"
    post="$(raw)"
    out="${lines[0]}"
    errors="$(jq -r .errors <<<"$out")"
    [ "$errors" = 0 ] || echo "round $round: $errors calls failed: $(jq -c .by_status <<<"$out")" >&2
    load_cpu="$(awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' <<<"${lines[2]}")"
    rps="$(jq -r .rps <<<"$out")"
    ratio="$(jq -n --argjson r "$rps" --argjson a "$pre" --argjson b "$post" '$r / (($a + $b) / 2)')"
    sum="$(jq -n --argjson s "$sum" --argjson x "$ratio" '$s + $x')"
    printf '%5s %9s %9s %9s %8s %8s %8s %8s %6.1f%%\n' \
        "$round" "$pre" "$post" "$rps" "$(jq -r .p50_ms <<<"$out")" "$(jq -r .p99_ms <<<"$out")" \
        "$(jq -n --argjson a "$srv0" --argjson b "$srv1" '$b - $a | . * 100 | round / 100')" \
        "$load_cpu" "$(jq -n --argjson x "$ratio" '$x * 100')"
done
printf 'mean ratio SignClientAssertion (token key) / raw token RS256 over %s rounds: %.1f%%\n' "$rounds" \
    "$(jq -n --argjson s "$sum" --argjson n "$rounds" '$s / $n * 100')"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

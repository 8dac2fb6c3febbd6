#!/usr/bin/env bash
# Measures the signing backend against raw signing on this machine, the way BENCHMARKS.md
# reports it: `keyward dev` serving, `keyward-load` driving it from the same machine, and
# `keyward bench sign` on all cores, in alternating rounds so that drift of a shared machine
# (another tenant's load, frequency changes) falls on both sides of each ratio alike.
#
#   scripts/bench-ratio.sh [ROUNDS] [SECONDS]     (default 3 rounds of 10 s loads)
#
# For each round and each case (RS256 SignClientAssertion on demo-app, ES256 SignJwt on
# demo-signer, GetJwks with no signature at all) it prints one line: raw sign/s measured just
# before and just after the load, the load's rps and p50/p99, the CPU seconds the server and the
# load generator used, and the ratio rps / mean(raw before, raw after). For GetJwks the raw
# figure is ES256 signing: its ratio is the ceiling of any ES256 RPC over this transport, since
# it is the same call without the signature. Last comes the mean ratio of each case.
#
# Needs: cargo, jq. Builds the release binaries; uses a fresh `keyward dev` directory under
# $TMPDIR and stops the server at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-3}"
seconds="${2:-10}"
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [ROUNDS] [SECONDS]" >&2
    exit 64
fi

cargo build --release --locked -q -p keyward -p keyward-load
bin="${CARGO_TARGET_DIR:-target}/release"
dir="$(mktemp -d)"
"$bin/keyward" dev --dir "$dir/d" --listen 127.0.0.1:0 >"$dir/dev.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [[ -s "$dir/d/grpc-addr" ]] && break; sleep 0.1; done
endpoint="http://$(cat "$dir/d/grpc-addr")"
token="$dir/d/token"
"$bin/keyward" rotate client --tenant dev --client demo-app --endpoint "$endpoint" --token-file "$token" >/dev/null
"$bin/keyward" rotate client --tenant dev --client demo-signer --alg ES256 --endpoint "$endpoint" \
    --token-file "$token" >/dev/null

cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
raw() { "$bin/keyward" bench sign "$@" --seconds 5 --json | jq -r '.ops_per_s | floor'; }

echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
printf '%-6s %5s %9s %9s %9s %8s %8s %8s %8s %7s\n' \
    case round "raw-pre" "raw-post" rps p50_ms p99_ms srv_cpu load_cpu ratio
declare -A sums
for round in $(seq "$rounds"); do
    for case in rs256 es256 jwks; do
        case "$case" in
            rs256) alg=(--alg RS256 --bits 2048); load=(--rpc sign-client-assertion --client demo-app) ;;
            es256) alg=(--alg ES256); load=(--rpc sign-jwt --client demo-signer) ;;
            jwks) alg=(--alg ES256); load=(--rpc get-jwks --client demo-app) ;;
        esac
        pre="$(raw "${alg[@]}")"
        srv0="$(cpu_seconds "$server")"
        # `times` in the subshell reports the CPU of its only child, the load generator.
        mapfile -t lines < <(
            "$bin/keyward-load" --endpoint "$endpoint" --token-file "$token" --tenant dev "${load[@]}" \
                --concurrency 64 --duration "${seconds}s" --json
            times
        )
        srv1="$(cpu_seconds "$server")"
        post="$(raw "${alg[@]}")"
        out="${lines[0]}"
        load_cpu="$(awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' <<<"${lines[2]}")"
        rps="$(jq -r .rps <<<"$out")"
        ratio="$(jq -n --argjson r "$rps" --argjson a "$pre" --argjson b "$post" '$r / (($a + $b) / 2)')"
        sums[$case]="$(jq -n --argjson s "${sums[$case]:-0}" --argjson x "$ratio" '$s + $x')"
        printf '%-6s %5s %9s %9s %9s %8s %8s %8s %8s %6.1f%%\n' \
            "$case" "$round" "$pre" "$post" "$rps" "$(jq -r .p50_ms <<<"$out")" "$(jq -r .p99_ms <<<"$out")" \
            "$(jq -n --argjson a "$srv0" --argjson b "$srv1" '$b - $a | . * 100 | round / 100')" \
            "$load_cpu" "$(jq -n --argjson x "$ratio" '$x * 100')"
    done
done
for case in rs256 es256 jwks; do
    printf 'mean ratio %-6s over %s rounds: %.1f%%\n' "$case" "$rounds" \
        "$(jq -n --argjson s "${sums[$case]}" --argjson n "$rounds" '$s / $n * 100')"
done

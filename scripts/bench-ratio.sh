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
# it is the same call without the signature. The `ref` case drives GetJwks the same way against
# `jwks-reference` (benches/jwks_reference.rs), a bare tonic server that answers it with a fixed
# JWKS and nothing else: the floor of the stack. Each line also gives the server's CPU per call
# (srv_us). Last come the mean ratios, SignJwt's rps against GetJwks's, and keyward's GetJwks
# CPU per call against the reference's.
#
# Needs: cargo, jq. Builds the release binaries (or takes them from $KEYWARD_BIN_DIR, which must
# hold keyward, keyward-load and jwks-reference: how a before/after pair is measured in one
# sequence); uses a fresh `keyward dev` directory under $TMPDIR and stops the servers at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-3}"
seconds="${2:-10}"
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [ROUNDS] [SECONDS]" >&2
    exit 64
fi

# shellcheck source=scripts/bench-servers.sh
source scripts/bench-servers.sh

cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
raw() { "$bin/keyward" bench sign "$@" --seconds 5 --json | jq -r '.ops_per_s | floor'; }

echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
printf '%-6s %5s %9s %9s %9s %8s %8s %8s %8s %7s %7s\n' \
    case round "raw-pre" "raw-post" rps p50_ms p99_ms srv_cpu load_cpu srv_us ratio
declare -A sums rps_sums us_sums
for round in $(seq "$rounds"); do
    for case in rs256 es256 jwks ref; do
        target="$endpoint" pid="$server"
        case "$case" in
            rs256) alg=(--alg RS256 --bits 2048); load=(--rpc sign-client-assertion --client demo-app) ;;
            es256) alg=(--alg ES256); load=(--rpc sign-jwt --client demo-signer) ;;
            jwks) alg=(--alg ES256); load=(--rpc get-jwks --client demo-app) ;;
            ref) alg=(--alg ES256); load=(--rpc get-jwks --client demo-app) target="$ref_endpoint" pid="$ref_server" ;;
        esac
        pre="$(raw "${alg[@]}")"
        srv0="$(cpu_seconds "$pid")"
        # `times` in the subshell reports the CPU of its only child, the load generator.
        mapfile -t lines < <(
            "$bin/keyward-load" --endpoint "$target" --token-file "$token" --tenant dev "${load[@]}" \
                --concurrency 64 --duration "${seconds}s" --json
            times
        )
        srv1="$(cpu_seconds "$pid")"
        post="$(raw "${alg[@]}")"
        out="${lines[0]}"
        load_cpu="$(awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' <<<"${lines[2]}")"
        rps="$(jq -r .rps <<<"$out")"
        ratio="$(jq -n --argjson r "$rps" --argjson a "$pre" --argjson b "$post" '$r / (($a + $b) / 2)')"
        calls="$(jq -r '.ok + .errors' <<<"$out")"
        srv_us="$(jq -n --argjson a "$srv0" --argjson b "$srv1" --argjson n "$calls" '($b - $a) / $n * 1e6 | round')"
        sums[$case]="$(jq -n --argjson s "${sums[$case]:-0}" --argjson x "$ratio" '$s + $x')"
        rps_sums[$case]="$(jq -n --argjson s "${rps_sums[$case]:-0}" --argjson x "$rps" '$s + $x')"
        us_sums[$case]="$(jq -n --argjson s "${us_sums[$case]:-0}" --argjson x "$srv_us" '$s + $x')"
        printf '%-6s %5s %9s %9s %9s %8s %8s %8s %8s %7s %6.1f%%\n' \
            "$case" "$round" "$pre" "$post" "$rps" "$(jq -r .p50_ms <<<"$out")" "$(jq -r .p99_ms <<<"$out")" \
            "$(jq -n --argjson a "$srv0" --argjson b "$srv1" '$b - $a | . * 100 | round / 100')" \
            "$load_cpu" "$srv_us" "$(jq -n --argjson x "$ratio" '$x * 100')"
    done
done
for case in rs256 es256 jwks ref; do
    printf 'mean ratio %-6s over %s rounds: %.1f%%  (mean %.0f rps, server %.1f us per call)\n' "$case" "$rounds" \
        "$(jq -n --argjson s "${sums[$case]}" --argjson n "$rounds" '$s / $n * 100')" \
        "$(jq -n --argjson s "${rps_sums[$case]}" --argjson n "$rounds" '$s / $n')" \
        "$(jq -n --argjson s "${us_sums[$case]}" --argjson n "$rounds" '$s / $n')"
done
printf 'SignJwt ES256 rps / GetJwks rps: %.1f%%\n' \
    "$(jq -n --argjson a "${rps_sums[es256]}" --argjson b "${rps_sums[jwks]}" '$a / $b * 100')"
printf 'GetJwks server CPU per call, keyward / reference: %.2fx\n' \
    "$(jq -n --argjson a "${us_sums[jwks]}" --argjson b "${us_sums[ref]}" '$a / $b')"

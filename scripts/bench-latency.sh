#!/usr/bin/env bash
# Latency at half of peak, the way BENCHMARKS.md reports it: for each case, 64 callers first
# find the peak (each caller calls again as soon as its answer arrives), then the same 64 callers
# are paced to half of that peak with `keyward-load --rate`, and p50/p99 and their ratio are
# printed. The cases are keyward's RS256 SignClientAssertion, ES256 SignJwt and GetJwks, and
# GetJwks on `jwks-reference` (benches/jwks_reference.rs), the bare tonic server that answers it
# with a fixed JWKS: what the stack and the load generator on the same cores give with no
# keyward code at all.
#
#   scripts/bench-latency.sh [ROUNDS] [SECONDS]     (default 2 rounds of 10 s loads)
#
# Needs: cargo, jq. Builds the release binaries unless $KEYWARD_BIN_DIR holds keyward,
# keyward-load and jwks-reference.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-2}"
seconds="${2:-10}"
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [ROUNDS] [SECONDS]" >&2
    exit 64
fi
# shellcheck source=scripts/bench-servers.sh
source scripts/bench-servers.sh

echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
printf '%-6s %5s %9s %9s %8s %8s %9s %8s %8s %7s\n' \
    case round peak_rps rate rps p50_ms p99_ms p99/p50 peak_p50 peak_p99
for round in $(seq "$rounds"); do
    for case in rs256 es256 jwks ref; do
        target="$endpoint"
        case "$case" in
            rs256) load=(--rpc sign-client-assertion --client demo-app) ;;
            es256) load=(--rpc sign-jwt --client demo-signer) ;;
            jwks) load=(--rpc get-jwks --client demo-app) ;;
            ref) load=(--rpc get-jwks --client demo-app) target="$ref_endpoint" ;;
        esac
        run() {
            "$bin/keyward-load" --endpoint "$target" --token-file "$token" --tenant dev "${load[@]}" \
                --concurrency 64 --duration "${seconds}s" --json "$@"
        }
        peak="$(run)"
        rate="$(jq -r '.rps / 2 | floor' <<<"$peak")"
        half="$(run --rate "$rate")"
        printf '%-6s %5s %9s %9s %8s %8s %9s %7.1fx %8s %7s\n' "$case" "$round" \
            "$(jq -r .rps <<<"$peak")" "$rate" "$(jq -r .rps <<<"$half")" \
            "$(jq -r .p50_ms <<<"$half")" "$(jq -r .p99_ms <<<"$half")" \
            "$(jq -n --argjson h "$half" '$h.p99_ms / $h.p50_ms')" \
            "$(jq -r .p50_ms <<<"$peak")" "$(jq -r .p99_ms <<<"$peak")"
    done
done

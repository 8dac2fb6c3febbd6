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
if [[ -n "${KEYWARD_BIN_DIR:-}" ]]; then
    bin="$KEYWARD_BIN_DIR"
    reference="$bin/jwks-reference"
else
    cargo build --release --locked -q -p keyward -p keyward-load
    cargo build --release --locked -q --example jwks-reference
    bin="${CARGO_TARGET_DIR:-target}/release"
    reference="$bin/examples/jwks-reference"
fi
dir="$(mktemp -d)"
"$bin/keyward" dev --dir "$dir/d" --listen 127.0.0.1:0 >"$dir/dev.log" 2>&1 &
server=$!
"$reference" --addr-file "$dir/ref-addr" &
ref_server=$!
trap 'kill "$server" "$ref_server" 2>/dev/null; wait "$server" "$ref_server" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [[ -s "$dir/d/grpc-addr" && -s "$dir/ref-addr" ]] && break; sleep 0.1; done
endpoint="http://$(cat "$dir/d/grpc-addr")"
token="$dir/d/token"
"$bin/keyward" rotate client --tenant dev --client demo-app --endpoint "$endpoint" --token-file "$token" >/dev/null
"$bin/keyward" rotate client --tenant dev --client demo-signer --alg ES256 --endpoint "$endpoint" \
    --token-file "$token" >/dev/null

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
            ref) load=(--rpc get-jwks --client demo-app) target="http://$(cat "$dir/ref-addr")" ;;
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

#!/usr/bin/env bash
# Overload of the signing pool, the way BENCHMARKS.md reports it: for each pushback setting
# (`[signer] overload_pushback` through KEYWARD_SIGNER_OVERLOAD_PUSHBACK), a fresh `keyward dev`
# is driven with RS256 SignClientAssertion first by 64 callers (peak), then by 4x the callers the
# pool admits (its threads plus its queue of 1024) spread over 64 connections, once with callers
# that back off after RESOURCE_EXHAUSTED and once with callers that retry at once. Each line
# gives rps (successful calls), p50/p99 (of every call, held refusals included), the answers by
# status, the refusals a second, the CPU
# seconds the server used and rps as a share of that server's peak.
#
#   scripts/bench-overload.sh [SECONDS] [PUSHBACK...]   (default 10 s; pushbacks 0s 1s 2s)
#
# Needs: cargo, jq. Builds the release binaries unless $KEYWARD_BIN_DIR holds keyward and
# keyward-load.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-10}"
shift || true
pushbacks=("$@")
[[ ${#pushbacks[@]} -gt 0 ]] || pushbacks=(0s 1s 2s)
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS] [PUSHBACK...]" >&2
    exit 64
fi
if [[ -n "${KEYWARD_BIN_DIR:-}" ]]; then
    bin="$KEYWARD_BIN_DIR"
else
    cargo build --release --locked -q -p keyward -p keyward-load
    bin="${CARGO_TARGET_DIR:-target}/release"
fi
dir="$(mktemp -d)"
server=""
stop() { [[ -z "$server" ]] || { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }; server=""; }
trap 'stop; rm -rf "$dir"' EXIT
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
threads="$(nproc)"
callers=$(( 4 * (threads + 1024) ))

echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs); overload: $callers callers"
printf '%-9s %-22s %8s %8s %8s %9s %9s %10s %8s %6s\n' \
    pushback load rps p50_ms p99_ms ok exhausted refused/s srv_cpu peak
for pushback in "${pushbacks[@]}"; do
    rm -rf "$dir/d"
    KEYWARD_SIGNER_OVERLOAD_PUSHBACK="$pushback" "$bin/keyward" dev --dir "$dir/d" --listen 127.0.0.1:0 \
        >"$dir/dev.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do [[ -s "$dir/d/grpc-addr" ]] && break; sleep 0.1; done
    endpoint="http://$(cat "$dir/d/grpc-addr")"
    "$bin/keyward" rotate client --tenant dev --client demo-app --endpoint "$endpoint" \
        --token-file "$dir/d/token" >/dev/null
    peak=""
    for load in peak backoff no-backoff; do
        case "$load" in
            peak) args=(--concurrency 64) ;;
            backoff) args=(--concurrency "$callers" --connections 64) ;;
            no-backoff) args=(--concurrency "$callers" --connections 64 --no-backoff) ;;
        esac
        cpu0="$(cpu_seconds "$server")"
        out="$("$bin/keyward-load" --endpoint "$endpoint" --token-file "$dir/d/token" --tenant dev \
            --rpc sign-client-assertion --client demo-app "${args[@]}" --duration "${seconds}s" --max-error-rate 1 --json)"
        cpu1="$(cpu_seconds "$server")"
        rps="$(jq -r .rps <<<"$out")"
        [[ -n "$peak" ]] || peak="$rps"
        exhausted="$(jq -r '[.by_status | to_entries[] | select(.key | test("(?i)resource.?exhausted")) | .value] | add // 0' <<<"$out")"
        printf '%-9s %-22s %8.0f %8s %8s %9s %9s %10.0f %8s %5.1f%%\n' "$pushback" "$load ($(jq -r '.concurrency // empty' <<<"$out"))" \
            "$rps" "$(jq -r .p50_ms <<<"$out")" "$(jq -r .p99_ms <<<"$out")" "$(jq -r .ok <<<"$out")" \
            "$exhausted" "$(jq -n --argjson e "$exhausted" --argjson s "$seconds" '$e / $s')" \
            "$(jq -n --argjson a "$cpu0" --argjson b "$cpu1" '$b - $a | . * 100 | round / 100')" \
            "$(jq -n --argjson r "$rps" --argjson p "$peak" '$r / $p * 100')"
    done
    stop
done

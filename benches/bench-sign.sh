#!/usr/bin/env bash
# Signing throughput of `keyward bench sign` (both backends) beside `openssl speed`, measured in
# one run on this machine, on one thread and on all cores. Prints a Markdown table.
#
#   benches/bench-sign.sh [SECONDS]      (default 5 seconds per measurement)
#
# Measurements are interleaved (ours, then OpenSSL's, per algorithm) so a change in background
# load affects both sides of each ratio alike.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
cores="$(nproc)"
cargo build --release --locked --quiet --bin keyward
kw=target/release/keyward

ours() { # alg bits backend threads
    local bits=()
    [ "$2" != "-" ] && bits=(--bits "$2")
    "$kw" bench sign --alg "$1" "${bits[@]}" --backend "$3" --threads "$4" --seconds "$secs" --json |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["ops_per_s"]))'
}

theirs() { # openssl-name threads
    local multi=()
    [ "$2" -gt 1 ] && multi=(-multi "$2")
    openssl speed -seconds "$secs" "${multi[@]}" "$1" 2>/dev/null | python3 -c '
import re, sys
text = sys.stdin.read()
rows = [l for l in text.splitlines() if re.search(r"(rsa\s+\d+\s+bits|ecdsa\s+\(nistp)", l)]
# "rsa 2048 bits 0.000614s 0.000018s 1628.1 55555.6" / "256 bits ecdsa (nistp256) 0.0000s 0.0001s 40000.0 13000.0"
nums = re.findall(r"[\d.]+", rows[-1].split("bits", 1)[1].split(")")[-1])
print(round(float(nums[-2])))'
}

echo "| algorithm | threads | aws-lc sign/s | rustcrypto sign/s | openssl sign/s | aws-lc / openssl | rustcrypto / openssl |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for row in "RS256 2048 rsa2048" "RS256 3072 rsa3072" "RS256 4096 rsa4096" "ES256 - ecdsap256" "ES384 - ecdsap384"; do
    set -- $row
    for threads in 1 "$cores"; do
        a=$(ours "$1" "$2" aws-lc "$threads")
        o=$(theirs "$3" "$threads")
        r=$(ours "$1" "$2" rustcrypto "$threads")
        label="$1"
        [ "$2" != "-" ] && label="$1 ($2)"
        python3 -c "a,r,o=$a,$r,$o; print(f'| $label | $threads | {a} | {r} | {o} | {a/o:.0%} | {r/o:.0%} |')"
    done
done
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(openssl version); ${secs}s per measurement."

#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time and prints one line per target.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]        (default 60)
#
# Environment:
#   KEYWARD_FUZZ_TARGETS     space-separated targets to run (default: all, from `cargo fuzz list`)
#   KEYWARD_FUZZ_SANITIZER   address (default) or none
#   KEYWARD_FUZZ_RSS_MB      libFuzzer's -rss_limit_mb and -malloc_limit_mb (default 2048)
#   KEYWARD_FUZZ_TIMEOUT     seconds one input may take before it counts as a crash (default 10)
#
# Works on the stable toolchain: cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses),
# which stable rustc accepts with RUSTC_BOOTSTRAP=1. The seed corpus (fuzz/corpus/<target>/) and
# the kept crash inputs (fuzz/regressions/<target>/) are read, never written: what libFuzzer
# learns goes to fuzz/target/corpus/<target>/. Crash inputs land in fuzz/artifacts/<target>/;
# minimise one with `cargo fuzz tmin --fuzz-dir fuzz <target> <file>`, fix the bug, then copy the
# input into fuzz/regressions/<target>/ so the crate's tests/fuzz_regressions.rs replays it.
# Leak detection is off: the emulator targets keep one tenant per process (its request log grows
# by design), which made LeakSanitizer scan the heap after every input (25x slower), and a leak in
# safe Rust is not what these targets look for. Exits 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
seconds="${1:-60}"
sanitizer="${KEYWARD_FUZZ_SANITIZER:-address}"
rss_mb="${KEYWARD_FUZZ_RSS_MB:-2048}"
timeout="${KEYWARD_FUZZ_TIMEOUT:-10}"
# Must match between build and run, or cargo rebuilds everything.
build_flags=(--fuzz-dir fuzz --sanitizer "$sanitizer" --codegen-units 16)
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 64
fi

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

read -r -a targets <<<"${KEYWARD_FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir fuzz | tr '\n' ' ')}"
echo "building ${#targets[@]} fuzz targets (sanitizer: $sanitizer)"
cargo fuzz build "${build_flags[@]}"
bin_dir="fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"

logs=fuzz/target/logs
mkdir -p "$logs"
crashed=()
summary=()
for t in "${targets[@]}"; do
    work="fuzz/target/corpus/$t"
    mkdir -p "$work" "fuzz/artifacts/$t"
    dirs=("$work" "fuzz/corpus/$t")
    [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
    before=$(find "fuzz/artifacts/$t" -type f | wc -l)
    start=$SECONDS
    rc=0
    # The binary itself, not `cargo fuzz run`: that would rebuild first whenever a source file
    # changed since the build above, and count the rebuild in this target's time.
    "$bin_dir/$t" \
        -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" \
        -timeout="$timeout" -detect_leaks=0 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" \
        "${dirs[@]}" >"$logs/$t.log" 2>&1 || rc=$?
    took=$((SECONDS - start))
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | tail -n1 | grep -o '[0-9]*$' || true)
    [ -n "$runs" ] || runs=$(grep -o 'Done [0-9]* runs' "$logs/$t.log" | tail -n1 | grep -o '[0-9]*' || true)
    cov=$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -n1 | grep -o '[0-9]*' || true)
    corpus=$(find "$work" -type f | wc -l)
    after=$(find "fuzz/artifacts/$t" -type f | wc -l)
    if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
        artifact=$(grep -o 'Test unit written to [^ ]*' "$logs/$t.log" | tail -n1 | sed 's/Test unit written to //' || true)
        outcome="CRASH (exit $rc) ${artifact:-see $logs/$t.log}"
        crashed+=("$t")
    else
        outcome="no crash"
    fi
    line=$(printf '%-20s %4ss %10s runs  cov %6s  corpus %5s  %s' "$t" "$took" "${runs:-?}" "${cov:-?}" "$corpus" "$outcome")
    echo "$line"
    summary+=("$line")
done

echo
echo "== fuzz summary ($seconds s per target, sanitizer $sanitizer, logs in $logs/)"
printf '%s\n' "${summary[@]}"
if [ "${#crashed[@]}" -gt 0 ]; then
    echo "crashed: ${crashed[*]}"
    exit 1
fi

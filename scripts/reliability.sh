#!/usr/bin/env bash
# Reruns the reliability scenarios of tests/chaos.rs at a chosen size and writes their figures
# into docs/reliability.md, between the `chaos-report` markers.
#
#   scripts/reliability.sh [ROTATIONS]        (default 100; CI runs the tests at 30)
#
# ROTATIONS becomes KEYWARD_CHAOS_ROTATIONS: the rotations driven through replicas being killed
# (scenario 1), through PostgreSQL connections being killed (scenario 2), and the scheduled
# rotations completed under Auth0 faults (scenario 3). Each scenario prints one
# `CHAOS_REPORT {json}` line; this script collects them into the table. The document is left
# alone when a scenario fails; the replicas' logs of a failed scenario are kept in the temporary
# directory the failure message names.
#
# Environment:
#   KEYWARD_TEST_DATABASE_URL  PostgreSQL the scenarios use, one fresh schema each
#                              (default postgres://postgres@127.0.0.1:5432/test)
#   KEYWARD_CHAOS_SEED         replays the random choices of a run (not its timings)
#   KEYWARD_CHAOS_THREADS      scenarios run at once (default 2, as `cargo test` on two cores)
#
# Needs: cargo, python3, a reachable PostgreSQL (the scenarios are skipped without one, and this
# script then fails). Everything else (the emulated Auth0, the `keyward serve` replicas) runs on
# loopback and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

rotations="${1:-100}"
if ! [[ "$rotations" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [ROTATIONS]" >&2
    exit 64
fi
export KEYWARD_CHAOS_ROTATIONS="$rotations"
export KEYWARD_TEST_DATABASE_URL="${KEYWARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
threads="${KEYWARD_CHAOS_THREADS:-2}"
doc=docs/reliability.md
log="$(mktemp -t keyward-reliability.XXXXXX)"
trap 'rm -f "$log"' EXIT

echo "reliability: ${rotations} rotations per scenario, ${threads} at a time; output in $log"
start=$SECONDS
set +e
cargo test --locked --test chaos -- --nocapture --test-threads "$threads" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
elapsed=$((SECONDS - start))
if [ "$status" -ne 0 ]; then
    echo "reliability: a scenario failed (exit $status); $doc left unchanged" >&2
    exit "$status"
fi
if [ "$(grep -c '^CHAOS_REPORT ' "$log")" -ne 3 ]; then
    echo "reliability: expected 3 CHAOS_REPORT lines (is PostgreSQL reachable?); $doc left unchanged" >&2
    exit 1
fi

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- src crates tests migrations 2>/dev/null)" ]; then
    commit="$commit + local changes"
fi
python3 - "$doc" "$log" "$rotations" "$elapsed" "$commit" "$(nproc)" "$threads" <<'PY'
import json
import sys
import time

doc, log, rotations, elapsed, commit, cores, threads = sys.argv[1:]
reports = {}
for line in open(log, encoding="utf-8"):
    if line.startswith("CHAOS_REPORT "):
        r = json.loads(line[len("CHAOS_REPORT "):])
        reports[r["scenario"]] = r


def codes(m):
    return ", ".join(f"{k} {v}" for k, v in sorted(m.items(), key=lambda kv: -kv[1])) or "none"


def states(m):
    return ", ".join(f"{v} {k}" for k, v in sorted(m.items()))


rows = []
r = reports.get("replicas-killed")
if r:
    k = r["kills"]
    exits = ", ".join(f"{s} {n}" for s, n in sorted(k["fault_exit"].items())) or "none"
    a = r["assertions"]
    rows.append([
        "1. replicas killed mid-rotation",
        f"{r['replicas']} replicas, {r['clients']} clients",
        f"{r['rotations']} driven; store: {states(r['rotations_in_store'])}",
        f"{k['fault_exit_total']} exits after a saga state ({exits}); {k['sigkill']} SIGKILLs "
        f"({k['sigkill_holding_a_lease']} holding a rotation lease)",
        f"{a['failures']} of {a['exchanged'] + a['failures']} assertions refused by Auth0; "
        f"stable replica signed {a['stable_replica_signed']}; Rotate: {codes(r['rotate_rpcs'])}; "
        f"Sign: {codes(r['sign_rpcs'])}",
        r["seconds"],
    ])
r = reports.get("postgres-connections-killed")
if r:
    k = r["kills"]
    s = r["slowest_failure_ms"]
    rows.append([
        "2. PostgreSQL connections killed",
        f"{r['replicas']} replicas, {r['clients']} clients",
        f"{r['rotations']} driven; store: {states(r['rotations_in_store'])}",
        f"{k['backends_terminated']} backends terminated ({k['terminated_mid_query']} mid-query) in "
        f"{k['sweeps']} sweeps and {k['storms']} storms ({k['storm_seconds']:.1f} s)",
        f"{r['unavailable']} UNAVAILABLE, {r['deadline_exceeded']} deadlines hit; slowest failure "
        f"{s['rotate']} ms (rotate), {s['read']} ms (read), {s['sign']} ms (sign); recovered in "
        f"{r['recovered_after_kills_ms']} ms; {r['assertions']['failures']} of "
        f"{r['assertions']['signed']} assertions refused",
        r["seconds"],
    ])
r = reports.get("auth0-faults-scheduled")
if r:
    f = r["faults"]
    sr = r["scheduled_rotations"]
    at = r["scheduler_attempts"]
    rows.append([
        "3. Auth0 faults during scheduled rotations",
        f"{r['replicas']} replicas, {r['clients']} clients",
        f"{sr['completed']} scheduled completed ({sr['completed_under_faults']} under faults), "
        f"{sr['failed']} failed; store: {states(r['rotations_in_store'])}",
        f"{f['scripted_total']} faults scripted; answered {f['answered_503']} × 503, "
        f"{f['answered_429']} × 429, {f['dropped_before']} dropped before processing (drop_after: "
        f"{sum(v for k, v in f['scripted'].items() if k.startswith('drop_after'))} scripted)",
        f"nothing orphaned at Auth0; scheduler attempts: {at['started']} started, {at['done']} done, "
        f"{at['skipped']} skipped, {at['failed']} paused or failed; completions counted "
        f"{r['completed_metric_vs_store'][0]} for {r['completed_metric_vs_store'][1]} in the store",
        r["seconds"],
    ])

out = [
    f"Run of {time.strftime('%Y-%m-%d', time.gmtime())}: `scripts/reliability.sh {rotations}` at "
    f"{commit}, {cores} cores, {threads} scenarios at a time, {elapsed} s in all.",
    "",
    "| scenario | world | rotations | chaos injected | what clients saw | seconds |",
    "| --- | --- | --- | --- | --- | --- |",
]
out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
out += ["", "<details><summary>The CHAOS_REPORT lines</summary>", "", "```json"]
out += [json.dumps(reports[k], sort_keys=True) for k in sorted(reports)]
out += ["```", "", "</details>"]

begin, end = "<!-- chaos-report:begin -->", "<!-- chaos-report:end -->"
text = open(doc, encoding="utf-8").read()
if begin not in text or end not in text:
    sys.exit(f"{doc}: the {begin} / {end} markers are missing")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(doc, "w", encoding="utf-8").write(head + begin + "\n" + "\n".join(out) + "\n" + end + tail)
print(f"reliability: {doc} updated")
PY

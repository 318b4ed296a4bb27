#!/usr/bin/env bash
# Runs benches/flows.rs (criterion) and prints ONE table from that run: each scenario's
# median for the crate, the floor (typed serde + http::Request::builder, no state machine)
# and the hand-written peer (serde_json::Value + format!), the ratios crate/floor and
# peer/crate, allocations per flow, and the sizes of the flow types.
#
#   scripts/bench.sh                 # full run (~2 minutes)
#   scripts/bench.sh --quick         # shorter measurement, for a smoke test
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
args=()
if [ "${1:-}" = "--quick" ]; then
    args=(--warm-up-time 0.5 --measurement-time 1)
fi
# Each run starts clean, so every number in the table comes from this run.
rm -rf "$CARGO_TARGET_DIR/criterion" "$CARGO_TARGET_DIR/flows-report.json"
cargo bench --all-features --bench flows -- "${args[@]}" >&2
python3 - "$CARGO_TARGET_DIR" <<'PY'
import json, os, sys
target = sys.argv[1]
crit = os.path.join(target, "criterion")
report = json.load(open(os.path.join(target, "flows-report.json")))

def median(group, imp):
    path = os.path.join(crit, group, imp, "new", "estimates.json")
    if not os.path.exists(path):
        return None
    return json.load(open(path))["median"]["point_estimate"]

def fmt_ns(ns):
    if ns is None:
        return "-"
    return f"{ns/1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"

def allocs(group, imp):
    a = report.get(f"alloc/{group}/{imp}")
    return f"{a['allocs']} / {a['bytes']} B" if a else "-"

rows = [("client_sign_in", "client sign-in (wizard, creds, method, code)"),
        ("staff_sign_in", "staff sign-in (email 2FA)"),
        ("sign_up", "sign-up (wizard, form)"),
        ("refresh", "session refresh"),
        ("authorize", "Session::authorize")]
head = ["scenario", "crate", "floor", "peer", "crate/floor", "peer/crate",
        "allocs crate", "allocs floor", "allocs peer"]
table = []
for group, label in rows:
    c, f, p = (median(group, i) for i in ("crate", "floor", "peer"))
    table.append([label, fmt_ns(c), fmt_ns(f), fmt_ns(p),
                  f"{c/f:.2f}" if c and f else "-", f"{p/c:.2f}" if c and p else "-",
                  allocs(group, "crate"), allocs(group, "floor"), allocs(group, "peer")])
widths = [max(len(r[i]) for r in table + [head]) for i in range(len(head))]
line = lambda r: "| " + " | ".join(x.ljust(w) for x, w in zip(r, widths)) + " |"
print()
print(line(head))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in table:
    print(line(r))
interleaved = report.get("ratio/client_sign_in/interleaved")
if interleaved:
    print(f"\nclient sign-in crate/floor, interleaved rounds (median of 41): {interleaved:.2f}")
sim = median("sim_sign_in", "crate+sim")
if sim:
    print(f"\nsimulator round trip: full client sign-in {fmt_ns(sim)} median = "
          f"{1e9/sim:,.0f} sign-ins/s on one core; allocations {allocs('sim_sign_in', 'crate+sim')}")
sizes = {k[5:]: v for k, v in report.items() if k.startswith("size/")}
print("size_of: " + ", ".join(f"{k} {v} B" for k, v in sizes.items()))
PY

#!/usr/bin/env bash
# Runs benches/flows.rs (criterion) and prints the tables of that ONE run: each scenario's
# median for the crate, the floor (typed serde + http::Request::builder, no state machine)
# and the hand-written peer (serde_json::Value + format!), the ratios crate/floor and
# peer/crate, allocations per flow; where valgrind is installed, instructions per flow for
# the crate, the floor and the peer (callgrind, immune to the machine's noise); then park +
# resume of each flow at each point a caller holds it (parked size, median, allocations),
# and the sizes of the flow types.
#
#   scripts/bench.sh                 # full run (~3 minutes, and ~1 more with valgrind)
#   scripts/bench.sh --quick         # shorter measurement, for a smoke test
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
args=()
if [ "${1:-}" = "--quick" ]; then
    args=(--warm-up-time 0.5 --measurement-time 1)
fi
# Each run starts clean, so every number in the table comes from this run.
rm -rf "$CARGO_TARGET_DIR/criterion" "$CARGO_TARGET_DIR/flows-report.json" \
    "$CARGO_TARGET_DIR/flows-instructions.json"
# The binary the run uses, for valgrind below.
bench_bin=$(cargo bench --all-features --bench flows --no-run 2>&1 | tee /dev/stderr |
    sed -n 's/^ *Executable .*(\(.*\))$/\1/p' | tail -n 1)
cargo bench --all-features --bench flows -- "${args[@]}" >&2

# Instructions per flow: FLOWS_LOOP runs one implementation of one flow N times; the
# difference between 3000 and 1000 flows, over 2000, leaves out the start-up.
if command -v valgrind >/dev/null && [ -n "$bench_bin" ]; then
    instructions() {
        FLOWS_LOOP="$1" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench_bin" 2>&1 |
            sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    }
    {
        echo "{"
        sep=""
        for flow in client_sign_in staff_sign_in sign_up; do
            for imp in crate floor peer; do
                low=$(instructions "$imp:1000:$flow")
                high=$(instructions "$imp:3000:$flow")
                [ -n "$low" ] && [ -n "$high" ] || continue
                printf '%s"%s/%s": %s\n' "$sep" "$flow" "$imp" $(((high - low) / 2000))
                sep=","
            done
        done
        echo "}"
    } >"$CARGO_TARGET_DIR/flows-instructions.json"
    echo "instructions per flow: callgrind, (I(3000 flows) - I(1000)) / 2000" >&2
fi

python3 - "$CARGO_TARGET_DIR" <<'PY'
import json, os, sys
target = sys.argv[1]
crit = os.path.join(target, "criterion")
report = json.load(open(os.path.join(target, "flows-report.json")))
ir_path = os.path.join(target, "flows-instructions.json")
instructions = json.load(open(ir_path)) if os.path.exists(ir_path) else {}

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

def ir(group, imp):
    n = instructions.get(f"{group}/{imp}")
    return f"{n/1000:.1f}k" if n else "-"

def ir_ratio(group):
    c, f = instructions.get(f"{group}/crate"), instructions.get(f"{group}/floor")
    return f"{c/f:.3f}" if c and f else "-"

def print_table(head, table):
    widths = [max(len(r[i]) for r in table + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(x.ljust(w) for x, w in zip(r, widths)) + " |"
    print()
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in table:
        print(line(r))

rows = [("client_sign_in", "client sign-in (wizard, creds, method, code)"),
        ("staff_sign_in", "staff sign-in (email 2FA)"),
        ("sign_up", "sign-up (wizard, form)"),
        ("refresh", "session refresh"),
        ("authorize", "Session::authorize"),
        ("authorize_refreshing", "Session::authorize, a refresh outstanding"),
        ]
head = ["scenario", "crate", "floor", "peer", "crate/floor", "peer/crate",
        "allocs crate", "allocs floor", "allocs peer"]
if instructions:
    head += ["instr crate", "instr floor", "instr peer", "instr crate/floor"]
table = []
for group, label in rows:
    c, f, p = (median(group, i) for i in ("crate", "floor", "peer"))
    row = [label, fmt_ns(c), fmt_ns(f), fmt_ns(p),
           f"{c/f:.2f}" if c and f else "-", f"{p/c:.2f}" if c and p else "-",
           allocs(group, "crate"), allocs(group, "floor"), allocs(group, "peer")]
    if instructions:
        row += [ir(group, "crate"), ir(group, "floor"), ir(group, "peer"), ir_ratio(group)]
    table.append(row)
print_table(head, table)
interleaved = report.get("ratio/client_sign_in/interleaved")
if interleaved:
    print(f"\nclient sign-in crate/floor, interleaved rounds (median of 41): {interleaved:.2f}")
if instructions:
    print("instructions per flow: callgrind, (I(3000 flows) - I(1000 flows)) / 2000")
sim = median("sim_sign_in", "crate+sim")
if sim:
    print(f"\nsimulator round trip: full client sign-in {fmt_ns(sim)} median = "
          f"{1e9/sim:,.0f} sign-ins/s on one core; allocations {allocs('sim_sign_in', 'crate+sim')}")

park = report.get("park", [])
if park:
    print("\npark + resume: the flow serialized to JSON and read back, at each point of the "
          "scenario where its caller holds it")
    names = {"client_sign_in": "client sign-in", "staff_sign_in": "staff sign-in",
             "sign_up": "sign-up", "refresh": "session"}
    table = [[names.get(p["scenario"], p["scenario"]), p["state"], f"{p['bytes']} B",
              fmt_ns(median("park_resume", p["id"])), f"{p['allocs']} / {p['alloc_bytes']} B"]
             for p in park]
    print_table(["flow", "parked at", "parked size", "park + resume", "allocs / bytes"], table)

sizes = {k[5:]: v for k, v in report.items() if k.startswith("size/")}
print("\nsize_of: " + ", ".join(f"{k} {v} B" for k, v in sizes.items()))
PY

#!/usr/bin/env bash
# Runs every fuzz target in turn for SECONDS each (default 60), one at a time, starting from
# the committed seeds (fuzz/seeds/<target>/, copied into the git-ignored fuzz/corpus/).
# Prints executions and crashes per target; a crash's input lands in fuzz/artifacts/<target>/.
# Needs the nightly toolchain and cargo-fuzz (`cargo install --locked cargo-fuzz`).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
export CARGO_TARGET_DIR="$PWD/target"
cargo +nightly fuzz build >/dev/null || exit 1
printf '%-22s %14s %8s\n' target executions crashes
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    [ -d "seeds/$t" ] && cp -n "seeds/$t"/* "corpus/$t"/ 2>/dev/null
    log="artifacts/$t/last-run.log"
    touch "$log.start"
    cargo +nightly fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) -newer "$log.start" 2>/dev/null | wc -l)
    printf '%-22s %14s %8s\n' "$t" "${execs:-?}" "$crashes"
    [ "$crashes" -gt 0 ] && status=1
done
exit $status

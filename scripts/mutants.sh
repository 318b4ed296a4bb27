#!/usr/bin/env bash
# Mutation testing of the flow, session and wire modules: proof that the tests bite.
# A person runs this (it takes a long time); CI does not.
#
#   scripts/mutants.sh                  # every flow, session and wire module
#   scripts/mutants.sh src/session.rs   # just the files given
#
# Installs cargo-mutants on first use. Results: mutants.out/ (caught.txt, missed.txt,
# timeout.txt, unviable.txt); the summary line gives the counts.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    files=(src/machine.rs src/client/signin.rs src/client/signup.rs src/backoffice.rs src/session.rs
           src/decode.rs src/endpoint.rs src/token.rs src/guard.rs src/wire/mod.rs src/wire/inferred.rs)
fi
args=()
for f in "${files[@]}"; do args+=(--file "$f"); done
# Ignored files (target/, fuzz corpora) are not copied into the scratch trees.
# The socket tests drive the examples over real HTTP: slow, and they test the glue, not
# the flows, so mutants skip them.
cargo mutants --all-features --gitignore true --test-tool nextest --timeout-multiplier 3 "${args[@]}" \
    -- -E 'not binary(sockets)'


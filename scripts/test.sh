#!/usr/bin/env bash
# The project's test command (README.md): every unit, integration, property and doc test,
# with the simulator feature on.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --all-features "$@"

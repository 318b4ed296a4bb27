#!/usr/bin/env bash
# A bounded load run of the example gateway (examples/gateway/) on loopback, with the
# simulator in the same process (examples/gateway_load.rs): full gateway sign-ins per
# second (POST /signin, GET /, POST /signin/credentials, GET /, each with a fresh cookie),
# the p50/p99/max latency of one proxied `GET /api/whoami` call, and the same loop of
# `GET /_sim/violations` straight to the simulator as a baseline (the ratio gateway/direct
# means more than the absolute times on a noisy machine), and the proxied calls again while
# the sign-ins run once more. Prints a markdown table of that ONE run; exits non-zero if
# any request failed.
#
# Person-run, not CI: the numbers depend on the machine. With the defaults it takes well
# under a minute once built.
#
#   scripts/gateway-load.sh                                          # 200 sign-ins, 8 at a time, 5000 calls
#   scripts/gateway-load.sh --signins 500 --concurrency 16 --calls 20000
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --features sim --example gateway_load -- "$@"

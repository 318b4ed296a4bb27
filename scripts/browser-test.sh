#!/usr/bin/env bash
# Drives the example gateway (examples/gateway/) in headless Chromium, as a person would:
# a plain sign-in, a sign-in with a Google Authenticator code, sign-out after each, the
# `/api/whoami` button, and the session cookie's attributes (HttpOnly, SameSite=Strict,
# invisible to `document.cookie`). Screenshots land in target/browser/NN-name.png.
# Run by a person, not CI: it may install the `chromium` package (apt-get, as root or with
# sudo) and playwright-core (npm, into the git-ignored target/browser/node_modules).
# Needs the Rust toolchain, Node >= 18 and npm. Exits non-zero on any failure.
# Usage: scripts/browser-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="$root/target/browser"
playwright_spec="playwright-core@1"
start_timeout=60

fail() { echo "browser-test: FAIL: $*" >&2; exit 1; }
say() { echo "browser-test: $*"; }

# 1. Headless Chromium from the system's packages.
chromium="${CHROMIUM:-}"
if [ -z "$chromium" ]; then
    for c in chromium chromium-browser; do
        if command -v "$c" >/dev/null 2>&1; then chromium="$(command -v "$c")"; break; fi
    done
fi
if [ -z "$chromium" ]; then
    command -v apt-get >/dev/null 2>&1 \
        || fail "Chromium is missing and there is no apt-get to install it; install Chromium and set CHROMIUM=/path/to/it"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || fail "Chromium is missing; run as root or install sudo (or: apt-get install chromium)"
        sudo=(sudo)
    fi
    say "installing Chromium (apt-get install chromium)"
    "${sudo[@]}" apt-get update -q || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q chromium || fail "apt-get install chromium failed"
    chromium="$(command -v chromium)" || fail "chromium is still not on PATH after apt-get install"
fi
[ -x "$chromium" ] || fail "$chromium is not executable"
say "chromium: $chromium ($("$chromium" --version 2>/dev/null || echo 'version unknown'))"

# 2. playwright-core, project-local (only if missing).
command -v node >/dev/null 2>&1 || fail "node is not installed"
command -v npm >/dev/null 2>&1 || fail "npm is not installed"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || fail "Node $node_major is too old; playwright-core needs Node >= 18"
mkdir -p "$out"
if [ ! -f "$out/node_modules/playwright-core/package.json" ]; then
    say "installing $playwright_spec into target/browser/node_modules"
    npm install --prefix "$out" --no-audit --no-fund --no-save "$playwright_spec" >/dev/null \
        || fail "npm install $playwright_spec failed"
fi
say "playwright-core $(node -p "require('$out/node_modules/playwright-core/package.json').version")"

# 3. Build, then start the gateway (with its in-process simulator) on a free port.
say "building the gateway"
cargo build --features sim --example gateway || fail "cargo build --features sim --example gateway failed"

rm -f "$out"/[0-9][0-9]-*.png
log="$out/gateway.stdout"
err="$out/gateway.stderr"
: >"$log"
: >"$err"
gateway_pid=
stop_gateway() {
    if [ -n "$gateway_pid" ] && kill -0 "$gateway_pid" 2>/dev/null; then
        kill -TERM "$gateway_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$gateway_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$gateway_pid" 2>/dev/null || true
        wait "$gateway_pid" 2>/dev/null || true
    fi
    gateway_pid=
}
trap stop_gateway EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cargo run -q --features sim --example gateway -- --listen 127.0.0.1:0 >"$log" 2>"$err" &
gateway_pid=$!

gateway_url=
sim_url=
deadline=$((SECONDS + start_timeout))
while :; do
    sim_url="$(sed -n 's/^simulator: \(http[^ ]*\).*$/\1/p' "$log" | head -n1)"
    gateway_url="$(sed -n 's/^open: \(http[^ ]*\).*$/\1/p' "$log" | head -n1)"
    [ -n "$gateway_url" ] && break
    if ! kill -0 "$gateway_pid" 2>/dev/null; then
        wait "$gateway_pid" && status=0 || status=$?
        gateway_pid=
        echo "--- gateway stdout ---" >&2; cat "$log" >&2
        echo "--- gateway stderr ---" >&2; tail -n 40 "$err" >&2
        fail "the gateway exited (status $status) before printing its 'open: http://...' line"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "--- gateway stdout ---" >&2; cat "$log" >&2
        echo "--- gateway stderr ---" >&2; tail -n 40 "$err" >&2
        fail "no 'open: http://...' line on the gateway's stdout within ${start_timeout} s"
    fi
    sleep 0.2
done
[ -n "$sim_url" ] || fail "the gateway printed 'open: $gateway_url' but no 'simulator: http://...' line before it"
gateway_url="${gateway_url%/}"
sim_url="${sim_url%/}"
say "gateway:   $gateway_url"
say "simulator: $sim_url"

# 4. Drive the page.
set +e
CHROMIUM="$chromium" GATEWAY_URL="$gateway_url" SIM_URL="$sim_url" OUT_DIR="$out" \
    PLAYWRIGHT_DIR="$out" node "$root/scripts/browser-test.mjs"
status=$?
set -e
if [ "$status" -ne 0 ]; then
    echo "--- last lines of the gateway's stderr ($err) ---" >&2
    tail -n 20 "$err" >&2
    fail "browser checks failed (screenshots in target/browser/)"
fi
say "OK: screenshots in target/browser/"

#!/usr/bin/env bash
# The published package on its own: builds the .crate with `cargo package`, unpacks it into
# a temporary directory and runs its tests there (`cargo test --features sim`: unit,
# integration and doc tests, and the examples and benches they build), as someone who
# downloads the crate would. Dependencies are shared with the main target directory
# (CARGO_TARGET_DIR), so only the crate itself is compiled again.
#
# `cargo package` refuses a tree with uncommitted changes to packaged files (CI checks out
# a clean tree). PACKAGE_CHECK_ALLOW_DIRTY=1 packages the working tree as it is.
# Usage: scripts/package-check.sh [extra `cargo test` arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

read -r name version target_dir < <(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; m = json.load(sys.stdin); p = m["packages"][0]
print(p["name"], p["version"], m["target_directory"])')

dirty=()
if [ "${PACKAGE_CHECK_ALLOW_DIRTY:-0}" = 1 ]; then
    dirty=(--allow-dirty)
fi
# No verify build here: the tests below build the package's library anyway.
cargo package --locked --no-verify "${dirty[@]}" || {
    echo "package-check: cargo package failed (uncommitted changes? PACKAGE_CHECK_ALLOW_DIRTY=1 packages them)" >&2
    exit 1
}
crate="$target_dir/package/$name-$version.crate"
echo "package: $(cargo package --locked --list "${dirty[@]}" | wc -l) files, $(wc -c <"$crate") bytes ($crate)"

# Unpacked with the current time as every file's mtime (`-m`): the .crate stores one fixed
# old mtime, which would let cargo take a previous run's artifacts as up to date.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/package-check.XXXXXX")
cleanup() {
    # cargo also copies each example binary to target/debug/examples/<name> (next to its
    # dep-info, <name>.d); remove the package's copies, so that this tree's tests never
    # run them (a `cargo build` or `cargo test` here copies this tree's back).
    local info
    for info in "$target_dir"/debug/examples/*.d; do
        if [ -f "$info" ] && grep -qF "$tmp/" "$info"; then
            rm -f "${info%.d}" "${info%.d}.exe" "$info"
        fi
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
tar -xzmf "$crate" -C "$tmp"
# The package as the one member of a workspace around it, with its own Cargo.lock: cargo
# names a package's artifacts by its path relative to the workspace root, so as a root of
# its own the package's test binaries would overwrite this tree's in the shared target
# directory (and be taken as up to date by it, though built from other sources, with
# CARGO_MANIFEST_DIR pointing at the deleted temporary directory). The dependencies'
# artifacts do not depend on it and are shared. A workspace member's [profile] sections
# would be ignored: the package has none, and this check says so if it gets one.
if grep -q '^\[profile' "$tmp/$name-$version/Cargo.toml"; then
    echo "package-check: the package has [profile] sections, which its tests here would ignore" >&2
    exit 1
fi
printf '[workspace]\nmembers = ["%s"]\nresolver = "2"\n' "$name-$version" >"$tmp/Cargo.toml"
cp "$tmp/$name-$version/Cargo.lock" "$tmp/Cargo.lock"
cd "$tmp/$name-$version"
export CARGO_TARGET_DIR="$target_dir"
# Built once from scratch: incremental caches would only cost time and space.
export CARGO_INCREMENTAL=0
# The benches are built (not run: they measure, and write to the target directory), then
# the tests run: unit, integration and doc tests, with the examples built for them.
cargo test --locked --features sim --benches --no-run
cargo test --locked --features sim "$@"
echo "package-check: the packaged $name $version passes its tests"

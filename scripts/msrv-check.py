#!/usr/bin/env python3
"""The crate's `rust-version` against the locked dependencies it needs at run time.

Reads `cargo metadata --format-version 1 --locked --features sim` (the features users may
turn on; `sim` adds no dependency today) and walks its `resolve` graph from the library:
its normal dependencies (not its dev-dependencies), and theirs, and their build
dependencies and proc macros, which are compiled by the same toolchain. Every platform is
included (a Windows-only dependency counts too). Each package's declared `rust_version` is
compared with ours; the check fails listing every package that declares a newer one.

Only current toolchains can be installed here, so this checks the declared numbers; it
does not build with the old toolchain. Packages that declare no `rust-version` are listed
for information and do not fail the check.

Usage: scripts/msrv-check.py [-v]   (-v lists every package walked)
"""
import json
import pathlib
import subprocess
import sys

FEATURES = "sim"


def version(text):
    """'1.77' or '1.77.2' as a comparable tuple (1, 77, 0) / (1, 77, 2)."""
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    verbose = "-v" in sys.argv[1:]
    root_dir = pathlib.Path(__file__).resolve().parent.parent
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--features", FEATURES],
        cwd=root_dir,
        check=True,
        stdout=subprocess.PIPE,
    ).stdout
    meta = json.loads(out)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root_id = meta["resolve"]["root"]
    if root_id is None:
        print("msrv-check: no root package in cargo metadata", file=sys.stderr)
        return 2
    root = packages[root_id]
    ours = root.get("rust_version")
    if not ours:
        print(f"msrv-check: {root['name']} declares no rust-version", file=sys.stderr)
        return 1

    # Breadth-first from the library: below the root every kind of edge (normal, build)
    # is needed to build it; at the root, dev-dependencies are not.
    seen, queue = set(), [root_id]
    while queue:
        node = nodes[queue.pop(0)]
        for dep in node["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            if node["id"] == root_id:
                kinds.discard("dev")
            if kinds and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                queue.append(dep["pkg"])

    newer, undeclared = [], []
    for pkg_id in sorted(seen, key=lambda i: (packages[i]["name"], packages[i]["version"])):
        pkg = packages[pkg_id]
        theirs = pkg.get("rust_version")
        label = f"{pkg['name']} {pkg['version']}"
        if verbose:
            print(f"  {label:40} rust-version {theirs or '-'}")
        if theirs is None:
            undeclared.append(label)
        elif version(theirs) > version(ours):
            newer.append((label, theirs))

    highest = max(
        (packages[i]["rust_version"] for i in seen if packages[i].get("rust_version")),
        key=version,
        default=None,
    )
    print(
        f"{root['name']} rust-version {ours}; {len(seen)} locked runtime dependencies "
        f"(features: {FEATURES}), highest declared rust-version {highest}"
    )
    if undeclared:
        print(f"declare none: {', '.join(undeclared)}")
    if newer:
        print(f"FAIL: these declare a rust-version newer than {ours}:")
        for label, theirs in newer:
            print(f"  {label} needs {theirs}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

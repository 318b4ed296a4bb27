#!/usr/bin/env python3
"""Sans-IO and no-panic hygiene of library code.

src/ must not read the clock, sleep, open sockets or resolve names, spawn threads or keep
global state (std::net's IP address types, plain values, are allowed), and
must not unwrap/expect outside #[cfg(test)] items. Comments (doc examples included) are
skipped; #[cfg(test)] items are skipped by brace counting.
"""
import pathlib
import re
import sys

# std::net's address types are plain values (parsing one opens nothing): allowed. Whatever
# connects, listens or resolves a name is named below, also when imported with them.
FORBIDDEN = re.compile(
    r"SystemTime::now|Instant::now|std::thread|thread::sleep"
    r"|std::net(?!::(\{\s*)?Ip(v4|v6)?Addr\b)|TcpStream|TcpListener|UdpSocket"
    r"|ToSocketAddrs|to_socket_addrs"
    r"|static mut|thread_local!|\.unwrap\(|\.expect\("
)


def library_lines(text):
    """Yields (line number, code) outside comments and #[cfg(test)] items."""
    skipping, depth, opened = False, 0, False
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("//", 1)[0]
        if not skipping and code.strip().startswith("#[cfg(test)]"):
            skipping, depth, opened = True, 0, False
            continue
        if skipping:
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0 or (not opened and code.rstrip().endswith(";")):
                skipping = False
            continue
        yield number, code


def test_only_files():
    """Files declared as `#[cfg(test)] mod name;` (out-of-line test modules), and the
    folders of their own submodules (`name/`)."""
    skipped = set()
    for path in pathlib.Path("src").rglob("*.rs"):
        lines = path.read_text().splitlines()
        for attr, decl in zip(lines, lines[1:]):
            match = re.match(r"\s*(pub(\(crate\))?\s+)?mod\s+(\w+)\s*;", decl)
            if attr.strip() == "#[cfg(test)]" and match:
                here = path.parent if path.name in ("mod.rs", "lib.rs") else path.with_suffix("")
                skipped.add(here / f"{match.group(3)}.rs")
                skipped.add(here / match.group(3))
    return skipped


def main():
    failures = 0
    skipped = test_only_files()
    for path in sorted(pathlib.Path("src").rglob("*.rs")):
        if path in skipped or any(parent in skipped for parent in path.parents):
            continue
        for number, code in library_lines(path.read_text()):
            if FORBIDDEN.search(code):
                print(f"{path}:{number}: {code.strip()}")
                failures += 1
    if failures:
        print("library code must not read the clock, block, use sockets/threads/globals, or unwrap/expect")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

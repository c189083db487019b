#!/usr/bin/env python3
"""Import circles between the modules of each library crate of the workspace.

A module's references are the `crate::`, `super::` and `self::` paths in its code (comments and
inline test modules left out), resolved to the longest module they name. A circle is a strongly
connected set of two or more modules. Prints every circle; exits 1 if one is not in ALLOWED
(circles being taken apart, each named by crate source folder and its modules), or if an ALLOWED
one is gone (then remove it here: the list only shrinks).

    python3 .ci/circles.py
"""

import os
import re
import sys
from collections import defaultdict

# Library source folders: every workspace member's `src`.
CRATES = [
    "relay/moq/src",
    "relay/core/src",
    "relay/quic/src",
    "relay/peer/src",
    "relay/src",
    "origin/cmaf/src",
    "origin/src",
    "edge-wasm/src",
    "edge-wasm/watermark/src",
    "gateway/src",
    "clients/src",
    "sims/src",
    "benches/src",
]

# Circles still to take apart: none. The list only shrinks; keep it empty.
ALLOWED: set = set()


def module_of(root, path):
    parts = os.path.relpath(path, root)[:-3].split(os.sep)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return tuple(parts)


def sources(root):
    for folder, _, names in os.walk(root):
        if "/bin" in folder[len(root):] or folder.endswith("/tests"):
            continue
        for name in names:
            if name.endswith(".rs") and name != "tests.rs":
                yield os.path.join(folder, name)


def references(root):
    files = {module_of(root, f): f for f in sources(root)}
    edges = defaultdict(set)
    for module, path in files.items():
        text = open(path, encoding="utf-8").read()
        text = re.split(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)[0]
        text = re.sub(r"//[^\n]*", "", text)
        for ref in re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", text):
            head, *rest = ref.split("::")
            if head == "crate":
                base = ()
            elif head == "self":
                base = module
            else:
                base = module[:-1]
                while rest and rest[0] == "super":
                    base, rest = base[:-1], rest[1:]
            for k in range(len(rest), -1, -1):
                target = base + tuple(rest[:k])
                if target in files:
                    if target != module and target != ():
                        edges[module].add(target)
                    break
    return files, edges


def circles(files, edges):
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(tuple(sorted("::".join(m) for m in component)))

    sys.setrecursionlimit(10_000)
    for v in files:
        if v not in index:
            visit(v)
    return found


def main():
    seen = set()
    for root in CRATES:
        if not os.path.isdir(root):
            continue
        for circle in circles(*references(root)):
            seen.add((root, circle))
    bad = False
    for root, circle in sorted(seen):
        known = (root, circle) in ALLOWED
        print(f"{'known' if known else 'NEW'} circle in {root}: {' <-> '.join(circle)}")
        bad |= not known
    for root, circle in sorted(ALLOWED - seen):
        print(f"gone: the circle in {root} of {', '.join(circle)}: remove it from ALLOWED")
        bad = True
    if not bad:
        print(f"no new import circles in {len(CRATES)} crates")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

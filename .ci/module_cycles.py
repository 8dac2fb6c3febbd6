"""Reads a cargo-modules dependency graph (DOT) on stdin and fails on a module import cycle; with
--crates, reads `cargo metadata` and fails on a workspace dependency that runs the wrong way."""
import json
import re
import sys

# Which workspace crates each may depend on (normal and build dependencies).
ALLOWED = {
    "keyward": {"keyward-auth0", "keyward-crypto", "keyward-proto", "keyward-auth0-emulator", "keyward-pkcs11"},
    "keyward-auth0": {"keyward-crypto"},
    "keyward-auth0-emulator": {"keyward-crypto"},
    "keyward-crypto": set(),
    "keyward-pkcs11": {"keyward-crypto"},
    "keyward-proto": set(),
    "keyward-load": {"keyward-proto"},
}


def crates():
    meta = json.load(sys.stdin)
    names = {p["name"] for p in meta["packages"]}
    bad = []
    for p in meta["packages"]:
        for d in p["dependencies"]:
            if d["name"] in names and d["kind"] != "dev" and d["name"] not in ALLOWED.get(p["name"], set()):
                bad.append(f'{p["name"]} -> {d["name"]}')
    for b in bad:
        print(f"crate graph: {b} runs against keyward -> keyward-auth0 -> keyward-crypto, keyward -> keyward-pkcs11 -> keyward-crypto, keyward-load -> keyward-proto")
    if not bad:
        print(
            "crate graph: one way (keyward -> keyward-auth0 -> keyward-crypto, "
            "keyward -> keyward-pkcs11 -> keyward-crypto, keyward-load -> keyward-proto)"
        )
    return 1 if bad else 0


def modules(crate):
    dot = sys.stdin.read()
    mods = set(re.findall(r'^\s*"([^"]+)" \[label="[^"]*"[^\n]*// "mod" node', dot, re.M))

    def owner(item):
        # The module an item belongs to: itself if a module, else its nearest module ancestor.
        while item not in mods and "::" in item:
            item = item.rsplit("::", 1)[0]
        return item

    edges = {}
    for m in re.finditer(r'"([^"]+)" -> "([^"]+)" \[label="uses"', dot):
        a, b = owner(m.group(1)), owner(m.group(2))
        # A module using its own ancestors' items (`use super::Engine`) is how a module's parts
        # share its types; every other edge counts, a parent's use of its children included.
        if a == b or a.startswith(b + "::"):
            continue
        edges.setdefault(a, set()).add(b)
    # Tarjan's strongly connected components.
    index, low, on, stack, comps, n = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    for c in comps:
        print(f"{crate}: import cycle between " + ", ".join(c))
    if not comps:
        print(f"{crate}: no module import cycle ({len(edges)} modules with imports)")
    return 1 if comps else 0


if __name__ == "__main__":
    sys.exit(crates() if sys.argv[1:] == ["--crates"] else modules(sys.argv[1]))

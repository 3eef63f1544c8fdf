#!/usr/bin/env python3
"""Print the import cycles of a package (strongly connected modules), or "no import cycle".

Every import counts, the ones inside functions too: a cycle held together by deferred
imports is still a cycle. Exit status 1 when there is one, so CI can run it.

    python scripts/import_cycles.py            # broker/
    python scripts/import_cycles.py scoring --stats
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path, module: str, known: set[str]) -> list[tuple[str, bool]]:
    """(imported module, inside a function?) for every import of a known module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((_known(alias.name, known), local) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(child, module, path.name == "__init__.py")
                for alias in child.names:
                    target = f"{base}.{alias.name}"
                    found.append((target if target in known else _known(base, known), local))
            visit(child, inner)

    visit(tree, False)
    return [(target, local) for target, local in found if target and target != module]


def _known(name: str, known: set[str]) -> str:
    """The longest known module that is `name` or contains it ("" when none)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return ""


def import_graph(package: str) -> tuple[dict[str, set[str]], int]:
    """Module -> modules it imports inside the package; and how many imports sit in functions."""
    files = {module_name(p, ROOT): p for p in (ROOT / package).rglob("*.py")}
    known = set(files)
    graph: dict[str, set[str]] = {m: set() for m in files}
    local_imports = 0
    for module, path in files.items():
        for target, local in imports_of(path, module, known):
            graph[module].add(target)
            local_imports += local
    return graph, local_imports


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", default="broker")
    parser.add_argument("--stats", action="store_true", help="also print module, edge and local-import counts")
    args = parser.parse_args()
    graph, local_imports = import_graph(args.package)
    found = cycles(graph)
    if args.stats:
        edges = sum(len(targets) for targets in graph.values())
        print(f"{len(graph)} modules, {edges} import edges, {local_imports} imports inside functions")
    for number, component in enumerate(found, 1):
        print(f"cycle {number} ({len(component)} modules): {', '.join(component)}")
    if not found:
        print("no import cycle")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

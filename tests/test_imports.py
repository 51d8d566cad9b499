"""Every module imports on its own, first, in a fresh interpreter; no import-time cycles."""
from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import scratchae

PACKAGE = Path(scratchae.__file__).parent


def public_modules() -> list[str]:
    """Every module a user may import: not `_private`, not `__main__`, not the templates."""
    names = ["scratchae"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="scratchae."):
        last = info.name.rpartition(".")[2]
        if last.startswith("_") or ".templates" in info.name:
            continue
        names.append(info.name)
    return sorted(names)


def test_every_module_imports_first_in_a_fresh_interpreter():
    mods = public_modules()
    assert {"scratchae.saving", "scratchae.models", "scratchae.training", "scratchae.gradcheck"} <= set(mods)
    code = "import importlib, sys; importlib.import_module(sys.argv[1])"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    procs = {m: subprocess.Popen([sys.executable, "-c", code, m], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env) for m in mods}
    failed = {}
    for m, p in procs.items():
        out, err = p.communicate(timeout=120)
        if p.returncode != 0:
            failed[m] = err.strip().splitlines()[-1:]
    assert not failed, failed


def _module_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the scratchae modules it imports at import time (top level, not in functions)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if "templates" in path.parts:
            continue
        name = _module_of(path)
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:   # top level only
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("scratchae")}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                if not mod.startswith("scratchae"):
                    continue
                deps.add(mod)
                for a in node.names:                  # `from . import losses` names a module
                    if (PACKAGE.parent / (mod + "." + a.name).replace(".", "/")).with_suffix(".py").exists():
                        deps.add(f"{mod}.{a.name}")
        graph[name] = deps - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if d.startswith(n + "."):      # a package importing its own submodule is no cycle
                continue
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d in graph and state.get(d) is None:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if state.get(n) is None:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_time_cycle_between_modules():
    graph = import_graph()
    assert "scratchae.training" in graph["scratchae.models"]        # the walker sees imports
    assert find_cycle(graph) is None, find_cycle(graph)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None

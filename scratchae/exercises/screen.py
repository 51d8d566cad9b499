"""Read a submission before running it: what an exercise file has no reason to contain.

An exercise needs NumPy and arithmetic. `screen(source)` parses the file (never runs it) and
names, with its line, anything that can only serve to reach past the exercise:

    imports     anything but numpy, math and a few pure helpers (ALLOWED): scratchae (its own
                backward, its finite differences), an autodiff library, os, sys, inspect, gc,
                ctypes, signal, subprocess, threading ...
    names       __import__, exec, eval, compile, globals, __builtins__, frames and tracebacks
                (f_back, f_locals, tb_frame, _getframe ...), and breakpoint
    patching    assigning to an attribute of numpy or math (np.abs = ...)

The grader refuses such a file with the reason (no points, status "refused"). The screen is a
first line only: the file still runs in a process of its own, without scratchae, and every
verdict is made outside it (grading.py), so what the screen misses still cannot change a grade
by patching; it saves a learner a confusing run and a teacher a suspicious score.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

ALLOWED = {"numpy", "math", "cmath", "functools", "itertools", "operator", "typing", "dataclasses",
           "__future__", "collections", "numbers", "warnings", "abc", "enum", "fractions", "copy",
           "statistics", "decimal", "re", "string"}
NAMES = {"__import__", "exec", "eval", "compile", "globals", "__builtins__", "breakpoint", "_getframe",
         "f_back", "f_locals", "f_globals", "f_code", "tb_frame", "tb_next", "gi_frame", "cr_frame",
         "__traceback__", "__subclasses__", "__globals__", "__code__", "__closure__"}
MODULES = {"np", "numpy", "math"}


@dataclass(frozen=True)
class Finding:
    line: int
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


def screen(source: str) -> list[Finding]:
    """What in `source` an exercise file has no reason to contain (empty: nothing). A file
    that does not parse gives no findings: the run reports its syntax error."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top not in ALLOWED:
                    found.append(Finding(node.lineno, f"imports {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            top = (node.module or "").split(".")[0]
            if node.level or top not in ALLOWED:
                found.append(Finding(node.lineno, f"imports from {'.' * node.level}{node.module or ''}"))
        elif isinstance(node, ast.Name) and node.id in NAMES:
            found.append(Finding(node.lineno, f"uses {node.id}"))
        elif isinstance(node, ast.Attribute):
            if node.attr in NAMES:
                found.append(Finding(node.lineno, f"uses .{node.attr}"))
            if isinstance(node.ctx, (ast.Store, ast.Del)) and isinstance(node.value, ast.Name) \
                    and node.value.id in MODULES:
                found.append(Finding(node.lineno, f"replaces {node.value.id}.{node.attr}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value \
                and any(n in node.value for n in NAMES if n.startswith("__")):
            found.append(Finding(node.lineno, f"names {node.value[:40]!r}"))
    found.sort(key=lambda f: f.line)
    return found


def refusal(findings: list[Finding]) -> str:
    """The learner's message for a refused file."""
    first = "; ".join(str(f) for f in findings[:3]) + (" ..." if len(findings) > 3 else "")
    return (f"the file reaches past the exercise ({first}): an exercise needs numpy and math only, "
            "and its backward works from what forward cached; remove these lines")

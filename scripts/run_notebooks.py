"""Run demos/*.ipynb without Jupyter and count the figures each would show inline.

    python scripts/run_notebooks.py [NOTEBOOK ...] [--one-epoch] [--json]

Each notebook's code cells run in order in one namespace, as a kernel runs them (no
`__file__`, a kernel's command line, `ipykernel` in sys.modules, so a demo takes its
defaults), in the current folder (its figures go to ./demo-output/). What a cell shows is
emulated as IPython shows it: when the cell's last statement is an expression, its value is
displayed, and a value with a `_repr_png_` is an inline image; pyplot figures still open when a
cell ends are shown (and closed) as the inline backend does. `--one-epoch` caps `Model.fit`
at one epoch (the tests use it to stay fast); `--json` prints one JSON line per notebook.
A "figure cell" is a code cell that calls `savefig(`: it should show at least one image.
"""
from __future__ import annotations

import ast
import contextlib
import json
import os
import sys
import types
from pathlib import Path

DEMOS = Path(__file__).resolve().parents[1] / "demos"


def _cap_fit_at_one_epoch() -> None:
    from scratchae.models import Model
    fit = Model.fit

    def one_epoch(self, *args, **kwargs):
        kwargs["epochs"] = 1
        if len(args) > 3:
            args = args[:3] + (1,) + args[4:]
        return fit(self, *args, **kwargs)
    Model.fit = one_epoch


def _show(value) -> bytes | None:
    """The PNG IPython's display would show for `value`, if any."""
    method = getattr(value, "_repr_png_", None)
    return method() if callable(method) else None


def _open_pyplot_figures() -> list[bytes]:
    if "matplotlib.pyplot" not in sys.modules:
        return []
    import io
    plt = sys.modules["matplotlib.pyplot"]
    shown = []
    for num in plt.get_fignums():
        buffer = io.BytesIO()
        plt.figure(num).savefig(buffer, format="png")
        shown.append(buffer.getvalue())
    plt.close("all")
    return shown


def run(path: Path) -> dict:
    """Run one notebook; {"notebook", "images", "cells": [{"index", "figure_cell", "images"}]}."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    sys.modules.setdefault("ipykernel", types.ModuleType("ipykernel"))
    sys.argv = ["ipykernel_launcher.py", "-f", "kernel-1.json"]
    namespace = {"__name__": "__main__"}
    report = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        tree = ast.parse(source)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, f"cell {index}", "exec"), namespace)
        images = []
        if last is not None:
            value = eval(compile(ast.Expression(last.value), f"cell {index}", "eval"), namespace)
            png = _show(value)
            if png is not None:
                images.append(png)
        images += _open_pyplot_figures()
        bad = [i for i, png in enumerate(images) if png[:8] != b"\x89PNG\r\n\x1a\n"]
        if bad:
            raise ValueError(f"cell {index}: a _repr_png_ returned something other than PNG bytes")
        report.append({"index": index, "figure_cell": "savefig(" in source, "images": len(images)})
    return {"notebook": Path(path).name, "images": sum(c["images"] for c in report),
            "cells": report}


def main(argv: list[str]) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    paths = [Path(a) for a in argv if not a.startswith("--")] or sorted(DEMOS.glob("*.ipynb"))
    if "--one-epoch" in argv:
        _cap_fit_at_one_epoch()
    results = []
    for path in paths:                   # the demos' own prints kept off the report
        sink = sys.stderr if "--json" in argv else open(os.devnull, "w")
        with contextlib.redirect_stdout(sink):
            results.append(run(path))
        r = results[-1]
        if "--json" in argv:
            print(json.dumps(r), flush=True)
        else:
            missing = [c["index"] for c in r["cells"] if c["figure_cell"] and not c["images"]]
            print(f"{r['notebook']}: {r['images']} inline image(s)"
                  + (f"; figure cells showing none: {missing}" if missing else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

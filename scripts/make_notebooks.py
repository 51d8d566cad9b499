"""Write demos/NAME.ipynb from every percent-format demo demos/NAME.py.

    python scripts/make_notebooks.py          # rewrite every notebook
    python scripts/make_notebooks.py --check  # exit 1, naming them, if any is out of date

The .py file is the source: `# %% [markdown]` cells become Markdown cells (their leading
"# " removed), `# %%` cells code cells. The notebooks are written without outputs or
execution counts, so a diff shows only a change of the source; Jupyter fills the outputs
when a learner runs them. They sit beside the .py files so the demos' relative links
(../docs/...) and their output folder work the same from both. No dependency: the notebook
format (nbformat 4) is JSON, written here with `json`.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

DEMOS = Path(__file__).resolve().parents[1] / "demos"
CELL = re.compile(r"^# %%( \[markdown\])?$", re.M)
METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def _source(lines: list[str]) -> list[str]:
    """Jupyter's way to store a cell's text: its lines, each but the last ending in a newline."""
    return [line + "\n" for line in lines[:-1]] + lines[-1:]


def _markdown(line: str) -> str:
    if line == "#":
        return ""
    if not line.startswith("# "):
        raise ValueError(f"a markdown line must be '#' or start with '# ', got {line!r}")
    return line[2:]


def cells(text: str) -> list[dict]:
    """The notebook cells of a percent-format file (it must start with a cell marker)."""
    parts = CELL.split(text)
    if parts[0].strip():
        raise ValueError("a percent-format demo must start with '# %%' or '# %% [markdown]', "
                         f"got {parts[0][:40]!r}")
    out = []
    for marker, body in zip(parts[1::2], parts[2::2]):
        lines = body.strip("\n").splitlines()
        if marker:
            out.append({"cell_type": "markdown", "metadata": {},
                        "source": _source([_markdown(l) for l in lines])})
        else:
            out.append({"cell_type": "code", "execution_count": None, "metadata": {},
                        "outputs": [], "source": _source(lines)})
    return out


def notebook(text: str) -> str:
    """The .ipynb text (nbformat 4.4 JSON, keys sorted, one-space indent as Jupyter writes)."""
    nb = {"cells": cells(text), "metadata": METADATA, "nbformat": 4, "nbformat_minor": 4}
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def targets(demos: Path = DEMOS) -> dict[Path, str]:
    """{notebook path: its text} for every demos/*.py."""
    return {py.with_suffix(".ipynb"): notebook(py.read_text(encoding="utf-8"))
            for py in sorted(demos.glob("*.py"))}


def main(argv: list[str]) -> int:
    stale = []
    for path, text in targets().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path.name)
        if "--check" not in argv:
            path.write_text(text, encoding="utf-8")
    if "--check" in argv and stale:
        print("out of date:", ", ".join(stale), "(run python scripts/make_notebooks.py)")
        return 1
    print("rewrote:" if stale else "up to date", ", ".join(stale))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

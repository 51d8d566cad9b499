"""The demos ship as notebooks (demos/NAME.ipynb, generated from demos/NAME.py by
scripts/make_notebooks.py) and show their figures inline.

The notebooks run here without Jupyter (scripts/run_notebooks.py: the code cells in order in
one namespace, a cell's last expression displayed as IPython displays it), with `Model.fit`
capped at one epoch to stay fast.
"""
import json
import os
import subprocess
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMOS = REPO / "demos"
sys.path.insert(0, str(REPO / "scripts"))

import make_notebooks  # noqa: E402
import run_notebooks  # noqa: E402

# article_listing.py keeps the article's pyplot code, with plt.show() replaced by save(name),
# which writes the PNG and, in a notebook, leaves the figure for the cell to show: its figure
# cells are the cells that call save(), its PNGs (the listing's EXPECTED in test_demos.py).
PYPLOT_DEMOS = {"article_listing.ipynb"}


def test_every_demo_has_its_notebook_byte_for_byte():
    expected = make_notebooks.targets()
    assert sorted(p.name for p in expected) == sorted(p.with_suffix(".ipynb").name
                                                      for p in DEMOS.glob("*.py"))
    assert sorted(p.name for p in DEMOS.glob("*.ipynb")) == sorted(p.name for p in expected)
    for path, text in expected.items():
        assert path.read_text(encoding="utf-8") == text, \
            f"{path.name} is out of date: run python scripts/make_notebooks.py"


def test_notebooks_are_clean_nbformat_4_with_the_demos_cells():
    for path in sorted(DEMOS.glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["name"] == "python3"
        py = path.with_suffix(".py").read_text(encoding="utf-8")
        assert len(nb["cells"]) == py.count("\n# %%") + py.startswith("# %%")
        for cell in nb["cells"]:
            assert cell["source"] and all(isinstance(l, str) for l in cell["source"])
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None
        assert nb["cells"][0]["cell_type"] == "markdown"
        assert nb["cells"][0]["source"][0].startswith("# ")           # the title, '#' undone


def test_the_generator_by_hand_and_its_check_catches_a_stale_notebook():
    text = "# %% [markdown]\n# # Title\n#\n# Text.\n\n# %%\nx = 1\nx\n"
    cells = make_notebooks.cells(text)
    assert cells == [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "\n", "Text."]},
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
         "source": ["x = 1\n", "x"]}]
    path = DEMOS / "01_vanilla.ipynb"
    assert make_notebooks.notebook(path.with_suffix(".py").read_text() + "\n# %%\ny = 2\n") \
        != path.read_text()
    for bad, match in [("x = 1\n# %%\n", "must start"), ("# %% [markdown]\n#x\n", "'# '")]:
        try:
            make_notebooks.cells(bad)
        except ValueError as e:
            assert match in str(e)
        else:
            raise AssertionError(bad)


def test_the_runner_counts_what_ipython_would_show(tmp_path, monkeypatch):
    """A cell ending in a scratchae figure shows it; one ending in savefig(...), a bare
    Figure or an assignment shows nothing: the checker below would catch such a demo."""
    nb = {"cells": make_notebooks.cells(
        "# %%\nimport numpy as np\nfrom matplotlib.figure import Figure\n"
        "from scratchae import plotting\nx = np.random.default_rng(0).random((4, 784))\n"
        "# %%\nfig = plotting.reconstructions(x, x, n=2)\nfig\n"
        "# %%\nfig.savefig('a.png')\n"
        "# %%\nFigure()\n"
        "# %%\nshown = fig\n")}
    path = tmp_path / "t.ipynb"
    path.write_text(json.dumps(nb))
    monkeypatch.chdir(tmp_path)                  # what run() changes, put back afterwards
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    r = run_notebooks.run(path)
    assert [(c["figure_cell"], c["images"]) for c in r["cells"]] == \
        [(False, 0), (False, 1), (True, 0), (False, 0), (False, 0)]
    assert r["images"] == 1


def test_every_figure_cell_of_every_notebook_shows_its_figure(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1")
    notebooks = sorted(DEMOS.glob("*.ipynb"))
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "run_notebooks.py"), "--one-epoch",
                        "--json", *map(str, notebooks)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    results = {d["notebook"]: d for d in map(json.loads, r.stdout.splitlines())}
    assert sorted(results) == [p.name for p in notebooks]
    for name, result in results.items():
        if name in PYPLOT_DEMOS:
            from test_demos import EXPECTED

            assert result["images"] == len(EXPECTED[name.replace(".ipynb", ".py")]), (name, result)
            continue
        source = (DEMOS / name).with_suffix(".py").read_text()
        figure_cells = [c for c in result["cells"] if c["figure_cell"]]
        assert figure_cells and all(c["images"] == 1 for c in figure_cells), (name, result)
        # one inline image per figure the script writes, no more
        assert result["images"] == source.count(".savefig(") == len(figure_cells), name
    assert len(list((tmp_path / "demo-output").glob("*.png"))) >= 13    # the scripts' PNGs too

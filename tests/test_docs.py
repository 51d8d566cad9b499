"""The documentation runs, and prints what it shows.

Every ```python block of README.md and docs/*.md runs: the blocks of one document in order, in
one namespace, in a fresh Python process and a fresh temporary working directory, with
matplotlib's Agg backend. A ```text block right after a ```python block (only blank lines
between) is what that block prints; it must equal the printed text, after stripping trailing
spaces from every line and trailing blank lines (the convention is stated in docs/README.md).

A block that cannot run has the line `<!-- no-run: REASON -->` right before its fence. There is
one, and `test_no_run_blocks_are_the_listed_ones` keeps this list and the documents in step:

    docs/gradient-checking.md: an API listing, call signatures with placeholder arguments

The worked network of docs/backprop.md#worked-example is checked number by number: every number
in its tables, in its hand-arithmetic lines and in the output of its scratchae block is compared
with `worked_example()` below, the same network computed in plain NumPy without scratchae, and
every number in its tables with scratchae's own pieces, model and Adam.

Module doctests run through pytest's --doctest-modules (setup.cfg's [tool:pytest] addopts).
"""
from __future__ import annotations

import difflib
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md"] + sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))

# =========================================================================================
# Reading a Markdown document: fenced blocks, outputs, no-run markers
# =========================================================================================
FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`]*?)\s*$")
NO_RUN = re.compile(r"^\s*<!--\s*no-run:\s*(.*?)\s*-->\s*$")
NOT_PYTHON = {"py", "python3", "pycon", "ipython"}      # would be skipped silently: refused


@dataclass
class Fenced:
    line: int            # 1-based line of the opening fence
    end: int             # 1-based line of the closing fence
    info: str            # the info string: "python", "text", "" ...
    code: str


@dataclass
class PythonBlock:
    line: int
    code: str
    no_run: str | None = None       # the reason, for a block marked <!-- no-run: ... -->
    output: str | None = None       # the ```text block shown right after it
    output_line: int | None = None


def fenced_blocks(text: str) -> list[Fenced]:
    """The fenced code blocks of a Markdown text (CommonMark fences, up to 3 spaces indented)."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = len(m.group(1)), m.group(2), m.group(3)
        close = re.compile(r"^ {0,3}%s{%d,}\s*$" % (re.escape(fence[0]), len(fence)))
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if j == len(lines):
            raise ValueError(f"line {i + 1}: a ``` block that is never closed")
        body = [l[indent:] if l[:indent].isspace() else l for l in lines[i + 1:j]]
        blocks.append(Fenced(i + 1, j + 1, info, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def python_blocks(text: str) -> list[PythonBlock]:
    """The ```python blocks, each with its no-run reason and the ```text output shown after it."""
    lines = text.splitlines()
    fenced = fenced_blocks(text)
    out = []
    for k, b in enumerate(fenced):
        word = b.info.split()[0] if b.info else ""
        if word in NOT_PYTHON:
            raise ValueError(f"line {b.line}: write ```python (a ```{word} block would never run)")
        before = next((l for l in reversed(lines[:b.line - 1]) if l.strip()), "")
        marker = NO_RUN.match(before)
        if word != "python":
            if marker:
                raise ValueError(f"line {b.line}: a no-run marker before a ```{b.info} block")
            continue
        if marker and not marker.group(1):
            raise ValueError(f"line {b.line - 1}: a no-run marker must give its reason")
        block = PythonBlock(b.line, b.code, marker.group(1) if marker else None)
        if k + 1 < len(fenced):
            nxt = fenced[k + 1]
            between = lines[b.end:nxt.line - 1]
            if nxt.info == "text" and all(not l.strip() for l in between):
                block.output, block.output_line = nxt.code, nxt.line
        out.append(block)
    return out


def normalized(printed: str) -> list[str]:
    """Lines without trailing spaces, without trailing blank lines."""
    lines = [l.rstrip() for l in printed.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def compare_output(shown: str, printed: str) -> str | None:
    """None if `printed` is what the document shows, else a diff (document -> printed)."""
    a, b = normalized(shown), normalized(printed)
    if a == b:
        return None
    return "\n".join(difflib.unified_diff(a, b, "shown in the document", "printed by the block",
                                          lineterm=""))


# The blocks of one document run in a fresh interpreter, as a reader runs them: nothing left by
# other tests (layer name counters, random generators, imported modules) can change what they
# print. It reads [[line, code], ...] as JSON on stdin and writes one result per block it ran.
RUNNER = r"""
import contextlib, io, json, sys, traceback
name, results = sys.argv[1], []
namespace = {"__name__": "__main__"}
for line, code in json.load(sys.stdin):
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"{name} (block at line {line})", "exec"), namespace)
    except BaseException:
        results.append({"line": line, "printed": printed.getvalue(),
                        "error": traceback.format_exc(limit=-4)})
        break
    results.append({"line": line, "printed": printed.getvalue(), "error": None})
sys.__stdout__.write(json.dumps(results))
"""


def run_document(text: str, name: str, workdir: Path) -> tuple[list[str], dict[str, int]]:
    """Run the document's python blocks in order in one namespace, in `workdir`, in a fresh
    interpreter (matplotlib's Agg backend, this checkout's scratchae).

    Returns the failures (messages naming the document and line) and the counts: blocks run,
    outputs compared, blocks not run. The first block that raises stops the document (the
    next ones would fail for want of its names).
    """
    blocks = python_blocks(text)
    runnable = [b for b in blocks if b.no_run is None]
    counts = {"run": 0, "outputs": 0, "no_run": len(blocks) - len(runnable)}
    if not runnable:
        return [], counts
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", RUNNER, name], cwd=workdir, env=env, text=True,
                       input=json.dumps([[b.line, b.code] for b in runnable]),
                       capture_output=True, timeout=300)
    try:
        results = json.loads(r.stdout)
    except ValueError:
        return [f"{name}: the document's code stopped the interpreter (exit {r.returncode})\n"
                f"{r.stdout[-2000:]}{r.stderr[-2000:]}"], counts
    failures = []
    for block, result in zip(runnable, results):
        if result["error"]:
            failures.append(f"{name}:{block.line}: the block raised\n{result['error']}")
            break
        counts["run"] += 1
        if block.output is not None:
            counts["outputs"] += 1
            diff = compare_output(block.output, result["printed"])
            if diff:
                failures.append(f"{name}:{block.output_line}: the output shown is not what "
                                f"the block at line {block.line} prints\n{diff}")
    return failures, counts


# -- the runner itself ----------------------------------------------------------------------
DOC_WITH_OUTPUT = """# A document

Some prose.

```python
x = 6 * 7
print(x)
print("done   ")
```

```text
42
done
```

```python
print(x + 1)       # the same namespace as the block above
```
```text
43
```
"""


def test_compare_output_accepts_trailing_spaces_and_refuses_a_wrong_number(tmp_path):
    assert compare_output("42\ndone\n", "42   \ndone\n\n\n") is None
    diff = compare_output("0.7311\n", "0.7310\n")
    assert diff is not None and "-0.7311" in diff and "+0.7310" in diff
    assert compare_output("a\n", "a\nb\n") is not None          # a missing line is a difference


def test_a_document_that_prints_what_it_shows_passes(tmp_path):
    failures, counts = run_document(DOC_WITH_OUTPUT, "good.md", tmp_path)
    assert failures == [] and counts == {"run": 2, "outputs": 2, "no_run": 0}


def test_a_wrong_number_in_a_document_fails(tmp_path):
    failures, _ = run_document(DOC_WITH_OUTPUT.replace("43", "44"), "bad.md", tmp_path)
    assert len(failures) == 1
    assert failures[0].startswith("bad.md:19: the output shown is not what the block at line 16")
    assert "-44" in failures[0] and "+43" in failures[0]


def test_a_block_that_raises_fails_and_stops_the_document(tmp_path):
    failures, counts = run_document(DOC_WITH_OUTPUT.replace("x = 6 * 7", "x = 6 * y"), "r.md", tmp_path)
    assert len(failures) == 1 and "r.md:5: the block raised" in failures[0]
    assert "NameError" in failures[0] and counts["run"] == 0


def test_markers_and_fences_are_read_strictly(tmp_path):
    doc = "<!-- no-run: needs the network -->\n```python\nraise SystemExit\n```\n"
    failures, counts = run_document(doc, "n.md", tmp_path)
    assert failures == [] and counts == {"run": 0, "outputs": 0, "no_run": 1}
    # prose between a block and a ```text block: that text is not the block's output
    doc = "```python\nprint(1)\n```\nprints\n```text\n2\n```\n"
    assert python_blocks(doc)[0].output is None
    for bad in ["```py\nprint(1)\n```\n", "```python\nprint(1)\n",
                "<!-- no-run: -->\n```python\nx\n```\n", "<!-- no-run: x -->\n```\nx\n```\n"]:
        with pytest.raises(ValueError):
            python_blocks(bad)
    # an indented fence (in a list) is a block too, and a longer fence holds a shorter one
    doc = "* item\n\n   ```python\n   print(2)\n   ```\n````text\n```\n2\n````\n"
    (b,) = python_blocks(doc)
    assert b.code == "print(2)\n" and b.output == "```\n2\n" and b.output_line == 6


def test_blocks_run_in_a_temporary_directory(tmp_path):
    doc = "```python\nopen('made-by-doc.txt', 'w').close()\n```\n"
    assert run_document(doc, "w.md", tmp_path)[0] == []
    assert (tmp_path / "made-by-doc.txt").exists() and not (REPO / "made-by-doc.txt").exists()


# -- the documents --------------------------------------------------------------------------
@pytest.mark.parametrize("name", DOCUMENTS)
def test_document_runs_and_prints_what_it_shows(name, tmp_path):
    failures, _ = run_document((REPO / name).read_text(), name, tmp_path)
    assert not failures, "\n\n".join(failures)


def test_what_the_documents_check():
    """The counts the issue asked for; a block lost from a document (a fence typo) shows here."""
    counts = {name: python_blocks((REPO / name).read_text()) for name in DOCUMENTS}
    run = {n: sum(b.no_run is None for b in bs) for n, bs in counts.items()}
    outputs = {n: sum(b.no_run is None and b.output is not None for b in bs) for n, bs in counts.items()}
    assert run["README.md"] >= 1 and outputs["README.md"] >= 1
    assert run["docs/backprop.md"] >= 4 and outputs["docs/backprop.md"] >= 4
    assert sum(run.values()) >= 6 and sum(outputs.values()) >= 5


def test_no_run_blocks_are_the_listed_ones():
    """Every block marked no-run is in this module's docstring, and every listed one exists."""
    listed = re.findall(r"^    (\S+\.md): (.+)$", __doc__, re.M)
    found = [(name, b.no_run) for name in DOCUMENTS
             for b in python_blocks((REPO / name).read_text()) if b.no_run is not None]
    assert sorted(found) == sorted(listed)
    assert len(found) <= 3, "keep the list of blocks that cannot run tiny"


# =========================================================================================
# Links from the code to the derivations
# =========================================================================================
def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_to_a_derivation_finds_its_section():
    text = (REPO / "docs/backprop.md").read_text()
    anchors = {github_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}
    links = set()
    for path in [*(REPO / "scratchae").rglob("*.py"), *(REPO / "demos").glob("*.py"),
                 REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        links |= set(re.findall(r"backprop\.md#([\w\-]+)", path.read_text()))
    assert links and not links - anchors, f"links to missing sections: {sorted(links - anchors)}"
    # each backward the issue names links to its section
    import scratchae.activations as A, scratchae.layers as La, scratchae.losses as Lo
    import scratchae.optimizers as O, scratchae.regularizers as R
    for doc, anchor in [(A.ReLU.backward, "relu"), (A.Sigmoid.backward, "sigmoid"),
                        (A.Linear.backward, "linear"), (La.Dense.backward, "dense"),
                        (La.Dense.backward_logits, "dense"), (Lo.BinaryCrossentropy, "binary-cross-entropy"),
                        (Lo.BinaryCrossentropy._backward, "fused-sigmoid-and-bce"),
                        (Lo.MeanSquaredError, "mse"), (Lo.MeanSquaredError._backward, "mse"),
                        (R.L1.gradient, "l1-penalty"), (R.L2.gradient, "l2-penalty"),
                        (O.Adam, "adam"), (O.SGD, "sgd")]:
        assert f"docs/backprop.md#{anchor}" in doc.__doc__, doc.__qualname__


def test_github_anchor():
    assert github_anchor("Fused sigmoid and BCE") == "fused-sigmoid-and-bce"
    assert github_anchor("L1 penalty (activity)") == "l1-penalty-activity"


# =========================================================================================
# The worked network of docs/backprop.md, by hand in plain NumPy (no scratchae here)
# =========================================================================================
def worked_example() -> dict[str, np.ndarray]:
    """Every quantity of docs/backprop.md#worked-example, from the formulas alone.

    A 4-2-4 autoencoder: z1 = x W1 + b1, h = relu(z1) with an L1 penalty 0.05 sum|h|,
    z2 = h W2 + b2, p = sigmoid(z2), BCE(p, x) as the mean over the 2 x 4 elements; then one
    Adam step (learning rate 0.01, Keras's defaults otherwise) from zero moments.
    """
    x = np.array([[1.0, 0.0, 1.0, 0.0],
                  [0.0, 1.0, 0.5, 0.5]])
    W1 = np.array([[0.5, -0.3], [-0.2, 0.4], [0.3, 0.1], [0.1, 0.2]])
    b1 = np.array([0.2, -0.1])
    W2 = np.array([[0.5, -0.5, 0.5, -0.5], [-0.4, 0.6, 0.2, 0.8]])
    b2 = np.array([0.0, 0.1, 0.0, -0.1])
    lam, lr, beta_1, beta_2, eps = 0.05, 0.01, 0.9, 0.999, 1e-7
    N, D = x.shape

    r = {"x": x}
    # forward, one element at a time where a student would
    z1 = np.array([[sum(x[n, i] * W1[i, j] for i in range(4)) + b1[j] for j in range(2)]
                   for n in range(N)])
    h = np.where(z1 > 0, z1, 0.0)
    z2 = np.array([[sum(h[n, i] * W2[i, j] for i in range(2)) + b2[j] for j in range(4)]
                   for n in range(N)])
    p = 1.0 / (1.0 + np.exp(-z2))
    l = -(x * np.log(p) + (1 - x) * np.log(1 - p))
    bce = l.sum() / (N * D)
    penalty = lam * np.abs(h).sum()
    r.update(z1=z1, h=h, z2=z2, p=p, l=l, BCE=np.array(bce), penalty=np.array(penalty),
             L=np.array(bce + penalty))
    # backward
    dz2 = (p - x) / (N * D)
    dW2 = np.array([[sum(h[n, i] * dz2[n, j] for n in range(N)) for j in range(4)] for i in range(2)])
    db2 = np.array([sum(dz2[n, j] for n in range(N)) for j in range(4)])
    dh = np.array([[sum(dz2[n, j] * W2[i, j] for j in range(4)) for i in range(2)] for n in range(N)])
    dpen = lam * np.sign(h)
    dh_total = dh + dpen
    dz1 = np.where(z1 > 0, dh_total, 0.0)
    dW1 = np.array([[sum(x[n, i] * dz1[n, j] for n in range(N)) for j in range(2)] for i in range(4)])
    db1 = np.array([sum(dz1[n, j] for n in range(N)) for j in range(2)])
    r.update(dz2=dz2, dW2=dW2, db2=db2, dh=dh, dpen=dpen, dh_total=dh_total, dz1=dz1,
             dW1=dW1, db1=db1)
    # one Adam step, t = 1, in Keras's form
    a_1 = lr * math.sqrt(1 - beta_2) / (1 - beta_1)
    r["a_1"] = np.array(a_1)
    for name, w, g in [("W1", W1, dW1), ("b1", b1, db1), ("W2", W2, dW2), ("b2", b2, db2)]:
        m = (1 - beta_1) * g
        v = (1 - beta_2) * g ** 2
        step = a_1 * m / (np.sqrt(v) + eps)
        r.update({f"{name}": w, f"g_{name}": g, f"m_{name}": m, f"v_{name}": v,
                  f"step_{name}": step, f"new_{name}": w - step})
    return {k: np.asarray(v, dtype=np.float64) + 0.0 for k, v in r.items()}   # -0.0 -> 0.0


def fmt(v: float) -> str:
    """4 significant digits, trailing zeros kept: 1.000, -0.3000, 0.04719, 1.000e-05."""
    s = f"{float(v) + 0.0:#.4g}"
    return s[:-1] if s.endswith(".") else s


KEY = re.compile(r"^([A-Za-z_]\w*)(?:\[(\d+)(?:,(\d+|:))?\])?$")


def lookup(ref: dict[str, np.ndarray], key: str) -> np.ndarray:
    """ref["z1"][0, :] for "z1[0,:]", ref["b1"][1] for "b1[1]", ref["L"] for "L"."""
    m = KEY.match(key)
    if not m or m.group(1) not in ref:
        raise KeyError(key)
    a = ref[m.group(1)]
    if m.group(2) is not None:
        a = a[int(m.group(2))]
        if m.group(3) not in (None, ":"):
            a = a[int(m.group(3))]
    return np.atleast_1d(a)


def worked_section() -> tuple[str, int]:
    """The text of docs/backprop.md's worked example and the line it starts on."""
    text = (REPO / "docs/backprop.md").read_text()
    m = re.search(r"^## Worked example\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, "docs/backprop.md has no '## Worked example' section"
    return m.group(0), text[:m.start()].count("\n") + 1


@dataclass
class Printed:
    where: str           # "table", "output" or "arithmetic"
    line: int
    key: str             # what it is: "z1[0,:]", "m_W1[0,0]", ...
    cells: list[str]     # the numbers as printed


def worked_numbers() -> list[Printed]:
    """Every number the worked example prints, with what it claims to be.

    Tables: the first header cell is "row" (each row names a row of a quantity, e.g. `dW1[2,:]`)
    or "parameter" (one Adam table row per parameter element, columns g, m, v, step, new).
    Output of the scratchae blocks: lines `KEY  numbers...`. Hand arithmetic (```text blocks):
    lines `KEY = expression = ... = number`, checked by `test_worked_arithmetic`.
    """
    section, start = worked_section()
    lines = section.splitlines()
    out: list[Printed] = []
    header: list[str] | None = None
    in_block = None
    for i, raw in enumerate(lines):
        ln = start + i
        f = FENCE.match(raw)
        if f:
            in_block = None if in_block is not None else f.group(3)
            continue
        if in_block == "text":
            parts = raw.split()
            if len(parts) >= 2 and KEY.match(parts[0]) and all(map(_is_number, parts[1:])):
                out.append(Printed("output", ln, parts[0], parts[1:]))
            elif len(parts) >= 3 and parts[1] == "=":
                out.append(Printed("arithmetic", ln, parts[0], [raw.rsplit("=", 1)[1].strip()]))
            continue
        if in_block is not None or not raw.startswith("|"):
            header = None if not raw.startswith("|") else header
            continue
        cells = [c.strip().strip("`") for c in raw.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if set("".join(cells)) <= set("-: "):
            continue
        if header[0] == "row":
            out.append(Printed("table", ln, cells[0], cells[1:]))
        elif header[0] == "parameter":
            for col, cell in zip(header[1:], cells[1:]):
                key = cells[0] if col == "value" else f"{col}_{cells[0]}"
                out.append(Printed("table", ln, key, [cell]))
        else:
            raise ValueError(f"docs/backprop.md:{ln}: a table of the worked example must start "
                             f"with a 'row' or 'parameter' column, not {header[0]!r}")
    return out


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def reference():
    return worked_example()


def test_the_reference_is_what_the_issue_asked_for(reference):
    """No code unit exactly at 0, one negative before the ReLU: the mask matters."""
    z1 = reference["z1"]
    assert np.all(z1 != 0) and (z1[0] < 0).any() and not (z1[1] < 0).any()
    assert reference["dh"][0, 1] != 0 and reference["dz1"][0, 1] == 0     # stopped by the mask
    assert 0.5 < float(reference["BCE"]) < 1 and reference["p"].shape == (2, 4)


def test_worked_numbers_match_the_independent_computation(reference):
    rows = worked_numbers()
    wrong = []
    for r in rows:
        if r.where == "arithmetic":
            continue
        want = [fmt(v) for v in lookup(reference, r.key)]
        if r.cells != want:
            wrong.append(f"docs/backprop.md:{r.line} ({r.where}) {r.key}: shows {r.cells}, "
                         f"computed {want}")
    assert not wrong, "\n".join(wrong)
    # everything computed is shown, in a table and in scratchae's output
    for where in ("table", "output"):
        shown = {KEY.match(r.key).group(1) for r in rows if r.where == where}
        hidden = set(reference) - shown - {"x", "W1", "b1", "W2", "b2"}
        if where == "output":       # the Adam table's columns are printed as the new weights only
            hidden -= {f"{c}_{p}" for c in ("g", "m", "v", "step") for p in ("W1", "b1", "W2", "b2")}
            hidden -= {"l", "dh_total"}
        assert not hidden, f"not shown in a {where}: {sorted(hidden)}"


def _half_unit(cell: str) -> float:
    """Half a unit in the last printed digit of a 4-significant-digit number."""
    v = abs(float(cell))
    return 0.0 if v == 0 else 0.5 * 10 ** (math.floor(math.log10(v)) - 3) * (1 + 1e-9)


def scratchae_worked_example(reference) -> dict[str, np.ndarray]:
    """The same quantities from scratchae's pieces, model (compute_gradients) and Adam."""
    from scratchae.layers import Dense, Input
    from scratchae.losses import BinaryCrossentropy
    from scratchae.models import Model
    from scratchae.optimizers import Adam
    from scratchae.regularizers import l1

    x = reference["x"]
    weights = [reference[k].copy() for k in ("W1", "b1", "W2", "b2")]
    inputs = Input(shape=(4,), dtype="float64")
    enc = Dense(2, activation="relu", activity_regularizer=l1(0.05), dtype="float64")
    dec = Dense(4, activation="sigmoid", dtype="float64")
    model = Model(inputs, dec(enc(inputs)))
    model.set_weights(weights)
    model.compile(optimizer=Adam(learning_rate=0.01), loss="binary_crossentropy",
                  pack_parameters=False)
    s = {"x": x}
    h = enc.forward(x)
    p = dec.forward(h)
    bce_unfused = BinaryCrossentropy()
    s.update(z1=enc.logits.copy(), h=h, z2=dec.logits.copy(), p=p,
             BCE=np.array(bce_unfused.forward(p, x)), penalty=np.array(enc.penalty))
    # l: the unreduced loss, from the library's loss on one element at a time, times N D / (N D)
    s["l"] = np.array([[BinaryCrossentropy()(x[n:n + 1, j:j + 1], p[n:n + 1, j:j + 1])
                        for j in range(4)] for n in range(2)])
    dz2 = BinaryCrossentropy(from_logits=True).value_and_grad(dec.logits, x)[1]
    dh = dec.backward_logits(dz2)
    dpen = enc.activity_regularizer.backward()
    dz1 = enc.activation.backward(dh + dpen)
    enc.backward_logits(dz1)
    s.update(dz2=dz2, dh=dh, dpen=dpen, dh_total=dh + dpen, dz1=dz1)
    value, grads = model.compute_gradients(x, x)
    s.update(L=np.array(value), dW1=grads[f"{enc.name}/kernel"], db1=grads[f"{enc.name}/bias"],
             dW2=grads[f"{dec.name}/kernel"], db2=grads[f"{dec.name}/bias"])
    model.train_on_batch(x, x)
    opt = model.optimizer
    s["a_1"] = np.array(opt.step_size(1))
    new = model.get_weights()
    for k, (name, key) in enumerate([("W1", f"{enc.name}/kernel"), ("b1", f"{enc.name}/bias"),
                                     ("W2", f"{dec.name}/kernel"), ("b2", f"{dec.name}/bias")]):
        s.update({name: weights[k], f"g_{name}": grads[key], f"m_{name}": opt.momentums[key],
                  f"v_{name}": opt.velocities[key], f"step_{name}": weights[k] - new[k],
                  f"new_{name}": new[k]})
    return s


def test_worked_numbers_match_scratchae(reference):
    """Each number shown is scratchae's, to half a unit in its last digit."""
    ours = scratchae_worked_example(reference)
    assert set(ours) == set(reference)
    wrong = []
    for r in worked_numbers():
        if r.where != "table":
            continue
        for cell, v in zip(r.cells, lookup(ours, r.key)):
            if abs(float(cell) - v) > _half_unit(cell):
                wrong.append(f"docs/backprop.md:{r.line} {r.key}: shows {cell}, scratchae gives {v!r}")
    assert not wrong, "\n".join(wrong)


ARITHMETIC_NAMES = {"exp": math.exp, "log": math.log, "sqrt": math.sqrt, "max": max,
                    "sign": lambda v: float(np.sign(v))}


def test_worked_arithmetic(reference):
    """Lines `KEY = expr = ... = number`: every expression evaluates to the number (to the
    rounding of the 4-digit numbers it uses) and the number is the reference's value of KEY."""
    rows = [r for r in worked_numbers() if r.where == "arithmetic"]
    section, start = worked_section()
    lines = section.splitlines()
    assert len(rows) >= 8, "the worked example shows its arithmetic"
    wrong = []
    for r in rows:
        line = lines[r.line - start]
        key, *exprs, final = [part.strip() for part in line.split("=")]
        want = fmt(lookup(reference, key)[0])
        if final != want:
            wrong.append(f"docs/backprop.md:{r.line} {key}: ends in {final}, computed {want}")
        for expr in exprs:         # names (p[0,0]) are the exact values, numbers are rounded
            v = eval(expr.replace("^", "**"), {"__builtins__": {}}, {**ARITHMETIC_NAMES, **reference})
            if not math.isclose(v, float(final), rel_tol=2e-3, abs_tol=2e-5):
                wrong.append(f"docs/backprop.md:{r.line} {key}: '{expr}' is {v:.6g}, not {final}")
    assert not wrong, "\n".join(wrong)


def test_worked_number_checks_can_fail(reference):
    """The checks above on a copy of the reference with one number changed."""
    bad = dict(reference)
    bad["dz1"] = reference["dz1"].copy()
    bad["dz1"][1, 0] *= 1.01
    rows = [r for r in worked_numbers() if r.key.startswith("dz1[1") and r.where == "table"]
    assert rows and any(r.cells != [fmt(v) for v in lookup(bad, r.key)] for r in rows)
    assert fmt(0.047192) == "0.04719" and fmt(1.0) == "1.000" and fmt(-0.0) == "0.000"
    assert fmt(2.7e-05) == "2.700e-05" and _half_unit("0.04719") == pytest.approx(5e-6)

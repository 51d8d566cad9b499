"""The LaTeX of docs/backprop.md: beside its plain-text lines, in every key section, and well
formed as far as can be told without TeX.

docs/backprop.md gives its key formulas twice: as plain text (indented lines a terminal shows)
and, right under them, in LaTeX, in blocks fenced as `math` (GitHub renders them; a slide takes
them as they are). `$$ ... $$` display blocks are read too, wherever a document has them. Here:

* every `$$` is closed, and every math block sits right under the plain lines it repeats;
* each section the issue names has LaTeX, and for each, chosen lines of the plain text and the
  LaTeX that says the same (`PAIRS`, read side by side when written: signs, transposes, the
  1/(N D)) are both there, so neither can change alone;
* the LaTeX parses as far as a checker without TeX can see (`latex_problems`): braces balanced,
  \\frac with two groups, \\begin/\\end and \\left/\\right paired, no double superscript, known
  commands only (`COMMANDS`), `&` and `\\\\` only inside an environment, ASCII only (no
  Unicode minus, no ∂ or · pasted from the plain text). `test_the_checker_catches_broken_latex`
  shows each rule failing on a broken formula. (\\frac's groups must be braced, although TeX
  takes \\frac12: a slide's reader should not have to know that.)
* matplotlib's mathtext, a real parser of a subset of TeX, parses every block without an
  environment.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

from test_docs import DOCUMENTS, fenced_blocks

REPO = Path(__file__).resolve().parents[1]
BACKPROP = "docs/backprop.md"

#: The sections of docs/backprop.md that must have LaTeX (the issue's list, and the exercises').
SECTIONS = ["Notation", "Dense", "ReLU", "Sigmoid", "Binary cross-entropy", "Fused sigmoid and BCE",
            "L1 penalty", "L2 penalty", "KL sparsity", "MSE", "The contractive penalty", "Adam",
            "The variational autoencoder's sampling and KL", "t-SNE", "Conv2D",
            "MaxPooling2D and UpSampling2D"]


@dataclass
class Math:
    line: int            # 1-based line of the opening fence or $$
    section: str         # the '## ' heading above it
    tex: str
    kind: str            # "fence" or "$$"


def section_names(lines: list[str]) -> list[str]:
    """The '## ' section each line is in ('' before the first)."""
    out, current = [], ""
    for line in lines:
        if line.startswith("## "):
            current = line[3:].strip()
        out.append(current)
    return out


def math_blocks(text: str) -> list[Math]:
    """Every display-math block: ```math fences, and `$$ ... $$` outside fenced code (a `$$`
    never closed before a blank line, a heading or the end is a ValueError naming its line)."""
    lines = text.splitlines()
    sections = section_names(lines)
    fenced = fenced_blocks(text)
    blocks = [Math(b.line, sections[b.line - 1], b.code, "fence") for b in fenced
              if b.info.split()[:1] == ["math"]]
    in_code = {i for b in fenced for i in range(b.line - 1, b.end)}
    i = 0
    while i < len(lines):
        if i in in_code:
            i += 1
            continue
        prose = re.sub(r"`+[^`]*`+", "", lines[i])          # inline code holds no math
        start = prose.find("$$")
        if start < 0:
            i += 1
            continue
        rest, body, j = prose[start + 2:], [], i
        while "$$" not in rest:
            body.append(rest)
            j += 1
            if j == len(lines) or not lines[j].strip() or lines[j].startswith("#") or j in in_code:
                raise ValueError(f"line {i + 1}: a $$ block that is never closed")
            rest = lines[j]
        end = rest.index("$$")
        body.append(rest[:end])
        blocks.append(Math(i + 1, sections[i], "\n".join(body), "$$"))
        if "$$" in rest[end + 2:]:
            raise ValueError(f"line {j + 1}: a second $$ block on the line that closes one: "
                             "give each display block its own lines")
        i = j + 1
    return sorted(blocks, key=lambda b: b.line)


# -- a checker of LaTeX without TeX -----------------------------------------------------------
#: The commands the LaTeX may use (KaTeX and MathJax know every one).
COMMANDS = {
    "frac", "dfrac", "tfrac", "sqrt", "partial", "sum", "prod", "max", "min", "arg", "log", "exp",
    "mathrm", "mathit", "mathbb", "mathcal", "text", "operatorname", "hat", "bar", "tilde",
    "left", "right", "bigl", "bigr", "Bigl", "Bigr", "begin", "end", "substack", "phantom",
    "qquad", "quad", ",", ";", "!", " ", "|", "{", "}", "\\",
    "times", "cdot", "odot", "to", "top", "leftarrow", "rightarrow", "le", "ge", "leq", "geq",
    "neq", "ne", "sim", "approx", "in", "infty", "ldots", "cdots",
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "lambda", "mu", "rho", "sigma",
    "theta", "tau", "pi",
}
FRACTIONS = {"frac", "dfrac", "tfrac"}
ENVIRONMENTS = {"aligned", "cases", "array", "matrix", "pmatrix", "bmatrix"}
DELIMITERS = {"(", ")", "[", "]", ".", "|", "\\{", "\\}", "\\|", "\\langle", "\\rangle"}
TOKEN = re.compile(r"\\([A-Za-z]+|.)|\s+|.", re.S)


def tokens(tex: str) -> list[str]:
    """Commands ('\\frac', '\\,'), single characters; runs of white space dropped."""
    return [m.group(0) for m in TOKEN.finditer(tex) if not m.group(0).isspace()]


def _group_end(toks: list[str], i: int) -> int | None:
    """Index just past the group opening at toks[i] == '{' (None if it never closes)."""
    depth = 0
    for j in range(i, len(toks)):
        depth += {"{": 1, "}": -1}.get(toks[j], 0)
        if depth == 0:
            return j + 1
    return None


def _argument(toks: list[str], i: int) -> int | None:
    """Index just past the argument starting at toks[i] (a group or one token), None if none."""
    if i >= len(toks) or toks[i] in ("}", "^", "_", "&", "\\\\"):
        return None
    return _group_end(toks, i) if toks[i] == "{" else i + 1


def latex_problems(tex: str) -> list[str]:
    """What is wrong with one display formula, as far as can be told without TeX; [] if nothing."""
    problems = []
    for ch in sorted(set(tex)):
        if ord(ch) > 127:
            problems.append(f"non-ASCII character {ch!r} ({unicodedata.name(ch, 'unnamed')}): "
                            + ("write - for a minus" if ch in "\u2212\u2013\u2014" else "write it as a command"))
    if "$" in tex:
        problems.append("a $ inside display math (the block is math already)")
    toks = tokens(tex)
    if not toks:
        return problems + ["an empty formula"]
    depth = 0
    for t in toks:
        depth += {"{": 1, "}": -1}.get(t, 0)
        if depth < 0:
            return problems + ["a } that closes no {"]
    if depth:
        return problems + [f"{depth} {{ never closed"]
    envs: list[str] = []
    stacked = {j for i, t in enumerate(toks) if t == "\\substack" and i + 1 < len(toks) and toks[i + 1] == "{"
               for j in range(i + 1, _group_end(toks, i + 1) or len(toks))}     # rows of a \substack
    lefts: list[int] = [0]
    bigs: list[int] = [0]
    for i, t in enumerate(toks):
        name = t[1:] if t.startswith("\\") else None
        if name is not None and name not in COMMANDS:
            problems.append(f"unknown command {t}")
        if name in FRACTIONS:
            first = _argument(toks, i + 1)
            if first is None or toks[i + 1] != "{" or _argument(toks, first) is None or toks[first] != "{":
                problems.append(f"{t} needs two groups: {t}{{numerator}}{{denominator}}")
        elif name == "sqrt":
            if i + 1 >= len(toks) or toks[i + 1] not in ("{", "["):
                problems.append("\\sqrt needs a group: \\sqrt{...}")
        elif name in ("begin", "end"):
            close = _group_end(toks, i + 1) if i + 1 < len(toks) and toks[i + 1] == "{" else None
            m = re.fullmatch(r"\{(\w+\*?)\}", "".join(toks[i + 1:close])) if close else None
            if not m or m.group(1) not in ENVIRONMENTS:
                problems.append(f"{t} needs a known environment ({', '.join(sorted(ENVIRONMENTS))})")
                continue
            if name == "begin":
                envs.append(m.group(1))
                lefts.append(0)
                bigs.append(0)
            elif not envs or envs[-1] != m.group(1):
                problems.append(f"\\end{{{m.group(1)}}} closes " + (f"\\begin{{{envs[-1]}}}" if envs else "nothing"))
            else:
                envs.pop()
                if lefts.pop():
                    problems.append(f"a \\left without its \\right in {m.group(1)}")
                bigs.pop()
        elif name in ("left", "right"):
            delim = toks[i + 1] if i + 1 < len(toks) else ""
            if delim not in DELIMITERS:
                problems.append(f"{t} needs a delimiter after it, got {delim or 'nothing'!r}")
            lefts[-1] += 1 if name == "left" else -1
            if lefts[-1] < 0:
                problems.append("a \\right without its \\left")
                lefts[-1] = 0
        elif name in ("bigl", "Bigl", "bigr", "Bigr"):
            bigs[-1] += 1 if name.endswith("l") else -1
            if bigs[-1] < 0:
                problems.append(f"a {t} without its left-hand partner")
                bigs[-1] = 0
        elif t in ("&", "\\\\") and not envs and not (t == "\\\\" and i in stacked):
            problems.append(f"{t} outside an environment (aligned, cases, ...)")
    if envs:
        problems.append(f"\\begin{{{envs[-1]}}} never ended")
    if lefts[0]:
        problems.append("a \\left without its \\right")
    if bigs[0]:
        problems.append("a \\bigl (\\Bigl) without its \\bigr (\\Bigr)")
    problems += _script_problems(toks)
    return problems


def _script_problems(toks: list[str]) -> list[str]:
    """Double superscripts or subscripts (x^a^b: a TeX error), and a ^ or _ with nothing after."""
    problems, seen, i = [], set(), 0
    while i < len(toks):
        t = toks[i]
        if t in ("^", "_"):
            if t in seen:
                problems.append(f"double {'superscript' if t == '^' else 'subscript'}: group them, x^{{a b}}")
            seen.add(t)
            end = _argument(toks, i + 1)
            if end is None:
                problems.append(f"{t} with nothing after it")
                i += 1
                continue
            if toks[i + 1] == "{":
                problems += _script_problems(toks[i + 2:end - 1])
            i = end
            continue
        if t == "{":
            end = _group_end(toks, i) or len(toks)
            problems += _script_problems(toks[i + 1:end - 1])
            i = end
        else:
            i += 1
        if t != "'":
            seen = set()                     # a new atom: its scripts start afresh
    return problems


# -- the tests ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def backprop() -> str:
    return (REPO / BACKPROP).read_text()


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_math_block_is_closed_and_parses(name):
    text = (REPO / name).read_text()
    blocks = math_blocks(text)                 # raises on a $$ never closed
    bad = [f"{name}:{b.line}: {p}" for b in blocks for p in latex_problems(b.tex)]
    assert not bad, "\n".join(bad)


def test_each_key_section_has_latex(backprop):
    headings = re.findall(r"^## (.+)$", backprop, re.M)
    assert set(SECTIONS) <= set(headings), set(SECTIONS) - set(headings)
    found = {b.section for b in math_blocks(backprop)}
    assert not set(SECTIONS) - found, f"sections without LaTeX: {sorted(set(SECTIONS) - found)}"
    assert len(math_blocks(backprop)) >= 40


def misplaced(text: str) -> list[str]:
    """The math blocks with no plain-text formula right above them (blank lines apart): an
    indented line, or another math block that sits under one."""
    lines = text.splitlines()
    blocks = math_blocks(text)
    ends = {b.line + b.tex.count("\n") + 1: b for b in blocks if b.kind == "fence"}   # closing fence line
    wrong = []
    for b in blocks:
        k = b.line - 2
        while k >= 0 and not lines[k].strip():
            k -= 1
        while k + 1 in ends:                     # a block right under another block
            k = ends[k + 1].line - 2
            while k >= 0 and not lines[k].strip():
                k -= 1
        if k < 0 or not lines[k].startswith("    "):
            wrong.append(f"line {b.line}: above it {lines[k] if k >= 0 else ''!r}, not a plain-text formula")
    return wrong


def test_each_latex_block_sits_under_the_plain_lines_it_repeats(backprop):
    """The plain text stays, and each LaTeX block is beside the lines it repeats."""
    assert misplaced(backprop) == []
    doc = "## S\n\n    y = 2 x\n\n```math\ny = 2x\n```\n\n```math\nz\n```\n\nProse.\n\n```math\nw\n```\n"
    assert misplaced(doc) == ["line 15: above it 'Prose.', not a plain-text formula"]


def inline_math(text: str) -> list[tuple[int, str]]:
    """The inline $...$ formulas of the prose (outside fenced code and code spans)."""
    fenced = fenced_blocks(text)
    in_code = {i for b in fenced for i in range(b.line - 1, b.end)}
    found = []
    for i, line in enumerate(text.splitlines()):
        if i in in_code or line.startswith("    "):
            continue
        prose = re.sub(r"`+[^`]*`+", "", line).replace("$$", "")
        found += [(i + 1, m) for m in re.findall(r"\$([^$]+)\$", prose)]
    return found


def test_inline_math_parses(backprop):
    found = inline_math(backprop)
    assert len(found) >= 5
    bad = [f"{BACKPROP}:{line}: {p}" for line, tex in found for p in latex_problems(tex)]
    assert not bad, "\n".join(bad)
    assert inline_math("a `$x$` and $\\frac{1}{2}$\n") == [(1, "\\frac{1}{2}")]


#: (section, a plain-text line's words, the LaTeX that says the same), each pair read side by
#: side when written. White space is not compared.
PAIRS = [
    ("Dense", "z[m, j] = sum_i x[m, i] W[i, j] + b[j]", r"z_{mj} = \sum_i x_{mi} W_{ij} + b_j"),
    ("Dense", "dL/dW[i, k] = sum_{m, j} dz[m, j] x[m, i] δ(j, k) = sum_m x[m, i] dz[m, k]",
     r"\frac{\partial L}{\partial W_{ik}} = \sum_m x_{mi}\, \mathrm{d}z_{mk}"),
    ("Dense", "dW = x^T . dz            (I, N) . (N, J) -> (I, J)",
     r"\mathrm{d}W = x^\top \mathrm{d}z \qquad (I \times N)(N \times J) \to (I \times J)"),
    ("Dense", "dL/db[k] = sum_{m, j} dz[m, j] δ(j, k) = sum_m dz[m, k]",
     r"\frac{\partial L}{\partial b_k} = \sum_{m,j} \mathrm{d}z_{mj}\, \delta_{jk} = \sum_m \mathrm{d}z_{mk}"),
    ("Dense", "dL/dx[n, i] = sum_{m, j} dz[m, j] δ(m, n) W[i, j] = sum_j dz[n, j] W[i, j]",
     r"\frac{\partial L}{\partial x_{ni}} = \sum_j \mathrm{d}z_{nj} W_{ij}"),
    ("Dense", "dx = dz . W^T            (N, J) . (J, I) -> (N, I)",
     r"\mathrm{d}x = \mathrm{d}z\, W^\top \qquad (N \times J)(J \times I) \to (N \times I)"),
    ("ReLU", "relu'(x) = 1 if x > 0, 0 if x < 0", r"\begin{cases} 1 & x > 0 \\ 0 & x < 0 \end{cases}"),
    ("ReLU", "dx = dy * (x > 0)", r"\mathrm{d}x = \mathrm{d}y \odot [x > 0]"),
    ("Sigmoid", "s'(x) = e^(-x) / (1 + e^(-x))^2", r"s'(x) = \frac{e^{-x}}{(1 + e^{-x})^2}"),
    ("Sigmoid", "= s(x) * (1 - s(x))", r"= s(x)\,\bigl(1 - s(x)\bigr)"),
    ("Sigmoid", "dx = dy * y * (1 - y)", r"\mathrm{d}x = \mathrm{d}y \odot y \odot (1 - y)"),
    ("Binary cross-entropy", "L = -(1 / (N D)) sum_{n, j} [ y[n, j] log p[n, j] + (1 - y[n, j]) log(1 - p[n, j]) ]",
     r"L = -\frac{1}{ND} \sum_{n,j} \Bigl[ y_{nj} \log p_{nj} + (1 - y_{nj}) \log(1 - p_{nj}) \Bigr]"),
    ("Binary cross-entropy", "dL/dp[n, j] = -(1 / (N D)) [ y / p - (1 - y) / (1 - p) ]",
     r"\frac{\partial L}{\partial p_{nj}} = -\frac{1}{ND} \left[ \frac{y}{p} - \frac{1 - y}{1 - p} \right]"),
    ("Binary cross-entropy", "= (1 / (N D)) (p - y) / (p (1 - p))", r"= \frac{1}{ND}\, \frac{p - y}{p\,(1 - p)}"),
    ("Binary cross-entropy", "dL/dp[n, j] = (1 / (N D)) (q - y) / (q (1 - q))      where eps < p < 1 - eps",
     r"\dfrac{1}{ND}\, \dfrac{q - y}{q\,(1 - q)} & \epsilon < p < 1 - \epsilon"),
    ("Fused sigmoid and BCE", "= (1 / (N D)) (p - y) / (p (1 - p))  *  p (1 - p)",
     r"= \frac{1}{ND}\, \frac{p - y}{p\,(1 - p)} \cdot p\,(1 - p)"),
    ("Fused sigmoid and BCE", "= (p - y) / (N D)", r"= \frac{p - y}{ND}"),
    ("Fused sigmoid and BCE", "-[y log p + (1 - y) log(1 - p)] = y softplus(-z) + (1 - y) softplus(z)",
     r"-\bigl[ y \log p + (1 - y) \log(1 - p) \bigr] = y \operatorname{softplus}(-z) + (1 - y) \operatorname{softplus}(z)"),
    ("Fused sigmoid and BCE", "= softplus(z) - y z", r"= \operatorname{softplus}(z) - y z"),
    ("Fused sigmoid and BCE", "softplus(z) = max(z, 0) + log(1 + e^(-|z|))",
     r"\operatorname{softplus}(z) = \max(z, 0) + \log\bigl(1 + e^{-|z|}\bigr)"),
    ("L1 penalty", "P = lam * sum_{n, j} |h[n, j]|", r"P = \lambda \sum_{n,j} |h_{nj}|"),
    ("L1 penalty", "dP/dh[n, j] = lam * sign(h[n, j])",
     r"\frac{\partial P}{\partial h_{nj}} = \lambda \operatorname{sign}(h_{nj})"),
    ("L1 penalty", "dP_new/dh = (lam / N) * sign(h)",
     r"\frac{\partial P_{\text{new}}}{\partial h} = \frac{\lambda}{N} \operatorname{sign}(h)"),
    ("L2 penalty", "dP/dh = 2 * lam * h", r"\frac{\partial P}{\partial h} = 2 \lambda h"),
    ("KL sparsity", "rho_hat[j] = (1/N) sum_n h[n, j]", r"\hat\rho_j = \frac{1}{N} \sum_n h_{nj}"),
    ("KL sparsity", "KL(rho || q) = rho log(rho / q) + (1 - rho) log((1 - rho) / (1 - q))",
     r"\mathrm{KL}(\rho \,\|\, q) = \rho \log\frac{\rho}{q} + (1 - \rho) \log\frac{1 - \rho}{1 - q}"),
    ("KL sparsity", "dKL/dq = -rho / q + (1 - rho) / (1 - q)",
     r"\frac{\mathrm{d}\,\mathrm{KL}}{\mathrm{d}q} = -\frac{\rho}{q} + \frac{1 - \rho}{1 - q}"),
    ("KL sparsity", "= (beta / N) * ( -rho / rho_hat[j] + (1 - rho) / (1 - rho_hat[j]) )",
     r"= \frac{\beta}{N} \left( -\frac{\rho}{\hat\rho_j} + \frac{1 - \rho}{1 - \hat\rho_j} \right)"),
    ("MSE", "dL/dp = 2 (p - y) / (N D)", r"\frac{\partial L}{\partial p} = \frac{2\,(p - y)}{ND}"),
    ("The contractive penalty", "J_n[j, i] = ∂h[n, j]/∂x[n, i] = h[n, j] (1 - h[n, j]) W[i, j]",
     r"(J_n)_{ji} = \frac{\partial h_{nj}}{\partial x_{ni}} = h_{nj}\,(1 - h_{nj})\, W_{ij}"),
    ("The contractive penalty", "P = k sum_{n, j} s[n, j]^2 c[j]", r"P = k \sum_{n,j} s_{nj}^2\, c_j"),
    ("The contractive penalty", "dz           = dy * s + 2 k c s^2 (1 - 2 h)",
     r"\mathrm{d}z_{nj} &= \mathrm{d}y_{nj}\, s_{nj} + 2k\, c_j\, s_{nj}^2\, (1 - 2 h_{nj})"),
    ("The contractive penalty", "dL/dW        = x^T . dz + 2 k W * (sum_n s^2)",
     r"\frac{\partial L}{\partial W_{ij}} &= \sum_n x_{ni}\, \mathrm{d}z_{nj} + 2k\, W_{ij} \sum_n s_{nj}^2"),
    ("The contractive penalty", "dL/dx        = dz . W^T", r"\frac{\partial L}{\partial x} &= \mathrm{d}z\, W^\top"),
    ("Adam", "m <- beta_1 m + (1 - beta_1) g", r"m \leftarrow \beta_1 m + (1 - \beta_1)\, g"),
    ("Adam", "v <- beta_2 v + (1 - beta_2) g^2", r"v \leftarrow \beta_2 v + (1 - \beta_2)\, g^2"),
    ("Adam", "m_t = (1 - beta_1) sum_{k=1..t} beta_1^(t-k) g_k", r"m_t = (1 - \beta_1) \sum_{k=1}^{t} \beta_1^{t-k} g_k"),
    ("Adam", "m_hat = m_t / (1 - beta_1^t)            v_hat = v_t / (1 - beta_2^t)",
     r"\hat m = \frac{m_t}{1 - \beta_1^t} \qquad \hat v = \frac{v_t}{1 - \beta_2^t}"),
    ("Adam", "param <- param - lr * m_hat / (sqrt(v_hat) + eps)",
     r"\theta \leftarrow \theta - \mathrm{lr}\, \frac{\hat m}{\sqrt{\hat v} + \epsilon}"),
    ("Adam", "a_t   = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)",
     r"a_t = \mathrm{lr}\, \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}"),
    ("Adam", "param <- param - a_t * m_t / (sqrt(v_t) + eps_hat)",
     r"\theta \leftarrow \theta - a_t\, \frac{m_t}{\sqrt{v_t} + \hat\epsilon}"),
    ("Adam", "eps = eps_hat / sqrt(1 - beta_2^t)", r"\epsilon = \frac{\hat\epsilon}{\sqrt{1 - \beta_2^t}}"),
    ("Adam", "= lr * g / (|g| + eps_hat / sqrt(1 - beta_2))",
     r"= \mathrm{lr}\, \frac{g}{|g| + \hat\epsilon / \sqrt{1 - \beta_2}}"),
    ("The variational autoencoder's sampling and KL", "z[n, j] = mu[n, j] + s[n, j] eps[n, j],      s = exp(0.5 lv)",
     r"z_{nj} = \mu_{nj} + s_{nj}\, \varepsilon_{nj} \qquad s = \exp(\tfrac{1}{2}\, \mathrm{lv})"),
    ("The variational autoencoder's sampling and KL", "= 0.5 exp(0.5 lv) eps = 0.5 s eps",
     r"= \tfrac{1}{2} \exp(\tfrac{1}{2}\, \mathrm{lv})\, \varepsilon = \tfrac{1}{2}\, s\, \varepsilon"),
    ("The variational autoencoder's sampling and KL", "KL = (1/N) sum_n sum_j -0.5 (1 + lv - mu^2 - exp(lv))",
     r"\mathrm{KL} &= \frac{1}{N} \sum_n \sum_j -\tfrac{1}{2} \left( 1 + \mathrm{lv}_{nj} - \mu_{nj}^2 - e^{\mathrm{lv}_{nj}} \right)"),
    ("The variational autoencoder's sampling and KL",
     "∂(w KL)/∂mu[n, j] = w mu / N           ∂(w KL)/∂lv[n, j] = -0.5 w (1 - exp(lv)) / N = 0.5 w (exp(lv) - 1) / N",
     r"\frac{\partial (w\, \mathrm{KL})}{\partial \mu_{nj}} &= \frac{w\, \mu_{nj}}{N} \qquad "
     r"\frac{\partial (w\, \mathrm{KL})}{\partial\, \mathrm{lv}_{nj}} = -\frac{w}{2N} \left( 1 - e^{\mathrm{lv}_{nj}} \right) "
     r"= \frac{w}{2N} \left( e^{\mathrm{lv}_{nj}} - 1 \right)"),
    ("The variational autoencoder's sampling and KL", "dL/dmu = dz + w mu / N",
     r"\frac{\partial L}{\partial \mu} = \mathrm{d}z + \frac{w\, \mu}{N}"),
    ("The variational autoencoder's sampling and KL", "dL/dlv = dz * 0.5 s eps + 0.5 w (exp(lv) - 1) / N",
     r"\frac{\partial L}{\partial\, \mathrm{lv}} = \mathrm{d}z \odot \tfrac{1}{2}\, s \odot \varepsilon + \frac{w}{2N} \left( e^{\mathrm{lv}} - 1 \right)"),
    ("t-SNE", "d_ij = |y_i - y_j|^2        w_ij = (1 + d_ij)^-1        Z = sum_{k != l} w_kl        q_ij = w_ij / Z",
     r"d_{ij} = \|y_i - y_j\|^2 \qquad w_{ij} = (1 + d_{ij})^{-1} \qquad Z = \sum_{k \neq l} w_{kl} \qquad q_{ij} = \frac{w_{ij}}{Z}"),
    ("t-SNE", "C = KL(P || Q) = sum_{k != l} p_kl log(p_kl / q_kl)",
     r"C = \mathrm{KL}(P \,\|\, Q) = \sum_{k \neq l} p_{kl} \log\frac{p_{kl}}{q_{kl}}"),
    ("t-SNE", "∂w/∂d = -(1 + d)^-2 = -w^2,          so  ∂(log w)/∂d = -w",
     r"\frac{\partial w}{\partial d} = -(1 + d)^{-2} = -w^2, \qquad \frac{\partial \log w}{\partial d} = -w"),
    ("t-SNE", "∂C/∂y_i = 4 sum_j (p_ij - q_ij) (1 + |y_i - y_j|^2)^-1 (y_i - y_j)",
     r"\frac{\partial C}{\partial y_i} = 4 \sum_j (p_{ij} - q_{ij})\, (1 + \|y_i - y_j\|^2)^{-1}\, (y_i - y_j)"),
    ("Conv2D", "z[m, i, j, f] = b[f] + sum_{a < kh} sum_{b < kw} sum_{c < C} xp[m, i sh + a, j sw + b, c] K[a, b, c, f]",
     r"z_{m,i,j,f} = b_f + \sum_{a < k_h} \sum_{b < k_w} \sum_{c < C} \mathit{xp}_{m,\, i s_h + a,\, j s_w + b,\, c}\, K_{a,b,c,f}"),
    ("Conv2D", "db[g] = sum_{m, i, j} dz[m, i, j, g]", r"\mathrm{d}b_g = \sum_{m,i,j} \mathrm{d}z_{m,i,j,g}"),
    ("Conv2D", "dK[a, b, c, g] = sum_{m, i, j} dz[m, i, j, g] xp[m, i sh + a, j sw + b, c]",
     r"\mathrm{d}K_{a,b,c,g} = \sum_{m,i,j} \mathrm{d}z_{m,i,j,g}\, \mathit{xp}_{m,\, i s_h + a,\, j s_w + b,\, c}"),
    ("Conv2D", "dz[n, i, j, f] K[p - i sh, q - j sw, c, f]",
     r"\mathrm{d}z_{n,i,j,f}\, K_{p - i s_h,\, q - j s_w,\, c,\, f}"),
    ("Conv2D", "dxp[n, p, q, c] = sum_f sum_{a, b} dz[n, p - a, q - b, f] K[a, b, c, f]",
     r"\mathrm{d}\mathit{xp}_{n,p,q,c} = \sum_f \sum_{a,b} \mathrm{d}z_{n,\, p - a,\, q - b,\, f}\, K_{a,b,c,f}"),
    ("Conv2D", "dxp[n, p, q, c] = sum_{a', b', f} dzfull[n, p + a', q + b', f] Kflip[a', b', f, c]",
     r"\mathrm{d}\mathit{xp}_{n,p,q,c} = \sum_{a',b',f} \mathrm{d}z^{\text{full}}_{n,\, p + a',\, q + b',\, f}\, K^{\text{flip}}_{a',b',f,c}"),
    ("Conv2D", "Kflip[a', b', f, c] = K[kh - 1 - a', kw - 1 - b', c, f]",
     r"K^{\text{flip}}_{a',b',f,c} = K_{k_h - 1 - a',\, k_w - 1 - b',\, c,\, f}"),
    ("Conv2D", "kernel    dK2 = cols^T . dZ", r"\mathrm{d}K_2 = \mathit{cols}^\top\, \mathrm{d}Z"),
    ("Conv2D", "input     dcols = dZ . K2^T", r"\mathrm{d}\mathit{cols} = \mathrm{d}Z\, K_2^\top"),
    ("MaxPooling2D and UpSampling2D", "y[n, i, j, c] = max_{a < ph, b < pw} xp[n, i sh + a, j sw + b, c]",
     r"y_{n,i,j,c} = \max_{a < p_h,\ b < p_w} \mathit{xp}_{n,\, i s_h + a,\, j s_w + b,\, c}"),
    ("MaxPooling2D and UpSampling2D",
     "dxp[n, p, q, c] = sum_{(i, j): (p, q) is the arg-max of window (i, j)} dy[n, i, j, c]",
     r"\mathrm{d}\mathit{xp}_{n,p,q,c} = \sum_{(i, j):\ (p, q) = \arg\max \text{ of window } (i, j)} \mathrm{d}y_{n,i,j,c}"),
    ("MaxPooling2D and UpSampling2D", "dx[n, p, q, c] = sum_{i < s0} sum_{j < s1} dy[n, p s0 + i, q s1 + j, c]",
     r"\mathrm{d}x_{n,p,q,c} = \sum_{i < s_0} \sum_{j < s_1} \mathrm{d}y_{n,\, p s_0 + i,\, q s_1 + j,\, c}"),
]


def squeeze(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def pair_problems(text: str, pairs) -> list[str]:
    """Each pair's plain words in an indented line of its section and its LaTeX in a math block
    of that section; the messages of those missing."""
    lines = text.splitlines()
    sections = section_names(lines)
    blocks = math_blocks(text)
    in_math = {i for b in blocks for i in range(b.line - 1, b.line + b.tex.count("\n") + 1)}
    problems = []
    for section, plain, tex in pairs:
        plain_lines = [squeeze(l) for i, l in enumerate(lines)
                       if sections[i] == section and l.startswith("    ") and i not in in_math]
        if not any(squeeze(plain) in l for l in plain_lines):
            problems.append(f"{section}: no plain line says {plain!r}")
        if not any(squeeze(tex) in squeeze(b.tex) for b in blocks if b.section == section):
            problems.append(f"{section}: no LaTeX says {tex!r}")
    return problems


def test_the_latex_says_what_the_plain_line_beside_it_says(backprop):
    assert {p[0] for p in PAIRS} == set(SECTIONS) - {"Notation"}
    problems = pair_problems(backprop, PAIRS)
    assert not problems, "\n".join(problems)
    for _, _, tex in PAIRS:                    # the pairs are themselves well formed (but partial)
        assert not [p for p in latex_problems(tex) if "outside an environment" not in p], tex


def test_a_pair_whose_plain_line_or_latex_changed_alone_is_caught(backprop):
    dense = [p for p in PAIRS if p[0] == "Dense"]
    transposed = backprop.replace(r"\mathrm{d}x = \mathrm{d}z\, W^\top", r"\mathrm{d}x = \mathrm{d}z\, W")
    assert pair_problems(transposed, dense) == [
        r"Dense: no LaTeX says '\\mathrm{d}x = \\mathrm{d}z\\, W^\\top \\qquad (N \\times J)(J \\times I) \\to (N \\times I)'"]
    sign = backprop.replace("dL/dp = 2 (p - y) / (N D)", "dL/dp = 2 (y - p) / (N D)")
    assert pair_problems(sign, [p for p in PAIRS if p[0] == "MSE"]) == [
        "MSE: no plain line says 'dL/dp = 2 (p - y) / (N D)'"]


@pytest.mark.parametrize("tex, says", [
    (r"\frac{a}{b", "1 { never closed"),
    (r"a}", "a } that closes no {"),
    (r"\frac{a}b", r"\frac needs two groups"),
    (r"\frac{a}", r"\frac needs two groups"),
    (r"\tfrac12", r"\tfrac needs two groups"),
    ("x \u2212 1", "non-ASCII character '\u2212' (MINUS SIGN): write - for a minus"),
    ("\u2202 L", "non-ASCII character '\u2202' (PARTIAL DIFFERENTIAL)"),
    (r"\farc{a}{b}", r"unknown command \farc"),
    (r"x^a^b", "double superscript"),
    (r"x_{i}_{j}", "double subscript"),
    (r"x^{a^b^c}", "double superscript"),
    (r"x^", "^ with nothing after it"),
    (r"\begin{aligned} a &= b", r"\begin{aligned} never ended"),
    (r"\begin{cases} a \end{aligned}", r"\end{aligned} closes \begin{cases}"),
    (r"\left( a", r"a \left without its \right"),
    (r"a \right)", r"a \right without its \left"),
    (r"\left a \right)", r"\left needs a delimiter"),
    (r"\bigl( a", r"a \bigl (\Bigl) without its \bigr (\Bigr)"),
    (r"a &= b", "& outside an environment"),
    (r"a \\ b", r"\\ outside an environment"),
    (r"\sqrt 2", r"\sqrt needs a group"),
    (r"$x$", "a $ inside display math"),
    ("  ", "an empty formula"),
])
def test_the_checker_catches_broken_latex(tex, says):
    problems = latex_problems(tex)
    assert any(says in p for p in problems), problems


def test_the_checker_passes_what_tex_takes():
    for tex in [r"\frac{\partial L}{\partial x_{ni}}", r"x_{i}^{2}", r"K^{\text{flip}}_{a',b',f,c}",
                r"s'(x) = s(x)\,\bigl(1 - s(x)\bigr)", r"\left( \frac{a}{b} \right)",
                r"\begin{aligned} a &= b \\ c &= d \end{aligned}", r"\sqrt{\hat v} + \epsilon",
                r"\|y_i - y_j\|^2", r"\sum_{\substack{i \\ j}} a"]:
        assert latex_problems(tex) == [], tex


def test_dollar_blocks_are_read_and_an_unclosed_one_is_refused():
    doc = "## S\n\nText $$a + b$$ more.\n\n$$\n\\frac{1}{2}\n$$\n\n```\n$$ in code\n```\n"
    blocks = math_blocks(doc)
    assert [(b.line, b.section, b.tex.strip(), b.kind) for b in blocks] == [
        (3, "S", "a + b", "$$"), (5, "S", r"\frac{1}{2}", "$$")]
    with pytest.raises(ValueError, match="line 3: a \\$\\$ block that is never closed"):
        math_blocks("## S\n\n$$ x +\ny\n\nz $$\n")
    with pytest.raises(ValueError, match="never closed"):
        math_blocks("```math\nx\n")
    assert latex_problems(math_blocks("$$x^a^b$$\n")[0].tex)


def mathtext_form(tex: str) -> str | None:
    """`tex` as matplotlib's mathtext reads it (its subset of TeX: no \\tfrac, \\dfrac, \\bigl or
    \\text, no environments), or None for a formula with an environment, \\substack or \\phantom."""
    if re.search(r"\\(begin|substack|phantom)\b", tex):
        return None
    tex = tex.replace(r"\tfrac", r"\frac").replace(r"\dfrac", r"\frac")
    tex = re.sub(r"\\[bB]igg?[lr]", "", tex)
    tex = re.sub(r"\\text\{([^{}]*)\}", lambda m: r"\mathrm{" + m.group(1).replace(" ", r"\ ") + "}", tex)
    return " ".join(tex.split())


def test_matplotlib_mathtext_parses_every_block_it_can_read(backprop):
    """A real TeX-like parser on the same formulas: matplotlib's mathtext (a dependency) takes
    every block without an environment, and refuses a broken one."""
    from matplotlib.mathtext import MathTextParser
    parser = MathTextParser("path")
    forms = [(b.line, mathtext_form(b.tex)) for b in math_blocks(backprop)]
    readable = [(line, f) for line, f in forms if f is not None]
    assert len(readable) >= 40
    bad = []
    for line, form in readable:
        try:
            parser.parse(f"${form}$")
        except ValueError as exc:
            bad.append(f"{BACKPROP}:{line}: {str(exc).splitlines()[0]}")
    assert not bad, "\n".join(bad)
    with pytest.raises(ValueError):
        parser.parse("$" + mathtext_form(r"\frac{\partial L}{\partial x_{ni}") + "$")

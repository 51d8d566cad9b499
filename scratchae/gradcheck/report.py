"""What a check found: one `Row` per tensor, gathered in a `Report` whose `str()` is the table.

The verdicts are CS231n's bands for the relative error (float64, h = 1e-5): < 1e-7 good,
< 1e-4 acceptable (expected only near a kink), < 1e-2 suspect, above that wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .hints import Hint


EPS = float(np.finfo(np.float64).eps)
BANDS = ((1e-7, "good"), (1e-4, "acceptable"), (1e-2, "suspect"))


def verdict(error: float) -> str:
    """CS231n's bands: good < 1e-7 <= acceptable (kinks) < 1e-4 <= suspect < 1e-2 <= wrong."""
    for limit, name in BANDS:
        if error < limit:
            return name
    return "wrong"


@dataclass
class Row:
    """One checked tensor: where it is, how much of it was checked, how wrong it is."""

    layer: str
    tensor: str
    shape: tuple
    checked: int                  # elements (or directions) compared
    total: int                    # elements in the tensor
    how: str                      # "all", "sample" or "direction"
    error: float                  # max relative error over what was checked
    worst: tuple | None = None    # index of the worst element (None in direction mode)
    analytic: float = 0.0         # at the worst element (or <grad, v>)
    numeric: float = 0.0
    kinks: int = 0                # differences that straddled a kink (re-sampled)
    hint: Hint | None = None
    problem: str | None = None    # what is wrong, in words, for a row that has no numbers to
                                  # compare (how="structure" or "raised") or a failed kink row
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def verdict(self) -> str:
        """'good', 'acceptable', 'suspect' or 'wrong'; always 'wrong' for a structural failure
        or an exception (no numbers were compared)."""
        if self.how in _NO_NUMBERS:
            return "wrong"
        return verdict(self.error)

    @property
    def flag(self) -> str:
        """The verdict column: STRUCTURE (a gradient of the wrong type, shape or values, or
        missing), ERROR (the piece raised), WRONG, or the verdict in lower case."""
        if self.how == "structure":
            return "STRUCTURE"
        if self.how == "raised":
            return "ERROR"
        v = self.verdict
        return v.upper() if v == "wrong" else v

    @property
    def ok(self) -> bool:
        return self.verdict != "wrong"

    @property
    def name(self) -> str:
        return f"{self.layer}/{self.tensor}"

    def _checked_text(self) -> str:
        if self.how in _NO_NUMBERS:
            return "-"
        if self.how == "kink":
            return f"{self.checked} (convention)"
        if self.how == "direction":
            return "1 direction"
        if self.how == "sample":
            return f"{self.checked} of {self.total} *"
        return f"all {self.total}" if self.checked == self.total else f"{self.checked} of {self.total}"


_NO_NUMBERS = ("structure", "raised")     # rows where nothing could be compared


@dataclass
class Report:
    """What a check found: `.ok`, `.worst`, `.rows`, `.located`; `str()` is the table."""

    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parts: list["Report"] = field(default_factory=list)   # per-layer checks of a model
    located: Row | None = None                            # the first wrong piece found

    def all_rows(self) -> list[Row]:
        return self.rows + [r for p in self.parts for r in p.all_rows()]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.all_rows())

    @property
    def worst(self) -> Row | None:
        rows = self.all_rows()
        return max(rows, key=lambda r: r.error) if rows else None

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.all_rows() if not r.ok]

    def table(self) -> str:
        head = ("layer", "tensor", "shape", "checked", "max rel err", "kinks", "verdict")
        body = [(r.layer, r.tensor, "-" if r.how in _NO_NUMBERS and not r.total else str(tuple(r.shape)),
                 r._checked_text(),
                 "-" if r.how in _NO_NUMBERS else f"{r.error:.2e}", str(r.kinks), r.flag)
                for r in self.rows]
        widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
        fmt = "  ".join("{:<%d}" % w for w in widths)
        lines = [self.title, fmt.format(*head).rstrip()] + [fmt.format(*b).rstrip() for b in body]
        if any(r.how == "sample" for r in self.rows):
            lines.append("  * a seeded sample of the tensor's elements (large tensor)")
        for r in self.rows:
            if r.kinks:
                lines.append(f"  {r.name}: {r.kinks} difference(s) straddled a kink (ReLU/|h| at 0): "
                             "re-sampled, not counted as errors")
            if r.problem is not None:
                lines.append(f"  {r.name} {r.flag}: {r.problem}")
                if r.hint is not None:
                    lines.append(f"    hint: {r.hint.text}")
            elif r.verdict in ("wrong", "suspect"):
                where = f"element {r.worst}" if r.worst is not None else "random direction"
                lines.append(f"  {r.name} {r.verdict.upper()}: {where}: analytic {r.analytic:.6g}, "
                             f"numeric {r.numeric:.6g}")
                if r.hint is not None:
                    lines.append(f"    hint: {r.hint.text}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._render(top=True)

    def _render(self, top: bool) -> str:
        parts = [self.table()] + [p._render(top=False) for p in self.parts]
        worst = self.worst
        if top and self.located is not None:
            r = self.located
            what = f"{r.tensor} raised {type(r.exception).__name__}" if r.how == "raised" \
                else f"tensor {r.tensor}" + (" (structure)" if r.how == "structure" else "")
            parts.append(f"First wrong piece: {r.layer}, {what}"
                         + (f" -- hint: {r.hint.text}" if r.hint else ""))
        status = "PASS" if self.ok else "FAIL"
        broken = next((r for r in self.all_rows() if r.how in _NO_NUMBERS), None)
        if broken is not None:
            tail = f" ({broken.flag} at {broken.name})"
        else:
            tail = f" (worst {worst.error:.2e} at {worst.name})" if worst is not None else ""
        parts.append(f"{status}: {self.title.split(':')[0]}{tail}")
        return "\n".join(parts)

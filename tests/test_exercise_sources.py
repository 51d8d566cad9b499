"""One source for each exercise: the reference solution (tests/exercise_solutions/, for
teachers, not shipped) is its template (scratchae/exercises/templates/) with the one
`raise NotImplementedError(...)` line replaced by a body, and nothing else changed but the
docstring's opening words. So the two cannot drift apart."""
from pathlib import Path

import pytest

from scratchae import exercises

SOLUTIONS = Path(__file__).parent / "exercise_solutions"
MARK = '"""Reference solution (tests only, not shipped). '


def solution_body(template: str, solution: str) -> list[str]:
    """The lines the solution puts in place of the template's `raise NotImplementedError`;
    AssertionError (saying where) if the solution differs from the template anywhere else."""
    t, s = template.splitlines(), solution.splitlines()
    raises = [i for i, line in enumerate(t) if "raise NotImplementedError" in line]
    assert len(raises) == 1, "the template must have exactly one `raise NotImplementedError`"
    i = raises[0]
    assert t[0].startswith('"""') and s[0] == MARK + t[0][3:], \
        f"first line: expected {MARK + t[0][3:]!r}, got {s[0]!r}"
    assert s[1:i] == t[1:i], "the solution differs from the template before the body"
    tail = t[i + 1:]
    assert len(s) >= i + 1 + len(tail) and s[len(s) - len(tail):] == tail, \
        "the solution differs from the template after the body"
    body = s[i:len(s) - len(tail)]
    indent = t[i][:len(t[i]) - len(t[i].lstrip())]
    assert body and all(line.startswith(indent) or not line.strip() for line in body), \
        "the body must replace the raise line at its indentation"
    assert not any("NotImplementedError" in line for line in body)
    return body


@pytest.mark.parametrize("piece", sorted(exercises.EXERCISES))
def test_each_solution_is_its_template_with_the_body_filled_in(piece):
    body = solution_body(exercises.template_text(piece), (SOLUTIONS / f"{piece}.py").read_text())
    assert any(word in line for line in body for word in ("return", "grads", "-="))   # it computes


def test_a_solution_that_drifted_from_its_template_is_caught():
    template = exercises.template_text("relu")
    solution = (SOLUTIONS / "relu.py").read_text()
    solution_body(template, solution)                                  # as shipped: fine
    drifted = solution.replace("def forward(self, x):", "def forward(self, x):  # changed")
    with pytest.raises(AssertionError, match="before the body"):
        solution_body(template, drifted)
    with pytest.raises(AssertionError, match="first line"):
        solution_body(template, solution.replace(MARK, '"""'))

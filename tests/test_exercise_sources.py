"""One source for each exercise: the reference solution (tests/exercise_solutions/, for
teachers, not shipped) is its template (scratchae/exercises/templates/) with each
`raise NotImplementedError(...)` line replaced by a body (one in most, two in the VAE's:
forward and backward), and nothing else changed but the docstring's opening words. So the two cannot drift apart."""
from pathlib import Path

import pytest

from scratchae import exercises

SOLUTIONS = Path(__file__).parent / "exercise_solutions"
MARK = '"""Reference solution (tests only, not shipped). '


def solution_bodies(template: str, solution: str) -> list[list[str]]:
    """The lines the solution puts in place of each of the template's `raise
    NotImplementedError` lines (one for most exercises; the VAE's two leave the forward to the
    learner too); AssertionError (saying where) if the solution differs anywhere else."""
    t, s = template.splitlines(), solution.splitlines()
    raises = [i for i, line in enumerate(t) if "raise NotImplementedError" in line]
    assert raises, "the template must have a `raise NotImplementedError`"
    assert t[0].startswith('"""') and s[0] == MARK + t[0][3:], \
        f"first line: expected {MARK + t[0][3:]!r}, got {s[0]!r}"
    assert s[1:raises[0]] == t[1:raises[0]], "the solution differs from the template before the body"
    bodies, at = [], raises[0]                      # `at`: where in s the next body starts
    for k, i in enumerate(raises):
        end = raises[k + 1] if k + 1 < len(raises) else len(t)
        between = t[i + 1:end]                      # the template's lines up to the next raise (or the end)
        if k + 1 == len(raises):
            assert len(s) >= at + len(between) and s[len(s) - len(between):] == between, \
                "the solution differs from the template after the body"
            stop = len(s) - len(between)
        else:
            stop = next((j for j in range(at, len(s) - len(between) + 1) if s[j:j + len(between)] == between), None)
            assert stop is not None, "the solution differs from the template between two bodies"
        body = s[at:stop]
        indent = t[i][:len(t[i]) - len(t[i].lstrip())]
        assert body and all(line.startswith(indent) or not line.strip() for line in body), \
            "the body must replace the raise line at its indentation"
        assert not any("NotImplementedError" in line for line in body)
        bodies.append(body)
        at = stop + len(between)
    return bodies


def solution_body(template: str, solution: str) -> list[str]:
    """All the bodies' lines, in order."""
    return [line for body in solution_bodies(template, solution) for line in body]


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


def test_the_vae_templates_leave_forward_and_backward_and_a_drift_between_them_is_caught():
    for piece in ("sampling", "gaussian-kl"):
        template, solution = exercises.template_text(piece), (SOLUTIONS / f"{piece}.py").read_text()
        assert len(solution_bodies(template, solution)) == 2
    template = exercises.template_text("sampling")
    solution = (SOLUTIONS / "sampling.py").read_text()
    drifted = solution.replace("def backward(self, dz):", "def backward(self, dz, extra=None):")
    with pytest.raises(AssertionError, match="between two bodies"):
        solution_bodies(template, drifted)

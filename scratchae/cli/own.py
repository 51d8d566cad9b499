"""`scratchae train NAME --use PIECE=FILE`: the learner's own piece trained beside scratchae's.

The model trains twice from the same seed and the same initial weights, once with the
learner's pieces plugged in (`scratchae.exercises.plug`) and once with scratchae's; both losses
are printed side by side, with a verdict, and saved.
"""
from __future__ import annotations

import argparse
import math
import os

from . import EXIT_FAILED, EXIT_OK, UsageError
from .common import build_model, load_data, make_out, model_inputs, save_figure, save_json, train_one

#: Epochs of `train --use` unless --epochs is given: enough to tell a right backward from a wrong one.
OWN_PIECE_EPOCHS = 2

#: `train --use`: your final loss within this fraction of scratchae's reads as "trains like it"
#: (the exercises' reference solutions land within 2e-5 after 10 epochs on mnist-5k).
LIKE_TOLERANCE = 0.005

def run_train_own(args: argparse.Namespace, settings: dict, sources: list) -> int:
    """Train the model with the learner's pieces and, from the same seed, with scratchae's;
    print both losses per epoch and a verdict; exit 1 when theirs does not train like ours."""

    from .. import __version__, plotting
    from ..exercises import plug

    data = load_data(settings["dataset"])
    name = settings["model"]
    own, lib = build_model(settings), build_model(settings)
    try:
        places = [plug.plug(own.model, source) for source in sources]
    except plug.PlugError as exc:
        raise UsageError(str(exc)) from None
    own.model.set_weights(lib.model.get_weights())      # the same start, whatever the pieces
    lib.model.fuse_sigmoid_bce = own.model.fused        # the same step: only the pieces differ
    x, xt = data.x_train, data.x_test
    x_in, xt_in = model_inputs(settings, data)
    try:
        plug.try_one_batch(own.model, x_in[:4], x[:4], sources)
    except plug.PlugError as exc:
        raise UsageError(str(exc)) from None
    make_out(settings["out"])

    pieces = ", ".join(s.piece for s in sources)
    own_label = _own_label(sources)
    lib_label = f"scratchae's {pieces}"
    print(f"\nIn {name}, {'only these pieces differ' if len(sources) > 1 else 'only this piece differs'} "
          "from scratchae's own (same seed, same initial weights, same batches):")
    for source, where in zip(sources, places):
        print(f"  {plug.describe_places(source, where)}")
    with _quiet():
        start_own = own.model.evaluate(x_in, x)
    start_lib = lib.model.evaluate(x_in, x)
    epochs = settings["epochs"]
    try:
        with _quiet():
            mine = train_one(own_label, own, x_in, x, xt_in, xt, epochs, args)
    except Exception as exc:                                # the learner's code, mid-training
        text = (str(exc).strip().splitlines() or [""])[0]
        print(f"\n{own_label}: training stopped: {type(exc).__name__}: {text}\n"
              f"Check the backward with: {_commands(sources)}")
        return EXIT_FAILED
    ours = train_one(lib_label, lib, x_in, x, xt_in, xt, epochs, args)

    print()
    print(_side_by_side(own_label, lib_label, [start_own] + mine["loss"], [start_lib] + ours["loss"]))
    ok, verdict = _verdict(sources, own_label, lib_label, start_own, mine["loss"][-1], ours["loss"][-1])
    print(f"\n{verdict}")

    out = settings["out"]
    model_path = os.path.join(out, f"{name}.npz")
    with plug.as_library(own.model):                         # the file format knows scratchae's classes
        own.model.save(model_path)
    n = min(5, len(xt))
    with _quiet():
        mine_out = own.model.predict(xt_in[:n])
    rows = [("Original Images", xt[:n])] + ([("Noisy Input", xt_in[:n])] if name == "denoising" else [])
    rows += [(f"{own_label} (loss {mine['loss'][-1]:.4f})", mine_out),
             (f"{lib_label} (loss {ours['loss'][-1]:.4f})", lib.model.predict(xt_in[:n]))]
    figure = plotting._image_rows(rows, n, figsize=(10, 2.3 * len(rows)))
    written = [
        model_path,
        save_json({
            "model": name,
            "use": settings["use"],
            "pieces": {s.piece: where for s, where in zip(sources, places)},
            "loss": mine["loss"],
            "scratchae_loss": ours["loss"],
            "initial_loss": start_own,
            "scratchae_initial_loss": start_lib,
            "test_loss": mine["test_loss"],
            "scratchae_test_loss": ours["test_loss"],
            "trains_like_scratchae": ok,
            "verdict": verdict,
            "epochs": epochs,
            "mean_code": mine["mean_code"],
            "seconds": mine["seconds"],
            "interrupted": False,
            "dataset": {"name": data.name, "description": data.description, "train": len(x), "test": len(xt)},
            "arguments": settings,
            "scratchae_version": __version__,
        }, os.path.join(out, f"{name}-history.json")),
        save_figure(figure, os.path.join(out, f"{name}-reconstructions.png")),
        save_figure(plotting.compare_losses({own_label: mine["history"], lib_label: ours["history"]}),
                     os.path.join(out, f"{name}-loss.png")),
    ]
    print(f"\nWrote {len(written)} files to {out}{os.sep}: {', '.join(os.path.basename(p) for p in written)}")
    return EXIT_OK if ok else EXIT_FAILED

def _quiet():
    """The learner's code may take exp of a large number (a textbook sigmoid): inf, then a
    correct 0, with a RuntimeWarning that would bury the output. The training loop silences
    the same warnings."""
    import numpy as np

    return np.errstate(over="ignore", under="ignore", invalid="ignore")

def _own_label(sources: list) -> str:
    """'your dense', 'your dense, relu', 'dense-zero-dx', 'your relu + dense-zero-dx'."""
    yours = [s.piece for s in sources if not s.broken]
    parts = ([f"your {', '.join(yours)}"] if yours else []) + [s.broken.name for s in sources if s.broken]
    return " + ".join(parts)

def _commands(sources: list) -> str:
    return " and ".join(s.gradcheck_command() for s in sources)

def _side_by_side(own_label: str, lib_label: str, own: list[float], lib: list[float]) -> str:
    """The loss per epoch of both runs; row 'start' is the loss before training."""
    a, b = max(len(own_label), 10), max(len(lib_label), 10)
    lines = [f"{'epoch':<7}{own_label:>{a}}  {lib_label:>{b}}"]
    for i, (u, v) in enumerate(zip(own, lib)):
        lines.append(f"{'start' if i == 0 else i:<7}{u:>{a}.4f}  {v:>{b}.4f}")
    return "\n".join(lines)

def _verdict(sources: list, own_label: str, lib_label: str, start: float, final: float,
             reference: float) -> tuple[bool, str]:
    """(trains like scratchae's?, one line saying so with the numbers and what to run next)."""
    broken = all(s.broken for s in sources)
    subject = ("this backward" if broken else
               "your backward" if len(sources) == 1 else "your backward passes")
    head = f"{own_label}: final loss {final:.4f}, {lib_label}: {reference:.4f}"
    rel = (final - reference) / reference if reference else math.inf
    if math.isfinite(rel) and abs(rel) <= LIKE_TOLERANCE:
        if broken:
            return True, (f"{head}: {subject} is wrong, yet trains like the library's (training "
                          f"can hide what a gradient check sees): {_commands(sources)}")
        lost = {s: _gradcheck_lost(s) for s in sources}
        failing = [s for s in sources if lost[s] is not None]
        if failing:
            why = ("the model zeroes the gradients before each step and your piece's are added "
                   "into the layer's, so a backward that writes grads where it should add trains "
                   "the same here; a weight shared by two layers would lose one of its paths"
                   if all(lost[s] == {"accumulates"} for s in failing) else
                   "Adam scales each parameter's step by its own gradient's size, so a constant "
                   "factor, a mean for a sum, does not show in training")
            return False, (f"{head}: {subject} {'trains' if len(sources) == 1 else 'train'} like the "
                           f"library's, but its gradient check fails ({why}): run {_commands(failing)}")
        return True, f"{head}: {subject} {'trains' if len(sources) == 1 else 'train'} like the library's."
    fix = f"run {_commands(sources)}"
    verb = "does" if len(sources) == 1 or broken else "do"
    if final >= start or (start - final) < 0.2 * (start - reference):
        moved = ("went up from" if final > start + 0.005 else
                 "stayed at" if abs(final - start) <= 0.005 else "only went from")
        numbers = f"{start:.2f}" if moved == "stayed at" else f"{start:.2f} to {final:.2f}"
        return False, (f"{own_label}: loss {moved} {numbers} while with {lib_label} it fell to "
                       f"{reference:.2f}: {subject} {verb} not train the model; {fix}")
    if rel > 0:
        return False, (f"{head} ({rel:+.0%}): the model learns, but worse than with the library's: "
                       f"something in {subject} is off; {fix}")
    return False, (f"{head} ({rel:+.1%}): lower than the library's from the same start, which a "
                   f"right backward does not give: something in {subject} is off; {fix}")


def _gradcheck_lost(source) -> set[str] | None:
    """None when a learner's piece passes its exercise's gradient check, else the names of the
    checks that lost points (empty when it could not be checked). Training alone can miss a
    wrong backward: see `_verdict`."""
    from ..exercises import ExerciseError, run_exercise

    try:
        grade = run_exercise(source.piece, source.origin)
    except (ExerciseError, OSError, ValueError):
        return set()
    if grade.score >= grade.max_score - 1e-9:
        return None
    return {c.name for c in grade.checks if not c.passed}

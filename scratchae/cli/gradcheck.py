"""`scratchae gradcheck`: check every backward pass of the article's autoencoders.

    scratchae gradcheck                          every layer, loss and whole model of the vanilla,
                                                 shallow and sparse (l1) autoencoders, and the
                                                 optimizers against their closed forms
    scratchae gradcheck --model vanilla          one model only ('deep' is an alias)
    scratchae gradcheck --list                   the shipped deliberately wrong backward passes
    scratchae gradcheck --broken relu-no-mask    swap one in: see a failure, its place, its hint
    scratchae gradcheck --exercise dense --init my_dense.py     copy an exercise template
    scratchae gradcheck --exercise dense my_dense.py            check your backward
    scratchae gradcheck --exercise all --init class_pack        the class pack: every template
                                                 and a README for learners (no solutions)
    (scratchae grade dense my_dense.py: the same checks, graded with points, see cli/grade.py)

Exit code 0 when everything passes, 1 when a check fails, 2 for bad arguments. The first
line says which scratchae is checked (its folder, and whether it is an editable install, a
source checkout or an installed copy): the code you edit is not always the code that runs.
"""
from __future__ import annotations

import json
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from . import EXIT_FAILED, EXIT_OK, UsageError

MODELS = ("vanilla", "shallow", "sparse")
ALIASES = {"deep": "vanilla"}          # the article's section title for the vanilla model


def add_commands(sub) -> None:
    p = sub.add_parser("gradcheck", help="check the backward passes of the article's models",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("path", nargs="?", help="your exercise file (with --exercise)")
    p.add_argument("--model", choices=MODELS + ("all",) + tuple(ALIASES), default="all",
                   help="which autoencoder to check (default: all three)")
    p.add_argument("--broken", metavar="NAME", help="swap in a deliberately wrong backward pass")
    p.add_argument("--list", action="store_true", help="list the deliberately wrong backward passes")
    p.add_argument("--exercise", metavar="PIECE",
                   help="dense, relu, sigmoid, bce, mse, l1, kl, bce-logits, adam, model, sampling, "
                        "gaussian-kl, conv2d or maxpool; all (with --init FOLDER): the class pack")
    p.add_argument("--init", metavar="PATH", help="with --exercise: write the template to PATH; "
                                                  "with --exercise all: write the class pack into the "
                                                  "folder PATH (a new or empty one)")
    p.add_argument("--force", action="store_true",
                   help="with --init: overwrite an existing file; with --exercise all: write into a "
                        "folder that is not empty, adding only the missing files (none is replaced)")
    p.add_argument("--batch", type=int, default=4, help="batch size of the random inputs (default 4)")
    p.add_argument("-k", "--samples", type=int, default=12,
                   help="elements checked per large tensor (default 12)")
    p.add_argument("--mode", choices=("elements", "direction"), default="elements",
                   help="element-wise (default) or one random direction per tensor")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, inputs and samples")
    p.set_defaults(run=run)


def which_scratchae() -> str:
    """'scratchae 0.1.0 from /path/scratchae (editable install)': the package this process
    imported, and how it got there: an editable install (a dist-info whose direct_url.json
    says editable and points at the folder's checkout), an installed copy (under
    site-packages), or a source checkout on the path (anything else)."""
    import scratchae
    folder = Path(scratchae.__file__).resolve().parent
    version = getattr(scratchae, "__version__", "?")
    for dist in metadata.distributions(name="scratchae"):
        try:
            direct = json.loads(dist.read_text("direct_url.json") or "{}")
        except (OSError, ValueError):
            continue
        url = direct.get("url", "")
        if direct.get("dir_info", {}).get("editable") and url.startswith("file://") \
                and folder.is_relative_to(Path(url[len("file://"):]).resolve()):
            return f"scratchae {version} from {folder} (editable install)"
    if {"site-packages", "dist-packages"} & set(folder.parts):
        return f"scratchae {version} from {folder} (installed copy)"
    return f"scratchae {version} from {folder} (source checkout, not an installed copy)"


def _build(name: str, seed: int):
    from .. import autoencoders
    builder = {"vanilla": autoencoders.vanilla, "shallow": autoencoders.shallow,
               "sparse": autoencoders.sparse}[name]
    return builder(seed=seed).model


def _list() -> int:
    from ..exercises.broken import BROKEN, LAYERS_BROKEN
    width = max(map(len, [*BROKEN, *LAYERS_BROKEN]))
    print("Deliberately wrong backward passes (scratchae gradcheck --broken NAME):")
    for b in BROKEN.values():
        where = f"{b.model} model" if b.model else f"alone, as the {b.piece} exercise"
        print(f"  {b.name:<{width}}  {b.description} [{where}; expect hint: {b.hint}]")
    print("Mistakes in the layers beyond the article (tied, contractive, the VAE's sampling and KL):")
    for lb in LAYERS_BROKEN.values():
        seen = "the gradient check catches it" if lb.gradient_check else \
            f"the gradient check passes it; {lb.caught_by} names it"
        print(f"  {lb.name:<{width}}  {lb.description} [{lb.layer}; {seen}]")
    return EXIT_OK


def _sampling_broken(lb, seed: int) -> int:
    """A shipped mistake of the VAE's Sampling layer: its gradient check with the noise replayed
    (on a batch of 4 rows of 3 latent units), then the moment, KL and reduction tests."""
    from .. import gradcheck
    from ..gradcheck.sampling import check_sampling

    print(f"[broken] {lb.description}\n")
    rng = np.random.default_rng(seed)
    x = [rng.standard_normal((4, 3)), 0.5 * rng.standard_normal((4, 3))]
    report = gradcheck.check_layer(lb.cls(name="z"), x, seed=seed)
    print(report)
    stats = check_sampling(lb.cls(name="z"), seed=seed)
    print(f"\n{stats}")
    caught = not report.ok or not stats.ok
    print(f"\n{lb.name}: {'caught' if caught else 'NOT caught'} by "
          + ("the gradient check (noise replayed)" if not report.ok else lb.caught_by)
          + ("" if lb.gradient_check else " (a gradient check alone cannot see it)"))
    return EXIT_FAILED if caught else EXIT_OK


def _layer_broken(lb, seed: int, samples: int) -> int:
    """A shipped mistake of a tied or contractive layer, in the model it belongs to, on the
    bundled digits: the gradient check of the whole model, then the check that catches it."""
    if lb.layer == "Sampling":
        return _sampling_broken(lb, seed)
    from .. import gradcheck
    from ..contractive import check_contractive
    from ..datasets import load
    from ..layers import Dense, Input
    from ..models import Model

    print(f"[broken] {lb.description}\n")
    x = load("mnist-5k").x_test[:8]
    inp = Input(shape=(784,))
    if lb.layer == "DenseTranspose":
        enc = Dense(32, activation="relu", seed=seed, name="code")
        out = lb.cls(enc, activation="sigmoid", name="decoder")(enc(inp))
    else:
        code = lb.cls(32, seed=seed, name="code")
        out = Dense(784, activation="sigmoid", seed=seed + 1, name="decoder")(code(inp))
    model = Model(inp, out, name=f"{lb.name}_autoencoder")
    model.compile("adam", "binary_crossentropy")
    report = gradcheck.check_model(model, x, x, k=samples, seed=seed)
    print(report)
    caught = not report.ok
    if lb.caught_by == "check_contractive":
        problem = check_contractive(model.get_layer("code"), x)
        print(f"\ncheck_contractive (||dh/dx||_F^2 measured by finite differences): "
              f"{'FAIL: ' + problem if problem else 'PASS'}")
        caught = caught or problem is not None
    print(f"\n{lb.name}: {'caught' if caught else 'NOT caught'}"
          + ("" if lb.gradient_check else " (a gradient check alone cannot see it)"))
    return EXIT_FAILED if caught else EXIT_OK


def _exercise(args) -> int:
    from .. import exercises
    from ..exercises.pack import TO_WRITE
    piece = args.exercise
    if piece == "all":
        return _pack(args)
    if piece not in exercises.EXERCISES:
        raise UsageError(f"unknown exercise {piece!r}; choose from {', '.join(exercises.EXERCISES)}, "
                         "or all (with --init FOLDER: the class pack)")
    if args.init:
        try:
            path = exercises.write_template(piece, args.init, force=args.force)
        except (FileExistsError, FileNotFoundError, OSError) as exc:
            raise UsageError(str(exc)) from None
        what = TO_WRITE.get(piece, "backward()")
        print(f"wrote {path}: fill in {what}, then run\n"
              f"  scratchae gradcheck --exercise {piece} {path}")
        return EXIT_OK
    if not args.path:
        raise UsageError(f"give your file: scratchae gradcheck --exercise {piece} PATH "
                         f"(or --init PATH to create it from the template)")
    try:
        grade = exercises.run_exercise(piece, args.path)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    from ..exercises.grading import report
    print(report(grade, f"scratchae gradcheck --exercise {piece} {grade.submission}: the grader's checks, "
                        "in a separate process"))
    if any("NotImplementedError" in c.message for c in grade.checks):
        name = exercises.EXERCISES[piece].class_name
        print(f"\nNot yet: {name}'s method still raises NotImplementedError: derive it (the docstring "
              "says how) and write it.")
        return EXIT_FAILED
    if grade.score >= grade.max_score - 1e-9:
        print("\nWell done: every check passes, as the grader grades it (scratchae grade).")
        return EXIT_OK
    print(f"\nNot yet: {_why_not(grade)}.")
    return EXIT_FAILED


def _pack(args) -> int:
    """--exercise all --init FOLDER: every template and the learners' README in FOLDER."""
    from ..exercises.pack import README, write_pack
    if not args.init:
        raise UsageError("--exercise all only goes with --init FOLDER (it writes the class pack); "
                         "a file is checked one exercise at a time: scratchae gradcheck --exercise PIECE FILE")
    if args.path:
        raise UsageError(f"--exercise all --init FOLDER takes no other PATH (got {args.path!r}); "
                         "check a file with scratchae gradcheck --exercise PIECE FILE")
    try:
        result = write_pack(args.init, force=args.force)
    except OSError as exc:
        raise UsageError(str(exc)) from None
    folder = result.folder
    n = len(result.written)
    print(f"wrote {n} file{'' if n == 1 else 's'} in {folder}: {', '.join(result.written) or 'none'}")
    same = [name for name in result.kept if name not in result.kept_differing]
    if same:
        print(f"  kept {len(same)} already as the pack has them: {', '.join(same)}")
    for name in result.kept_differing:
        print(f"  kept {folder / name} as it is: it differs from the pack's (your work?)")
    if result.kept_differing:
        print("  (to get the pack's own, move those files away and run this again with --force)")
    print(f"Hand the folder out: learners start with {folder / README} (the order, the commands, "
          "what the check's verdict means). It holds no solution.")
    return EXIT_OK


def _broken_alone(broken) -> int:
    """A shipped mistake of a later exercise, checked as that exercise checks a learner's class."""
    from ..exercises.grading import check_class, report

    print(f"[broken] {broken.description}: checked as the {broken.piece} exercise\n")
    grade = check_class(broken.piece, broken.cls, label=broken.name)
    print(report(grade, f"{broken.name}, checked as the {broken.piece} exercise grades a file:"))
    return EXIT_OK if grade.score >= grade.max_score - 1e-9 else EXIT_FAILED


def _why_not(grade) -> str:
    """The first reason a grade is not full, in a learner's words."""
    if grade.status != "graded":
        return grade.reason
    bad = next(c for c in grade.checks if not c.passed)
    return f"{bad.name} lost points: {bad.message}"


def run(args) -> int:
    print(which_scratchae())
    if args.list:
        return _list()
    if args.exercise:
        return _exercise(args)
    if args.path or args.init:
        raise UsageError("a PATH or --init only goes with --exercise PIECE")
    if args.batch < 1 or args.samples < 1:
        raise UsageError("--batch and --samples must be positive")
    from .. import gradcheck
    from ..optimizers import SGD, Adam

    args.model = ALIASES.get(args.model, args.model)
    names = MODELS if args.model == "all" else (args.model,)
    broken = None
    if args.broken:
        from ..exercises.broken import BROKEN, LAYERS_BROKEN
        if args.broken in LAYERS_BROKEN:
            if args.model != "all":
                raise UsageError(f"{args.broken} is shown in its own model: --model does not apply")
            return _layer_broken(LAYERS_BROKEN[args.broken], args.seed, args.samples)
        broken = BROKEN.get(args.broken)
        if broken is None:
            raise UsageError(f"unknown broken piece {args.broken!r}; see --list")
        if broken.model is None:
            if args.model != "all":
                raise UsageError(f"{broken.name} is checked alone, as the {broken.piece} exercise "
                                 "checks a learner's file: --model does not apply")
            return _broken_alone(broken)
        if args.model == "all":
            names = (broken.model,)
        elif broken.piece == "l1" and args.model != "sparse":
            raise UsageError("l1-sign needs --model sparse (the only model with an L1 penalty)")
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    failed = []
    for name in names:
        model = _build(name, args.seed)
        x = rng.random((args.batch, model.input_dim)).astype(np.float32)
        if broken is not None:
            from ..exercises.broken import install
            where = install(broken, model)
            print(f"[broken] {broken.description}: swapped into {model.name} ({where})\n")
        t0 = time.perf_counter()
        report = gradcheck.check_model(model, x, x, localize="always", k=args.samples,
                                       mode=args.mode, seed=args.seed)
        print(report)
        print(f"({time.perf_counter() - t0:.1f} s)\n")
        if not report.ok:
            failed.append(model.name)
    if broken is None:
        for opt in (Adam(), SGD(0.01), SGD(0.01, momentum=0.9)):
            report = gradcheck.check_optimizer(opt)
            label = f"{type(opt).__name__}(momentum={opt.momentum})" if isinstance(opt, SGD) \
                else type(opt).__name__
            worst = report.worst
            print(f"check_optimizer {label}: {len(report.rows)} steps against the closed form, "
                  f"worst {worst.error:.1e} -> {'PASS' if report.ok else 'FAIL'}")
            if not report.ok:
                print(report)
                failed.append(label)
    took = time.perf_counter() - start
    if failed:
        print(f"\nFAILED: {', '.join(failed)} ({took:.1f} s)")
        return EXIT_FAILED
    print(f"\nAll gradient checks passed ({took:.1f} s)")
    return EXIT_OK

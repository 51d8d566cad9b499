"""`scratchae demo` (the article, end to end) and `scratchae train NAME` (one model).

    scratchae demo                              vanilla, denoising, sparse standard and
                                                regularized with the article's recipe; a
                                                summary table and the figures
    scratchae train sparse --epochs 5 --out runs/sparse
    scratchae train vanilla --use dense=my_dense.py
                                                your exercise's class in place of scratchae's,
                                                trained next to the library's (see
                                                scratchae.exercises.plug)

Each run prints which data it uses and why, trains with a progress bar, and writes its
results into a folder (PNG figures; for `train` also the model file and a JSON history).
Every argument is checked before any training starts: a bad one is a one-line error and
exit code 2, as are missing data, sizes too large for this machine's memory and an output
folder that cannot be written. A run that diverges ends in one line too; Ctrl-C or a
divergence saves the completed epochs first (a second Ctrl-C waits for that save).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

from .._files import atomic_write
from . import EXIT_FAILED, EXIT_OK, UsageError

MODELS = ("vanilla", "shallow", "denoising", "sparse")

#: Epochs of `train --use` unless --epochs is given: enough to tell a right backward from a wrong one.
OWN_PIECE_EPOCHS = 2
#: `train --use`: your final loss within this fraction of scratchae's reads as "trains like it"
#: (the exercises' reference solutions land within 2e-5 after 10 epochs on mnist-5k).
LIKE_TOLERANCE = 0.005

DATASET_HELP = ("'auto' (full MNIST when cached or downloadable, else the bundled subset), "
                "'mnist' (full, downloaded and verified), 'mnist-5k' (bundled 4,000/1,000 subset), "
                "'fashion-mnist', or a folder holding the four IDX files (default: auto")

DEMO_EPILOG = """\
examples:
  scratchae demo                                  the article's recipe (3/10/20/20 epochs)
  scratchae demo --dataset mnist-5k --out figs    bundled data, figures into ./figs/
  scratchae demo --epochs 1 --verbose 0           every model one epoch, quietly

writes into --out: vanilla-reconstructions.png, vanilla-weights.png, denoising.png,
sparse-code-distributions.png, sparse-losses.png, loss-curves.png, summary.json
"""

TRAIN_EPILOG = """\
models (the article's defaults):
  vanilla    784-128-32-128-784, 3 epochs
  shallow    784-32-784, 5 epochs
  denoising  the vanilla layers, input clip(x + 0.4 N(0,1), 0, 1), target x, 10 epochs
  sparse     the shallow layers with l1(1e-5) on the code, 20 epochs

examples:
  scratchae train vanilla
  scratchae train denoising --noise-factor 0.5 --epochs 5 --out runs/denoise
  scratchae train sparse --l1 0 --dataset mnist-5k     the "standard" sparse comparison
  scratchae train shallow --code-size 64 --seed 3 --verbose 2

writes into --out: NAME.npz (load with scratchae.models.load_model), NAME-history.json,
NAME-reconstructions.png (denoising: NAME.png), NAME-loss.png, NAME-weights.png,
NAME-codes.png

train with your own piece (after scratchae gradcheck --exercise PIECE FILE passes):
  scratchae train vanilla --use dense=my_dense.py
  scratchae train sparse --use l1=my_l1.py --use relu=my_relu.py
  scratchae train vanilla --use dense=broken:dense-zero-dx     a shipped wrong piece
PIECE is dense, relu, sigmoid, bce or l1 (l1: a model with an L1 penalty, e.g. sparse).
The model trains twice from the same seed and weights, with your pieces and with
scratchae's, on mnist-5k for 2 epochs unless --dataset/--epochs say otherwise; both losses
are printed side by side with a verdict (exit code 1 when yours does not train like
scratchae's) and written to NAME-history.json (loss, scratchae_loss). Also writes NAME.npz,
NAME-reconstructions.png (yours and scratchae's) and NAME-loss.png.
"""


# -- arguments -----------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser, default_out: str, dataset_note: str = "") -> None:
    p.add_argument("--dataset", default=None, metavar="NAME|DIR", help=DATASET_HELP + dataset_note + ")")
    p.add_argument("--out", default=default_out, metavar="DIR",
                   help=f"folder for the results, created if needed (default: {default_out})")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="minibatch size (default: 32)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed for weights, shuffling and noise: same seed, same run (default: 0)")
    p.add_argument("--verbose", type=int, default=1, metavar="{0,1,2}",
                   help="0 silent, 1 progress bar, 2 one line per epoch (default: 1)")


def add_commands(sub) -> None:
    """Add `demo` and `train` to the `scratchae` command."""
    demo = sub.add_parser(
        "demo", help="train the article's autoencoders and draw its figures",
        description="The article, end to end: train the vanilla, denoising, and both "
                    "sparse autoencoders with its recipe, print a summary table and write the "
                    "figures.",
        epilog=DEMO_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(demo, "scratchae-demo")
    demo.add_argument("--epochs", type=int, default=None, metavar="N",
                      help="train every model N epochs instead of the article's 3/10/20/20")
    demo.set_defaults(run=run_demo)

    train = sub.add_parser(
        "train", help="train one autoencoder and save it with its history and figures",
        description="Train one of the article's autoencoders; save the model, its training "
                    "history (JSON) and its figures.",
        epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("model", choices=MODELS, metavar="MODEL", help="one of: " + ", ".join(MODELS))
    _common(train, "scratchae-train", "; mnist-5k with --use")
    train.add_argument("--epochs", type=int, default=None, metavar="N",
                       help="epochs (default: the article's, 3/5/10/20)")
    train.add_argument("--hidden-size", type=int, default=None, metavar="N",
                       help="vanilla/denoising: units of the two hidden layers (default: 128)")
    train.add_argument("--code-size", type=int, default=32, metavar="N", help="units of the code layer (default: 32)")
    train.add_argument("--l1", type=float, default=None, metavar="F",
                       help="L1 activity penalty on the code, >= 0 (default: 1e-5 for sparse, else 0)")
    train.add_argument("--noise-factor", type=float, default=None, metavar="F",
                       help="denoising: noise standard deviation, in [0, 1] (default: 0.4)")
    train.add_argument("--use", action="append", default=None, metavar="PIECE=FILE",
                       help="train with your exercise's class for PIECE (dense, relu, sigmoid, bce, "
                            "l1) from FILE, next to scratchae's own; PIECE=broken:NAME for a shipped "
                            "wrong piece (scratchae gradcheck --list); repeatable")
    train.set_defaults(run=run_train)


def _check_positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value}")


def _check_common(args: argparse.Namespace) -> None:
    if args.dataset is None:                # --use trains on the bundled digits unless told
        args.dataset = "mnist-5k" if getattr(args, "use", None) else "auto"
    _check_positive("--epochs", args.epochs)
    _check_positive("--batch-size", args.batch_size)
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    if args.verbose not in (0, 1, 2):
        raise UsageError(f"--verbose must be 0, 1 or 2, got {args.verbose}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out!r} exists and is not a folder")


def _check_train(args: argparse.Namespace) -> dict:
    """The resolved settings of `train`, after every check (article defaults filled in)."""
    from ..autoencoders import ARTICLE

    _check_common(args)
    _check_positive("--code-size", args.code_size)
    _check_positive("--hidden-size", args.hidden_size)
    deep = args.model in ("vanilla", "denoising")
    if args.hidden_size is not None and not deep:
        raise UsageError(f"--hidden-size applies to vanilla and denoising; {args.model} has no hidden layer")
    if args.l1 is not None and (not math.isfinite(args.l1) or args.l1 < 0):
        raise UsageError(f"--l1 must be a finite number >= 0, got {args.l1}")
    if args.noise_factor is not None:
        if args.model != "denoising":
            raise UsageError(f"--noise-factor applies to denoising only, not {args.model}")
        if not (0.0 <= args.noise_factor <= 1.0):
            raise UsageError(f"--noise-factor must be in [0, 1], got {args.noise_factor}")
    _check_memory(args.model, (args.hidden_size or 128) if deep else None, args.code_size, args.batch_size)
    recipe = ARTICLE[args.model]
    default_epochs = OWN_PIECE_EPOCHS if args.use else recipe["epochs"]
    return {
        "model": args.model,
        "epochs": args.epochs if args.epochs is not None else default_epochs,
        "batch_size": args.batch_size,
        "hidden_size": (args.hidden_size or 128) if deep else None,
        "code_size": args.code_size,
        "l1": args.l1 if args.l1 is not None else recipe.get("l1", 0.0),
        "noise_factor": (args.noise_factor if args.noise_factor is not None
                         else recipe["noise_factor"]) if args.model == "denoising" else None,
        "seed": args.seed,
        "dataset": args.dataset,
        "out": args.out,
        "verbose": args.verbose,
        "use": _parse_uses(args.use or []),
    }


#: Bytes of memory training takes per parameter: weights, gradients, Adam's two moments and
#: its scratch array, and two checkpoints of weights and moments (float32).
BYTES_PER_PARAMETER = 4 * 11
#: The memory `train` assumes where it cannot ask the system for it.
UNKNOWN_MEMORY_LIMIT = 64 * 2**30


def _check_memory(model: str, hidden: int | None, code: int, batch: int) -> None:
    """Refuse sizes whose model cannot fit in this machine's memory, before building it."""
    widths = [784, hidden, code, hidden, 784] if hidden else [784, code, 784]
    params = sum(a * b + b for a, b in zip(widths, widths[1:]))
    need = params * BYTES_PER_PARAMETER + 8 * 4 * min(batch, 60_000) * sum(widths)
    have = _physical_memory()
    limit = have if have is not None else UNKNOWN_MEMORY_LIMIT
    if need > limit:
        both = hidden and hidden != 128
        sizes = f"--code-size {code:,}" + (f" and --hidden-size {hidden:,} make" if both else " makes")
        where = (f"this machine has {have / 2**30:,.1f} GiB" if have is not None else
                 f"more than the {limit / 2**30:,.0f} GiB scratchae allows where it cannot tell")
        raise UsageError(f"{sizes} a {model} model of {params:,} parameters: training it needs "
                         f"about {need / 2**30:,.1f} GiB of memory, {where}; choose smaller sizes")


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _parse_uses(values: list[str]) -> dict[str, str]:
    """{piece: FILE or 'broken:NAME'} from the --use values, each piece at most once."""
    from ..exercises import plug

    uses: dict[str, str] = {}
    for text in values:
        try:
            piece, where = plug.parse_use(text)
        except plug.PlugError as exc:
            raise UsageError(str(exc)) from None
        if piece in uses:
            raise UsageError(f"--use {piece} given twice ({uses[piece]} and {where}); one class per piece")
        uses[piece] = where
    return uses


def _load_sources(settings: dict) -> list:
    """The plug.Source of every --use, each file imported and its class built once: any
    problem is a one-line UsageError before data is loaded."""
    from ..exercises import plug

    uses = settings["use"]
    if "l1" in uses and not settings["l1"]:
        raise UsageError(f"--use l1 needs a model with an L1 penalty on its code: train sparse "
                         f"(or give --l1 F > 0); {settings['model']} has none")
    try:
        return [plug.load_source(piece, where) for piece, where in uses.items()]
    except plug.PlugError as exc:
        raise UsageError(str(exc)) from None


# -- shared steps --------------------------------------------------------------------------------
def _load_data(name: str):
    """The dataset, or a one-line UsageError saying why it could not be had."""
    from ..datasets import load

    try:
        data = load(name)
    except (OSError, ValueError, TypeError) as exc:
        reason = getattr(exc, "summary", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = ("; offline, --dataset mnist-5k uses the subset bundled with scratchae"
                if isinstance(exc, OSError) else "")
        raise UsageError(f"cannot load dataset {name!r}: {reason}{hint}") from None
    print(f"Data: {data.description}")
    print(f"      {len(data.x_train):,} training and {len(data.x_test):,} test images, "
          f"{data.x_train.shape[1]} pixels each", flush=True)
    return data


def _save_figure(fig, path: str) -> str:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    return path


def _save_json(obj: dict, path: str) -> str:
    atomic_write(path, lambda f: (json.dump(obj, f, indent=2), f.write("\n")), text=True)
    return path


def _make_out(folder: str, names: tuple[str, ...] = ()) -> None:
    """Create the output folder and make sure files can be written there, and that none of
    `names` is taken by a folder: before training, so a run is never lost at its end."""
    import tempfile

    from .._files import target_path

    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {folder!r}: {exc.strerror or exc}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".scratchae-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"cannot write into output folder {folder!r}: {exc.strerror or exc}") from None
    for name in names:
        try:
            target_path(os.path.join(folder, name))
        except OSError as exc:
            raise UsageError(f"cannot write {os.path.join(folder, name)!r}: {exc.strerror}") from None


def _train_one(label: str, ae, x_in, x_target, x_test_in, x_test, epochs: int, args) -> dict:
    """Fit one autoencoder and measure it: losses, test loss, mean code value, seconds."""
    if args.verbose:
        print(f"\n== {label}: {epochs} epoch(s), batch {args.batch_size} ==", flush=True)
    start = time.perf_counter()
    history = ae.model.fit(x_in, x_target, epochs=epochs, batch_size=args.batch_size,
                           verbose=args.verbose, seed=args.seed)
    seconds = time.perf_counter() - start
    codes = ae.encoder.predict(x_test_in)
    return {
        "label": label,
        "epochs": epochs,
        "loss": [float(v) for v in history.history["loss"]],
        "test_loss": float(ae.model.evaluate(x_test_in, x_test)),
        "mean_code": float(codes.mean()),
        "seconds": seconds,
        "history": history,
        "codes": codes,
        "ae": ae,
    }


def _table(rows: list[dict]) -> str:
    head = f"{'model':<22}{'epochs':>7}{'train loss':>12}{'test loss':>11}{'mean code':>11}{'seconds':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['label']:<22}{r['epochs']:>7}{r['loss'][-1]:>12.4f}{r['test_loss']:>11.4f}"
                     f"{r['mean_code']:>11.2f}{r['seconds']:>9.1f}")
    return "\n".join(lines)


# -- scratchae demo ------------------------------------------------------------------------------
def run_demo(args: argparse.Namespace) -> int:
    from .. import autoencoders, plotting
    from ..datasets import add_gaussian_noise

    _check_common(args)
    data = _load_data(args.dataset)
    _make_out(args.out, ("vanilla-reconstructions.png", "vanilla-weights.png", "denoising.png",
                         "sparse-code-distributions.png", "sparse-losses.png", "loss-curves.png",
                         "summary.json"))
    recipe = autoencoders.ARTICLE
    epochs = {k: args.epochs or recipe[k]["epochs"] for k in ("vanilla", "denoising", "sparse")}
    seed = args.seed
    x, xt = data.x_train, data.x_test
    noise = recipe["denoising"]["noise_factor"]
    x_noisy = add_gaussian_noise(x, noise, seed=seed)
    xt_noisy = add_gaussian_noise(xt, noise, seed=seed + 1)
    factor = recipe["sparse"]["l1"]

    started = time.perf_counter()
    rows = [
        _train_one("vanilla", autoencoders.vanilla(seed=seed), x, x, xt, xt, epochs["vanilla"], args),
        _train_one(f"denoising (noise {noise:g})", autoencoders.vanilla(seed=seed), x_noisy, x, xt_noisy, xt,
                   epochs["denoising"], args),
        _train_one("sparse standard", autoencoders.shallow(seed=seed), x, x, xt, xt, epochs["sparse"], args),
        _train_one(f"sparse l1({factor:g})", autoencoders.sparse(l1=factor, seed=seed), x, x, xt, xt,
                   epochs["sparse"], args),
    ]
    total = time.perf_counter() - started
    vanilla, denoise, standard, regularized = rows

    print(f"\nSummary ({data.description}):\n")
    print(_table(rows))
    print("\ntest loss is `evaluate` on the test images (denoising: noisy test inputs against clean "
          "targets;\nthe L1 model's includes its penalty, as in Keras). mean code: the encoder's "
          "output averaged\nover every test image and code unit.")
    ratio = standard["mean_code"] / regularized["mean_code"] if regularized["mean_code"] > 0 else math.inf
    print(f"\nSparse effect: the regularized code averages {regularized['mean_code']:.2f} against "
          f"{standard['mean_code']:.2f} without the penalty, {ratio:.1f}x lower "
          f"(the article, on full MNIST: 0.78 vs 6.60).")

    out = args.out
    n = min(5, len(xt))
    written = [
        _save_figure(plotting.reconstructions(xt, vanilla["ae"].model.predict(xt), n=n),
                     os.path.join(out, "vanilla-reconstructions.png")),
        _save_figure(plotting.first_layer_weights(vanilla["ae"].model.get_weights()[0], n=10),
                     os.path.join(out, "vanilla-weights.png")),
        _save_figure(plotting.denoising(xt, xt_noisy, denoise["ae"].model.predict(xt_noisy), n=n),
                     os.path.join(out, "denoising.png")),
        _save_figure(plotting.code_distributions({"standard": standard["codes"],
                                                  "regularized": regularized["codes"]}),
                     os.path.join(out, "sparse-code-distributions.png")),
        _save_figure(plotting.compare_losses({"standard": standard["history"],
                                              "regularized": regularized["history"]}),
                     os.path.join(out, "sparse-losses.png")),
        _save_figure(plotting.loss_curves({r["label"]: r["history"] for r in rows}),
                     os.path.join(out, "loss-curves.png")),
    ]
    summary = {
        "dataset": {"name": data.name, "description": data.description,
                    "train": len(x), "test": len(xt)},
        "arguments": {k: v for k, v in vars(args).items() if k != "run"},
        "models": [{k: r[k] for k in ("label", "epochs", "loss", "test_loss", "mean_code", "seconds")}
                   for r in rows],
        "sparse_ratio": ratio,
        "training_seconds": total,
    }
    written.append(_save_json(summary, os.path.join(out, "summary.json")))
    print(f"\nTraining took {total:.1f} s. Wrote {len(written)} files to {out}{os.sep}:")
    for path in written:
        print(f"  {os.path.basename(path)}")
    return 0


# -- scratchae train NAME ------------------------------------------------------------------------
def _build(settings: dict):
    """The autoencoder `settings` describe, from its seed (the same seed, the same weights)."""
    from .. import autoencoders

    l1, seed = settings["l1"] or None, settings["seed"]
    if settings["model"] in ("vanilla", "denoising"):
        return autoencoders.vanilla(settings["hidden_size"], settings["code_size"], l1=l1, seed=seed)
    return autoencoders.shallow(settings["code_size"], l1=l1, seed=seed)


def _inputs(settings: dict, data):
    """(training inputs, test inputs): the images, or their noisy versions for denoising."""
    from ..datasets import add_gaussian_noise

    x, xt = data.x_train, data.x_test
    if settings["model"] != "denoising":
        return x, xt
    seed = settings["seed"]
    return (add_gaussian_noise(x, settings["noise_factor"], seed=seed),
            add_gaussian_noise(xt, settings["noise_factor"], seed=seed + 1))


def run_train(args: argparse.Namespace) -> int:
    from .. import __version__, plotting
    from ..training import NonFiniteLossError

    settings = _check_train(args)
    if settings["use"]:
        return run_train_own(args, settings, _load_sources(settings))
    data = _load_data(args.dataset)
    name = settings["model"]
    _make_out(args.out, _train_outputs(name))
    ae = _build(settings)
    x, xt = data.x_train, data.x_test
    x_in, xt_in = _inputs(settings, data)
    if args.verbose:
        ae.model.summary()
    out = args.out
    model_path = os.path.join(out, f"{name}.npz")
    dataset_info = {"name": data.name, "description": data.description, "train": len(x), "test": len(xt)}
    stopped = {"model": name, "dataset": dataset_info, "arguments": settings,
               "scratchae_version": __version__}
    try:
        r = _train_one(name, ae, x_in, x, xt_in, xt, settings["epochs"], args)
    except KeyboardInterrupt:
        # Nothing lost: fit put the model back to the end of its last completed epoch; save
        # exactly that (a second Ctrl-C waits for the save), then exit 130.
        saved = _save_completed(ae.model, model_path, stopped | {"interrupted": True})
        if saved:
            print(f"scratchae: {saved}", file=sys.stderr)
        raise
    except NonFiniteLossError as exc:
        saved = _save_completed(ae.model, model_path, stopped | {"interrupted": False,
                                                                 "diverged": str(exc)})
        hint = f"; a smaller --l1 (now {settings['l1']:g}) may help" if settings["l1"] else ""
        raise UsageError(f"training diverged: {str(exc).split(';')[0]}; "
                         f"{saved or 'no epoch completed, nothing saved'}{hint}") from None

    print()
    print(_table([r]))
    ae.model.save(model_path)
    n = min(5, len(xt))
    outputs = ae.model.predict(xt_in)
    if name == "denoising":
        first = plotting.denoising(xt, xt_in, outputs, n=n)
        first_path = os.path.join(out, f"{name}.png")
    else:
        first = plotting.reconstructions(xt, outputs, n=n)
        first_path = os.path.join(out, f"{name}-reconstructions.png")
    written = [
        model_path,
        _save_json({
            "model": name,
            "loss": r["loss"],
            "epochs": r["epochs"],
            "test_loss": r["test_loss"],
            "mean_code": r["mean_code"],
            "seconds": r["seconds"],
            "interrupted": False,
            "dataset": dataset_info,
            "arguments": settings,
            "scratchae_version": __version__,
        }, os.path.join(out, f"{name}-history.json")),
        _save_figure(first, first_path),
        _save_figure(plotting.loss_curves({name: r["history"]}), os.path.join(out, f"{name}-loss.png")),
        _save_figure(plotting.first_layer_weights(ae.model.get_weights()[0], n=min(10, ae.model.get_weights()[0].shape[1])),
                     os.path.join(out, f"{name}-weights.png")),
        _save_figure(plotting.code_distributions({name: r["codes"]}), os.path.join(out, f"{name}-codes.png")),
    ]
    print(f"\nWrote {len(written)} files to {out}{os.sep}:")
    for path in written:
        print(f"  {os.path.basename(path)}")
    return 0


def _train_outputs(name: str) -> tuple[str, ...]:
    """The files `train NAME` writes into --out."""
    first = f"{name}.png" if name == "denoising" else f"{name}-reconstructions.png"
    return (f"{name}.npz", f"{name}-history.json", first, f"{name}-loss.png", f"{name}-weights.png",
            f"{name}-codes.png")


def _save_completed(model, model_path: str, info: dict) -> str:
    """Save the model and a history of its completed epochs (what fit left it at), with
    Ctrl-C held until both files are written; '' when no epoch completed."""
    from ..training import held_interrupts

    done = [float(v) for v in model.history.history.get("loss", [])] if model.history else []
    if not done:
        return ""
    history = os.path.join(os.path.dirname(model_path), os.path.basename(model_path)[:-4] + "-history.json")
    with held_interrupts(raise_after=False):       # already stopping: a second Ctrl-C waits
        model.save(model_path)
        _save_json(info | {"loss": done, "epochs": len(done)}, history)
    return f"saved the {len(done)} completed epoch(s) to {model_path} and {os.path.basename(history)}"


# -- scratchae train NAME --use PIECE=FILE -------------------------------------------------------
def run_train_own(args: argparse.Namespace, settings: dict, sources: list) -> int:
    """Train the model with the learner's pieces and, from the same seed, with scratchae's;
    print both losses per epoch and a verdict; exit 1 when theirs does not train like ours."""

    from .. import __version__, plotting
    from ..exercises import plug

    data = _load_data(settings["dataset"])
    name = settings["model"]
    own, lib = _build(settings), _build(settings)
    try:
        places = [plug.plug(own.model, source) for source in sources]
    except plug.PlugError as exc:
        raise UsageError(str(exc)) from None
    own.model.set_weights(lib.model.get_weights())      # the same start, whatever the pieces
    lib.model.fuse_sigmoid_bce = own.model.fused        # the same step: only the pieces differ
    x, xt = data.x_train, data.x_test
    x_in, xt_in = _inputs(settings, data)
    try:
        plug.try_one_batch(own.model, x_in[:4], x[:4], sources)
    except plug.PlugError as exc:
        raise UsageError(str(exc)) from None
    _make_out(settings["out"])

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
            mine = _train_one(own_label, own, x_in, x, xt_in, xt, epochs, args)
    except Exception as exc:                                # the learner's code, mid-training
        text = (str(exc).strip().splitlines() or [""])[0]
        print(f"\n{own_label}: training stopped: {type(exc).__name__}: {text}\n"
              f"Check the backward with: {_commands(sources)}")
        return EXIT_FAILED
    ours = _train_one(lib_label, lib, x_in, x, xt_in, xt, epochs, args)

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
        _save_json({
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
        _save_figure(figure, os.path.join(out, f"{name}-reconstructions.png")),
        _save_figure(plotting.compare_losses({own_label: mine["history"], lib_label: ours["history"]}),
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

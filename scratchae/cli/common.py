"""What `scratchae demo` and `scratchae train` share: the common options and their checks,
loading the data, the output folder and files, training one autoencoder with its figures
of merit (losses and their parts, test loss, mean code value, seconds, what the monitor saw),
and the figures of the inside of one autoencoder (its code space, its monitor).

`run_command` is around each whole command: SIGTERM and SIGHUP end it as Ctrl-C does (what
was completed saved and said, then exit code 128 + the signal's number: 143, 129; Ctrl-C
130), and the output folder that `make_out` creates is the run's own until it ends, with a
record of the files it wrote (`scratchae.cli.outfolder`). `rescue_save` is the save of the
completed epochs when training stops early, whatever stopped it.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Callable

from .._files import atomic_write
from . import UsageError
from .outfolder import RECORD_NAME, OutputFolder

DATASET_HELP = ("'auto' (full MNIST when cached or downloadable, else the bundled subset), "
                "'mnist' (full, downloaded and verified), 'mnist-5k' (bundled 4,000/1,000 subset), "
                "'fashion-mnist', or a folder holding the four IDX files (default: auto")

def add_common_options(p: argparse.ArgumentParser, default_out: str, dataset_note: str = "") -> None:
    p.add_argument("--dataset", default=None, metavar="NAME|DIR", help=DATASET_HELP + dataset_note + ")")
    p.add_argument("--out", default=default_out, metavar="DIR",
                   help=f"folder for the results, created if needed (default: {default_out})")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="minibatch size (default: 32; the vae's recipe 128)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed for weights, shuffling and noise: same seed, same run (default: 0)")
    p.add_argument("--verbose", type=int, default=1, metavar="{0,1,2}",
                   help="0 silent, 1 progress bar, 2 one line per epoch (default: 1)")
    p.add_argument("--monitor", type=int, default=MONITOR_EVERY, metavar="K",
                   help="record gradient norms, update ratios and dead units every K steps and "
                        f"draw them (scratchae.monitor.Monitor); 0 turns it off (default: {MONITOR_EVERY})")

#: The monitor's default period in the commands: Monitor's own default.
MONITOR_EVERY = 25

def check_positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value}")

def check_common(args: argparse.Namespace) -> None:
    if args.dataset is None:                # --use trains on the bundled digits unless told
        args.dataset = "mnist-5k" if getattr(args, "use", None) else "auto"
    check_positive("--epochs", args.epochs)
    if args.batch_size is None:
        args.batch_size = 32
    check_positive("--batch-size", args.batch_size)
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    if args.verbose not in (0, 1, 2):
        raise UsageError(f"--verbose must be 0, 1 or 2, got {args.verbose}")
    if getattr(args, "monitor", 0) < 0:
        raise UsageError(f"--monitor must be a number of steps >= 0 (0: off), got {args.monitor}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out!r} exists and is not a folder")

#: Bytes of memory training takes per parameter: weights, gradients, Adam's two moments and
#: its scratch array, and two checkpoints of weights and moments (float32).
BYTES_PER_PARAMETER = 4 * 11

#: The memory `train` assumes where it cannot ask the system for it.
UNKNOWN_MEMORY_LIMIT = 64 * 2**30

def check_memory(model: str, hidden: int | None, code: int, batch: int) -> None:
    """Refuse sizes whose model cannot fit in this machine's memory, before building it."""
    widths = [784, hidden, code, hidden, 784] if hidden else [784, code, 784]
    params = sum(a * b + b for a, b in zip(widths, widths[1:]))
    need = params * BYTES_PER_PARAMETER + 8 * 4 * min(batch, 60_000) * sum(widths)
    have = physical_memory()
    limit = have if have is not None else UNKNOWN_MEMORY_LIMIT
    if need > limit:
        both = hidden and hidden != 128
        sizes = f"--code-size {code:,}" + (f" and --hidden-size {hidden:,} make" if both else " makes")
        where = (f"this machine has {have / 2**30:,.1f} GiB" if have is not None else
                 f"more than the {limit / 2**30:,.0f} GiB scratchae allows where it cannot tell")
        raise UsageError(f"{sizes} a {model} model of {params:,} parameters: training it needs "
                         f"about {need / 2**30:,.1f} GiB of memory, {where}; choose smaller sizes")

def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None

def load_data(name: str):
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

def save_figure(fig, path: str) -> str:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    return path

def save_json(obj: dict, path: str) -> str:
    atomic_write(path, lambda f: (json.dump(obj, f, indent=2), f.write("\n")), text=True)
    return path

class _Command:
    """The command running in this process (see `run_command`): its output folder, once owned."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.out: OutputFolder | None = None


_running: _Command | None = None


def run_command(name: str, body: Callable[[], int]) -> int:
    """Run a command's `body` (returning its exit code) as one run: SIGTERM and SIGHUP raise
    `Interrupted` wherever they land, as Ctrl-C raises KeyboardInterrupt, so that the command's
    own rescue (in `fit`, then `rescue_save`) keeps what was completed; then exit code
    128 + the signal (SystemExit: 143, 129; Ctrl-C goes on to `main`, 130). The folder
    `make_out` owned gets its record and is let go, however the run ends."""
    from ..training import held_interrupts, signals_as_interrupts

    global _running
    command, previous = _Command(name), _running
    _running = command
    how, code = "finished", 1
    try:
        with signals_as_interrupts():
            try:
                code = body()
                how = "finished" if code == 0 else f"finished with exit code {code}"
                return code
            except KeyboardInterrupt as exc:
                signum = getattr(exc, "signum", signal.SIGINT)
                how, code = f"stopped by {signal.Signals(signum).name}", 128 + signum
                if signum == signal.SIGINT:
                    raise
                print(f"\nscratchae: stopped by {signal.Signals(signum).name}", file=sys.stderr)
                raise SystemExit(code) from None
            except UsageError as exc:
                how, code = f"error: {exc}", 2
                raise
            except BaseException as exc:
                how = f"error: {type(exc).__name__}: {exc}"
                raise
            finally:
                if command.out is not None:
                    with held_interrupts(raise_after=False):     # the record is written whole
                        earlier = command.out.finish(how, code)
                    if earlier and code == 0:
                        shown = ", ".join(earlier[:6]) + (", ..." if len(earlier) > 6 else "")
                        record = os.path.join(command.out.folder, RECORD_NAME)
                        print(f"Note: {command.out.folder}{os.sep} also holds {len(earlier)} file(s) "
                              f"this run did not write (from earlier runs, kept; listed in "
                              f"{record}): {shown}")
    finally:
        _running = previous


def rescue_save(model, model_path: str, json_path: str, info: dict) -> str:
    """Save `model` and `info` with the history of its completed epochs (where fit left it when
    it stopped early), every stop signal held until both files are written: the sentence
    saying so, or '' when no epoch completed."""
    from ..training import held_interrupts

    done = [float(v) for v in model.history.history.get("loss", [])] if model.history else []
    if not done:
        return ""
    with held_interrupts(raise_after=False):       # already stopping: a second signal waits
        model.save(model_path)
        save_json(info | {"loss": done, "epochs": len(done),
                          "history": {k: [float(v) for v in vs] for k, vs in model.history.with_parts().items()}},
                  json_path)
    return f"saved the {len(done)} completed epoch(s) to {model_path} and {os.path.basename(json_path)}"


def make_out(folder: str, names: tuple[str, ...] = ()) -> None:
    """Create the output folder and make sure files can be written there, and that none of
    `names` is taken by a folder: before training, so a run is never lost at its end. Inside
    `run_command`, the folder becomes the run's own (a UsageError if another run has it)."""
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
    if _running is not None and _running.out is None:
        out = OutputFolder(folder, _running.name)
        out.own()
        _running.out = out
        if out.note:
            print(f"scratchae: note: {out.note}", file=sys.stderr)

def train_one(label: str, ae, x_in, x_target, x_test_in, x_test, epochs: int, args,
              monitor_every: int = 0) -> dict:
    """Fit one autoencoder and measure it: losses (and their parts), test loss (and its parts),
    mean code value, seconds; with monitor_every > 0, a Monitor recording every that many steps."""
    from ..monitor import Monitor

    if args.verbose:
        print(f"\n== {label}: {epochs} epoch(s), batch {args.batch_size} ==", flush=True)
    monitor = Monitor(every=monitor_every) if monitor_every else None
    start = time.perf_counter()
    history = ae.model.fit(x_in, x_target, epochs=epochs, batch_size=args.batch_size,
                           verbose=args.verbose, seed=args.seed,
                           callbacks=[monitor] if monitor else None)
    seconds = time.perf_counter() - start
    codes = ae.encoder.predict(x_test_in)
    test = ae.model.evaluate(x_test_in, x_test, return_dict=True)
    return {
        "label": label,
        "epochs": epochs,
        "loss": [float(v) for v in history.history["loss"]],
        "reconstruction_loss": [float(v) for v in history.parts["reconstruction_loss"]],
        "test_loss": float(test["loss"]),
        "test_reconstruction_loss": float(test["reconstruction_loss"]),
        "test": test,
        "mean_code": float(codes.mean()),
        "seconds": seconds,
        "history": history,
        "monitor": monitor,
        "codes": codes,
        "ae": ae,
    }

TABLE_NOTE = ("loss: what trains, the binary cross-entropy plus any activity penalty (Keras's "
              "loss); recon: the binary cross-entropy alone, comparable between models with and "
              "without a penalty.")

VAE_TABLE_NOTE = ("vae, in nats per image: loss is the negative ELBO (beta = 1), the binary "
                  "cross-entropy summed over the pixels plus beta times the KL from the prior; "
                  "recon: the binary cross-entropy alone; test figures decode z = z_mean; mean "
                  "code: the mean of z_mean.")

def table_columns(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The results table's head and rows, as text cells (the printed table and the page's)."""
    head = ["model", "epochs", "train loss", "train recon", "test loss", "test recon", "mean code", "seconds"]
    cells = [[r["label"], str(r["epochs"]), f"{r['loss'][-1]:.4f}", f"{r['reconstruction_loss'][-1]:.4f}",
              f"{r['test_loss']:.4f}", f"{r['test_reconstruction_loss']:.4f}", f"{r['mean_code']:.2f}",
              f"{r['seconds']:.1f}"] for r in rows]
    return head, cells

def table(rows: list[dict]) -> str:
    head, cells = table_columns(rows)
    widths = [max(22, *(len(c[0]) for c in cells))] + [max(len(h), 6) + 2 for h in head[1:]]
    line = lambda cols: (f"{cols[0]:<{widths[0]}}"
                         + "".join(f"{c:>{w}}" for c, w in zip(cols[1:], widths[1:]))).rstrip()
    lines = [line(head), "-" * sum(widths)]
    lines += [line(c) for c in cells]
    return "\n".join(lines)


def build_model(settings: dict, x_train=None):
    """The autoencoder `settings` describe, from its seed (the same seed, the same weights).
    x_train: the training images, for the contractive model's output bias (their mean)."""
    from .. import autoencoders

    l1, seed = settings["l1"] or None, settings["seed"]
    if settings["model"] in ("vanilla", "denoising"):
        return autoencoders.vanilla(settings["hidden_size"], settings["code_size"], l1=l1, seed=seed)
    if settings["model"] == "tied":
        return autoencoders.tied(settings["code_size"], settings["hidden_size"], seed=seed)
    if settings["model"] == "contractive":
        mean = None if x_train is None else x_train.mean(axis=0, dtype="float64")
        return autoencoders.contractive(settings["code_size"], settings["lam"], seed=seed, mean_image=mean)
    if settings["model"] == "vae":
        return autoencoders.vae(settings["code_size"], settings["hidden_size"], beta=settings["beta"], seed=seed)
    if settings["model"] == "conv":
        return autoencoders.convolutional(seed=seed)
    if settings["model"] == "conv-denoising":
        return autoencoders.convolutional_denoising(seed=seed)
    return autoencoders.shallow(settings["code_size"], l1=l1, seed=seed)


def model_inputs(settings: dict, data):
    """(training inputs, test inputs): the images, or their noisy versions for the denoising
    models (those with a noise factor: denoising, conv-denoising)."""
    from ..datasets import add_gaussian_noise

    x, xt = data.x_train, data.x_test
    if settings.get("noise_factor") is None:
        return x, xt
    seed = settings["seed"]
    return (add_gaussian_noise(x, settings["noise_factor"], seed=seed),
            add_gaussian_noise(xt, settings["noise_factor"], seed=seed + 1))


# -- the inside of one autoencoder: figures for its page ---------------------------------------
def run_text(label: str, data, epochs: int, args) -> str:
    """Where a figure's numbers come from, for its corner: model, data, epochs, batch, seed."""
    return (f"{label}; {data.name} ({len(data.x_train):,} train / {len(data.x_test):,} test); "
            f"{epochs} epoch(s), batch {args.batch_size}, seed {args.seed}")

def inside_figures(prefix: str, r: dict, data, run: str, out: str, tsne: int = 0,
                   seed: int = 0) -> list[tuple[str, str, str]]:
    """Write the code-space figures of the autoencoder trained in `r` (from `train_one`) and, if
    it was monitored, the monitor's figures and records; return (file, heading, caption) for
    each figure, in the order a page shows them. tsne: map the first `tsne` test images (at
    most all of them) with PCA and t-SNE, codes and pixels (`figures_code.maps_2d`); 0: no map.
    The maps' 1-NN accuracies go into r["maps"]."""
    import numpy as np

    from .. import figures_code, figures_training
    from .captions import unit_health_caption

    ae, xt, yt = r["ae"], data.x_test, data.y_test
    codes = ae.encoder.predict(xt)                   # the clean test images (denoising too)
    maps = _maps_figure(prefix, r, codes, xt, yt, run, tsne, seed) if tsne else []
    a = 0
    others = np.flatnonzero(yt != yt[a])
    b = int(others[0]) if len(others) else min(1, len(xt) - 1)
    line = figures_code.line_between(codes[a], codes[b], 9).astype(codes.dtype)
    figures = [] if len(xt) < 2 else [        # a projection needs two images at least
        (f"{prefix}-code-space.png", "The code space",
         figures_code.code_space(codes, yt, run=run),
         "Each test image's code, projected on its two directions of largest variance and "
         "coloured by the digit: look for digits that form their own clusters, and for those "
         "that overlap (the code was never told the labels)."),
        (f"{prefix}-interpolation.png", "A straight line between two codes",
         figures_code.code_interpolation(xt[a], xt[b], ae.decoder.predict(line),
                                         labels=(f"digit {yt[a]}", f"digit {yt[b]}"), run=run),
         "The decoder's images of the codes on the straight line from the first test image's "
         "code to the code of the first test image of another digit: does it morph smoothly, "
         "or pass through shapes that are no digit?"),
    ] + maps
    monitor = r["monitor"]
    if monitor is not None and monitor.steps:
        every = monitor.every
        figures += [
            (f"{prefix}-gradients.png", "Gradient flow",
             figures_training.gradient_norms(monitor, run=run),
             f"The size of each layer's gradient on one batch, every {every} steps (log scale): "
             "a layer whose line falls far below the others learns little (vanishing gradient)."),
            (f"{prefix}-update-ratios.png", "Update-to-weight ratios",
             figures_training.update_ratios(monitor, run=run),
             "How far each step moves each layer's weights, relative to their size (log "
             "scale): around the dashed 1e-3 line is healthy; the lowest line is the layer "
             "that learns slowest."),
            (f"{prefix}-unit-health.png", "Dead and saturated units",
             figures_training.unit_health(monitor, run=run),
             unit_health_caption(monitor, xt)),
            (f"{prefix}-activations.png", "Layer outputs",
             figures_training.activation_stats(monitor, run=run),
             "Mean and spread of each layer's output: a collapsing spread means the layer "
             "stops telling its inputs apart."),
        ]
    written = [(name, heading, caption) for name, heading, _, caption in figures]
    for name, _, fig, _ in figures:
        save_figure(fig, os.path.join(out, name))
    if monitor is not None and monitor.steps:
        save_json(monitor.to_dict(), os.path.join(out, f"{prefix}-monitor.json"))
    return written

def _maps_figure(prefix: str, r: dict, codes, xt, yt, run: str, tsne: int, seed: int) -> list:
    """The PCA and t-SNE maps of the first `tsne` test images, as one figure with a caption
    computed from the run; [] when there are fewer than 4 images."""
    import numpy as np

    from .. import figures_code

    n = min(tsne, len(xt))
    if n < 4:
        return []
    print(f"Mapping {n:,} test images to 2-D (PCA and t-SNE of their codes and of their pixels; "
          f"t-SNE is O(n^2): about {6 * (n / 1000) ** 2:.0f} s per map on 2 cores) ...", flush=True)
    maps = figures_code.maps_2d(codes[:n], xt[:n], random_state=seed)
    acc = r["maps"] = figures_code.map_accuracies(maps, yt[:n])
    width = int(np.prod(np.shape(codes)[1:]))
    print(map_line(acc, width))
    return [(f"{prefix}-maps.png", "The code space, mapped by PCA and by t-SNE",
             figures_code.code_maps(maps, yt[:n], code_width=width, run=run),
             f"The first {n:,} test images mapped to 2-D from their {width}-number codes (top) and "
             f"from their {int(np.prod(np.shape(xt)[1:]))} pixels (bottom), by PCA (left) and "
             f"t-SNE (right), coloured by digit. " + map_line(acc, width))]


def map_line(acc: dict, width: int) -> str:
    """One sentence comparing the maps' 1-NN accuracies (from `figures_code.map_accuracies`)."""
    c, p = acc["codes"]["t-SNE"], acc["pixels"]["t-SNE"]
    verdict = ("keeps the digits apart better than the pixels' map" if c > p else
               "keeps the digits apart no better than the pixels' map" if c == p else
               "keeps the digits apart less well than the pixels' map")
    return (f"1-NN accuracy in 2-D (the share of images whose nearest neighbour on the map is the "
            f"same digit): t-SNE {c:.1%} from the codes, {p:.1%} from the pixels; PCA "
            f"{acc['codes']['PCA']:.1%} and {acc['pixels']['PCA']:.1%}. Here the {width}-number "
            f"codes' t-SNE map {verdict}.")


def monitor_summary(monitor) -> str:
    """Two lines on what the monitor saw at its last record: the layer with the smallest
    update ratio, and the dead ReLU units."""
    ratios = monitor.last("update_ratio")
    slow = min(ratios, key=ratios.get)
    dead = {k: v for k, v in monitor.last("dead_fraction").items() if v == v}
    dead_text = ", ".join(f"{k} {v:.0%}" for k, v in dead.items()) or "no ReLU layer"
    return (f"Monitor (every {monitor.every} steps, last record): smallest update ratio "
            f"{ratios[slow]:.1e} in {slow} ({monitor.kinds[slow]}, {monitor.shapes[slow]}); "
            f"dead ReLU units: {dead_text}.")

def loss_series(name: str, r: dict) -> dict:
    """The curves of a training-loss figure: the loss; and, with a penalty, its
    reconstruction part beside it."""
    history = r["history"].with_parts()            # Keras's loss and its parts (History.parts)
    if history["reconstruction_loss"] == history["loss"]:
        return {name: history["loss"]}
    return {f"{name}: loss (BCE + penalty)": history["loss"],
            f"{name}: reconstruction (BCE alone)": history["reconstruction_loss"]}

def train_outputs(name: str, monitor: bool) -> tuple[str, ...]:
    """The files beyond the model, history and article figures that `train NAME` writes."""
    inside = ("code-space.png", "interpolation.png", "maps.png")
    if monitor:
        inside += ("gradients.png", "update-ratios.png", "unit-health.png", "activations.png", "monitor.json")
    return tuple(f"{name}-{s}" for s in inside) + ("index.html",)

def train_page(name: str, r: dict, data, settings: dict, args, first_path: str,
               extra: list[tuple[str, str, str]] = ()) -> list[str]:
    """The code-space and monitor figures of a `train` run, then its index.html; the paths.
    extra: (file, heading, caption) of figures already written, shown after the first four."""
    from .. import __version__
    from ..autoencoders import CONV_RECIPES
    from ..report_html import Page, write_page
    from .captions import loss_trend

    out = args.out
    run = run_text(name, data, r["epochs"], args)
    inside = inside_figures(name, r, data, run, out, tsne=getattr(args, "tsne", 0), seed=args.seed)
    first = os.path.basename(first_path)
    denoising = settings.get("noise_factor") is not None
    figures = [
        (first, "Reconstructions" if not denoising else "Denoising",
         "Test digits the model never saw over its outputs"
         + (" from their noisy versions" if denoising else "")
         + ": look at what is lost, thin strokes and unusual shapes."),
        (f"{name}-loss.png", "Training loss",
         ("The negative ELBO per epoch, its reconstruction part and its KL part (nats per image). "
          if name == "vae" else
          "The loss per epoch (with a penalty, also its reconstruction part). ")
         + loss_trend(r["history"].history["loss"], "the training loss")),
    ] + ([] if name in CONV_RECIPES else [              # a conv model's filters come in extra
        (f"{name}-weights.png", "First-layer weights",
         "The weights into each of the first units of the first layer, as images on one colour "
         "scale (red positive, blue negative): stroke-like blobs are learned features."),
    ]) + [
        (f"{name}-codes.png", "Code values",
         "Every code value on the test images (log density): a tall bar at 0 is a sparse code."
         if name != "vae" else "Every z_mean value on the test images (log density): the prior "
         "asks for a standard normal."),
    ] + list(extra) + inside
    monitor = r["monitor"]
    links = [(f"{name}.npz", "the trained model (scratchae.models.load_model)"),
             (f"{name}-history.json", "loss, reconstruction_loss and penalties per epoch, test "
                                      "losses, the data and the arguments"),
             (RECORD_NAME, "this run's own files in the folder (size, SHA-256), how it ended, and "
                           "the files of earlier runs it kept")]
    if monitor is not None and monitor.steps:
        links.append((f"{name}-monitor.json", "what the monitor recorded, per layer"))
    head, cells = table_columns([r])
    notes = [VAE_TABLE_NOTE if name == "vae" else TABLE_NOTE]
    notes += [monitor_summary(monitor)] if monitor is not None and monitor.steps else []
    page = Page(
        title=f"scratchae train {name}",
        intro=[f"One {name} autoencoder trained by scratchae {__version__}."],
        settings=[(k.replace("_", " "), "none" if v is None else str(v)) for k, v in settings.items()]
                 + [("monitor", f"every {args.monitor} steps" if args.monitor else "off")],
        data=[("dataset", data.name), ("what", data.description),
              ("images", f"{len(data.x_train):,} training, {len(data.x_test):,} test, "
                         f"{data.x_train.shape[1]} pixels each")],
        table_head=head, table_rows=cells, table_notes=notes, figures=figures, links=links)
    written = [os.path.join(out, f) for f, _, _ in inside]
    if monitor is not None and monitor.steps:
        written.append(os.path.join(out, f"{name}-monitor.json"))
    return written + [write_page(page, out)]

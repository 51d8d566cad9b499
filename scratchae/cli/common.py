"""What `scratchae demo` and `scratchae train` share: the common options and their checks,
loading the data, the output folder and files, and training one autoencoder with its figures
of merit (losses, test loss, mean code value, seconds)."""
from __future__ import annotations

import argparse
import json
import os
import time

from .._files import atomic_write
from . import UsageError

DATASET_HELP = ("'auto' (full MNIST when cached or downloadable, else the bundled subset), "
                "'mnist' (full, downloaded and verified), 'mnist-5k' (bundled 4,000/1,000 subset), "
                "'fashion-mnist', or a folder holding the four IDX files (default: auto")

def add_common_options(p: argparse.ArgumentParser, default_out: str, dataset_note: str = "") -> None:
    p.add_argument("--dataset", default=None, metavar="NAME|DIR", help=DATASET_HELP + dataset_note + ")")
    p.add_argument("--out", default=default_out, metavar="DIR",
                   help=f"folder for the results, created if needed (default: {default_out})")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="minibatch size (default: 32)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed for weights, shuffling and noise: same seed, same run (default: 0)")
    p.add_argument("--verbose", type=int, default=1, metavar="{0,1,2}",
                   help="0 silent, 1 progress bar, 2 one line per epoch (default: 1)")

def check_positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value}")

def check_common(args: argparse.Namespace) -> None:
    if args.dataset is None:                # --use trains on the bundled digits unless told
        args.dataset = "mnist-5k" if getattr(args, "use", None) else "auto"
    check_positive("--epochs", args.epochs)
    check_positive("--batch-size", args.batch_size)
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    if args.verbose not in (0, 1, 2):
        raise UsageError(f"--verbose must be 0, 1 or 2, got {args.verbose}")
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

def make_out(folder: str, names: tuple[str, ...] = ()) -> None:
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

def train_one(label: str, ae, x_in, x_target, x_test_in, x_test, epochs: int, args) -> dict:
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

def table(rows: list[dict]) -> str:
    head = f"{'model':<22}{'epochs':>7}{'train loss':>12}{'test loss':>11}{'mean code':>11}{'seconds':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['label']:<22}{r['epochs']:>7}{r['loss'][-1]:>12.4f}{r['test_loss']:>11.4f}"
                     f"{r['mean_code']:>11.2f}{r['seconds']:>9.1f}")
    return "\n".join(lines)


def build_model(settings: dict):
    """The autoencoder `settings` describe, from its seed (the same seed, the same weights)."""
    from .. import autoencoders

    l1, seed = settings["l1"] or None, settings["seed"]
    if settings["model"] in ("vanilla", "denoising"):
        return autoencoders.vanilla(settings["hidden_size"], settings["code_size"], l1=l1, seed=seed)
    return autoencoders.shallow(settings["code_size"], l1=l1, seed=seed)


def model_inputs(settings: dict, data):
    """(training inputs, test inputs): the images, or their noisy versions for denoising."""
    from ..datasets import add_gaussian_noise

    x, xt = data.x_train, data.x_test
    if settings["model"] != "denoising":
        return x, xt
    seed = settings["seed"]
    return (add_gaussian_noise(x, settings["noise_factor"], seed=seed),
            add_gaussian_noise(xt, settings["noise_factor"], seed=seed + 1))

"""Where the time of a training step goes: the plain textbook loop, then one optimisation at a time.

Each rung trains the article's vanilla autoencoder (784-h-32-h-784) for an epoch with
everything of the rungs above it switched on, and prints the epoch time and its ratio to the
floor (the same steps doing only their 12 matrix products, one BLAS thread; see
`train_speed.py`). Every switch is public:

  textbook     float64, one (path, param, grad) triple per parameter, the sigmoid's and the
               binary cross-entropy's own backward, NumPy's default BLAS threads:
               compile(pack_parameters=False, fuse_sigmoid_bce=False), dtype="float64",
               SCRATCHAE_BLAS_THREADS=default
  one thread   fit's BLAS policy for small products (scratchae/_blas.py); first, because
               on a shared machine the default threads make every later rung noisy
  float32      half the bytes for every array (Keras's default; gradients are checked in
               float64 elsewhere): config.set_floatx / Dense(dtype=...)
  packed       one buffer for all parameters, so Adam is a few vector operations over the
               whole model: compile(pack_parameters=True)
  logits       the last sigmoid and the BCE as one loss on logits, one exponential:
               compile(fuse_sigmoid_bce=True)

Batches are gathered into one reused buffer on every rung (the training loop always does).

    python benchmarks/ladder.py                       # batch 32 and 256, hidden 128
    python benchmarks/ladder.py --batch-sizes 32 --epochs 1
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from scratchae import autoencoders, config  # noqa: E402
from scratchae.utils import set_random_seed  # noqa: E402
from train_speed import load_data, time_floor  # noqa: E402

#: (rung, dtype, pack_parameters, fuse_sigmoid_bce, SCRATCHAE_BLAS_THREADS), cumulative
RUNGS = [
    ("textbook", "float64", False, False, "default"),
    ("+ one thread", "float64", False, False, None),
    ("+ float32", "float32", False, False, None),
    ("+ packed", "float32", True, False, None),
    ("+ logits", "float32", True, True, None),
]


def time_rung(x: np.ndarray, batch: int, hidden: int, epochs: int, dtype: str, pack: bool,
              fuse: bool, threads: str | None) -> list[float]:
    """Epoch times of one rung (after a warm-up epoch)."""
    if threads is None:
        os.environ.pop("SCRATCHAE_BLAS_THREADS", None)
    else:
        os.environ["SCRATCHAE_BLAS_THREADS"] = threads
    set_random_seed(0)
    config.set_floatx(dtype)
    try:
        model = autoencoders.vanilla(hidden_size=hidden).model
    finally:
        config.set_floatx("float32")
    model.compile(model.optimizer, model.loss, pack_parameters=pack, fuse_sigmoid_bce=fuse)
    data = x.astype(dtype)
    model.fit(data, data, batch_size=batch, epochs=1, verbose=0)          # warm-up
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        model.fit(data, data, batch_size=batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - t)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per rung (after a warm-up)")
    p.add_argument("--data", help="folder of Fashion-MNIST/MNIST IDX files")
    args = p.parse_args(argv)
    x, source = load_data(args.data)
    print(f"data: {source}; vanilla 784-{args.hidden}-32-{args.hidden}-784; numpy {np.__version__}")
    for batch in args.batch_sizes:
        floor = statistics.median(time_floor(len(x), batch, args.hidden, args.epochs))
        print(f"\nbatch {batch}: floor {floor:.2f} s per epoch")
        print(f"{'rung':<14}{'epoch s':>9}{'/ floor':>9}{'/ above':>9}")
        above = None
        for name, dtype, pack, fuse, threads in RUNGS:
            s = statistics.median(time_rung(x, batch, args.hidden, args.epochs, dtype, pack, fuse, threads))
            step = f"{s / above:>9.2f}" if above else f"{'':>9}"
            print(f"{name:<14}{s:>9.2f}{s / floor:>9.2f}{step}", flush=True)
            above = s
    return 0


if __name__ == "__main__":
    sys.exit(main())

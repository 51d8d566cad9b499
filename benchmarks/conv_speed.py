"""How fast the Keras blog's convolutional autoencoder trains, and what im2col buys.

Two tables, measured in one process:

  epochs    one epoch of `fit` of `autoencoders.convolutional()` (the fast im2col path) on the
            bundled digits (4,000 images, 28x28x1), for each batch size asked, with
            SCRATCHAE_BLAS_THREADS=1 and =2, the thread counts taking turns epoch by epoch
            after a warm-up epoch: the median seconds of --epochs timed epochs each
  speed-up  the forward and backward of the whole model on one batch (no update), with every
            Conv2D on implementation='naive' (the loops of scratchae/conv_naive.py) and on
            'fast' (scratchae/conv_fast.py): seconds each, and naive / fast. The naive loops are
            slow: the default batch is 32 (about half a minute)

    python benchmarks/conv_speed.py                          # both tables
    python benchmarks/conv_speed.py --batch-sizes 128 256 --epochs 3 --naive-batch 128
    python benchmarks/conv_speed.py --only speedup
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from scratchae import autoencoders, datasets  # noqa: E402
from scratchae.layers import Conv2D  # noqa: E402


def digits() -> np.ndarray:
    return datasets.load("mnist-5k").x_train.reshape(-1, 28, 28, 1)


def epoch_table(x: np.ndarray, batch_sizes: list[int], epochs: int) -> None:
    print(f"\nOne epoch of the blog's model on {len(x):,} digits, fast path (median of {epochs})")
    print(f"{'batch':>6} {'1 thread s':>11} {'2 threads s':>12} {'images/s (best)':>16}")
    for batch in batch_sizes:
        model = autoencoders.convolutional(seed=0).model
        times: dict[str, list[float]] = {"1": [], "2": []}
        for k in range(epochs + 1):
            for threads in ("1", "2"):
                os.environ["SCRATCHAE_BLAS_THREADS"] = threads
                t = time.perf_counter()
                model.fit(x, x, epochs=1, batch_size=batch, verbose=0, seed=k)
                if k:                                          # the first round warms up
                    times[threads].append(time.perf_counter() - t)
        one, two = statistics.median(times["1"]), statistics.median(times["2"])
        print(f"{batch:>6} {one:>11.2f} {two:>12.2f} {len(x) / min(one, two):>16,.0f}")


def step_seconds(model, x: np.ndarray, repeats: int) -> float:
    """The best time of one forward and backward on the batch x (the loss included)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        model.compute_gradients(x, x)
        best = min(best, time.perf_counter() - t)
    return best


def speedup_table(x: np.ndarray, repeats: int) -> None:
    os.environ["SCRATCHAE_BLAS_THREADS"] = "1"
    fast = autoencoders.convolutional(seed=0).model
    naive = autoencoders.convolutional(seed=0, implementation="naive").model
    assert all(l.implementation == "naive" for l in naive.chain if isinstance(l, Conv2D))
    loss_f, grads_f = fast.compute_gradients(x, x)
    loss_n, grads_n = naive.compute_gradients(x, x)
    worst = max(float(np.abs(grads_f[k] - grads_n[k]).max() / (np.abs(grads_n[k]).max() + 1e-30))
                for k in grads_f)
    t_fast = step_seconds(fast, x, repeats)
    t_naive = step_seconds(naive, x, 1)
    print(f"\nForward + backward of the whole model on one batch of {len(x)} (float32, 1 BLAS thread)")
    print(f"{'naive s':>9} {'fast s':>9} {'naive / fast':>13}   loss naive {loss_n:.6f}, fast {loss_f:.6f}; "
          f"largest gradient difference {worst:.1e} of the largest gradient")
    print(f"{t_naive:>9.2f} {t_fast:>9.4f} {t_naive / t_fast:>13,.0f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per setting (default 3)")
    ap.add_argument("--naive-batch", type=int, default=32, help="batch of the speed-up (default 32)")
    ap.add_argument("--only", choices=["epochs", "speedup"])
    args = ap.parse_args(argv)
    x = digits()
    print(f"data: bundled digits {x.shape}; numpy {np.__version__}; python "
          f"{platform.python_version()}; {os.cpu_count()} CPUs")
    if args.only != "speedup":
        epoch_table(x, args.batch_sizes, args.epochs)
    if args.only != "epochs":
        speedup_table(x[:args.naive_batch], repeats=5)


if __name__ == "__main__":
    main()

"""When do more BLAS threads pay? The crossover behind fit's threading policy (scratchae/_blas.py).

Two tables, measured in one process:

  products   each matrix product of a training step of the vanilla autoencoder
             (784-h-32-h-784: forward x . W, kernel gradient x^T . dz, input gradient dz . W^T)
             for the batch and hidden sizes asked, timed with one BLAS thread and with all the
             CPUs (best of 5 repeats): multiply-adds, microseconds, and one / all
  epochs     one epoch of `fit` on the data with SCRATCHAE_BLAS_THREADS=1 and =<all CPUs>
             (the better of two runs each), with the step's largest product in millions of
             multiply-adds: the crossover CROSSOVER in scratchae/_blas.py is read off this

Run it on a quiet machine, then once more with another program busy on one core
(`python -c "while True: pass" &`) to see the other side of the policy.

    python benchmarks/threads.py                         # both tables
    python benchmarks/threads.py --only epochs --images 20000
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from scratchae import _blas, autoencoders  # noqa: E402
from scratchae.utils import set_random_seed  # noqa: E402
from train_speed import load_data  # noqa: E402


def step_products(batch: int, hidden: int) -> set[tuple[int, int, int]]:
    """(M, K, N) of every product of a step: A (M x K) . B (K x N)."""
    sizes = [784, hidden, 32, hidden, 784]
    shapes = set()
    for a, b in zip(sizes, sizes[1:]):
        shapes |= {(batch, a, b), (a, batch, b), (batch, b, a)}
    return shapes


def time_product(shape: tuple[int, int, int], threads: int, rng: np.random.Generator) -> float:
    m, k, n = shape
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    out = np.empty((m, n), np.float32)
    reps = max(3, int(2e8 / (m * k * n + 1e5)))
    best = float("inf")
    with _blas.threads(threads):
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(reps):
                np.matmul(a, b, out=out)
            best = min(best, (time.perf_counter() - t) / reps)
    return best


def products_table(batches: list[int], hiddens: list[int], cpus: int) -> None:
    rng = np.random.default_rng(0)
    shapes = sorted({s for b in batches for h in hiddens for s in step_products(b, h)},
                    key=lambda s: (s[0] * s[1] * s[2], s))
    print(f"\nproducts: one BLAS thread against {cpus}")
    print(f"{'M':>5}{'K':>5}{'N':>5}{'M mult-adds':>13}{'1 thread us':>13}{f'{cpus} threads us':>14}{'1 / all':>9}")
    for shape in shapes:
        one, many = time_product(shape, 1, rng), time_product(shape, cpus, rng)
        macs = shape[0] * shape[1] * shape[2] / 1e6
        print(f"{shape[0]:>5}{shape[1]:>5}{shape[2]:>5}{macs:>13.2f}{one * 1e6:>13.1f}{many * 1e6:>14.1f}"
              f"{one / many:>9.2f}", flush=True)


def epoch_time(x: np.ndarray, batch: int, hidden: int, threads: int) -> float:
    os.environ["SCRATCHAE_BLAS_THREADS"] = str(threads)
    best = float("inf")
    for _ in range(2):
        set_random_seed(0)
        model = autoencoders.vanilla(hidden_size=hidden).model
        model.fit(x[:2000], x[:2000], batch_size=batch, epochs=1, verbose=0)          # warm-up
        t = time.perf_counter()
        model.fit(x, x, batch_size=batch, epochs=1, verbose=0)
        best = min(best, time.perf_counter() - t)
    return best


def epochs_table(x: np.ndarray, batches: list[int], hiddens: list[int], cpus: int) -> None:
    print(f"\nepochs of fit on {len(x):,} images: one BLAS thread against {cpus}")
    print(f"{'batch':>5}{'hidden':>7}{'largest M':>11}{'1 thread s':>12}{f'{cpus} threads s':>13}{'1 / all':>9}")
    before = os.environ.get("SCRATCHAE_BLAS_THREADS")
    try:
        for hidden in hiddens:
            for batch in batches:
                one, many = epoch_time(x, batch, hidden, 1), epoch_time(x, batch, hidden, cpus)
                print(f"{batch:>5}{hidden:>7}{batch * 784 * hidden / 1e6:>11.1f}{one:>12.2f}{many:>13.2f}"
                      f"{one / many:>9.2f}", flush=True)
    finally:
        if before is None:
            os.environ.pop("SCRATCHAE_BLAS_THREADS", None)
        else:
            os.environ["SCRATCHAE_BLAS_THREADS"] = before


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    p.add_argument("--hidden-sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    p.add_argument("--only", choices=["products", "epochs"])
    p.add_argument("--images", type=int, default=20000, help="images per timed epoch")
    p.add_argument("--data", help="folder of Fashion-MNIST/MNIST IDX files")
    args = p.parse_args(argv)
    cpus = _blas.usable_cpus()
    if _blas._find_controls() is None or cpus < 2:
        print("nothing to compare: NumPy's BLAS is not a bundled OpenBLAS, or one CPU")
        return 0
    print(f"numpy {np.__version__}; {cpus} usable CPUs; float32")
    if args.only != "epochs":
        products_table(args.batch_sizes, args.hidden_sizes, cpus)
    if args.only != "products":
        x, source = load_data(args.data)
        print(f"data: {source}")
        epochs_table(x[:args.images], args.batch_sizes, args.hidden_sizes, cpus)
    return 0


if __name__ == "__main__":
    sys.exit(main())

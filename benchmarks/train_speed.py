"""How fast does scratchae train the article's vanilla autoencoder, against what it must cost?

For each batch size and hidden size, in one process, one epoch of each measurement in turn
(scratchae, the floor with one thread, the floor with NumPy's default threads, PyTorch),
repeated --epochs times, so that a drift of the machine's speed falls on all of them alike:

  scratchae    epoch time of `Model.fit` (median of the timed epochs after one warm-up epoch)
  floor        the same steps doing only the 12 matrix products of a step (4 forward,
               4 kernel gradients, 4 input gradients), into preallocated outputs, with one
               BLAS thread and with NumPy's default threads; the faster of the two: what no
               NumPy implementation of this step can beat (scratchae's plain step computes
               all 12, the first layer's unused input gradient included: every
               Dense.backward returns its dL/dx)
  threads      the BLAS threads fit chose (scratchae/_blas.py), as the share of steps
               trained with each count: "1" or e.g. "2 (97%)"
  ratio        scratchae / floor
  samples/s    training samples per second
  peak MB      peak of NumPy's allocations during one more, untimed epoch (tracemalloc)
  torch        (when PyTorch is importable) the same loop in PyTorch eager: Linear layers,
               BCE on sigmoid outputs, torch.optim.Adam with Keras's epsilon; and
               torch / scratchae

Data: full Fashion-MNIST when Debian's `dataset-fashion-mnist` is installed (or --data DIR),
else the bundled MNIST subset tiled to 60,000 images.

    python benchmarks/train_speed.py                      # the full grid, prints a table
    python benchmarks/train_speed.py --json speed.json    # also writes the rows as JSON
    python benchmarks/train_speed.py --batch-sizes 32 --hidden-sizes 128 --epochs 3

PyTorch is never a dependency; to include it, run this script from an environment that has
it, e.g. `python -m venv /tmp/t && /tmp/t/bin/pip install torch numpy matplotlib` and
`PYTHONPATH=. /tmp/t/bin/python benchmarks/train_speed.py`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from scratchae import _blas, autoencoders  # noqa: E402
from scratchae.datasets import fashion_mnist, mnist, to_vectors  # noqa: E402
from scratchae.utils import set_random_seed  # noqa: E402

DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"


def load_data(path: str | None) -> tuple[np.ndarray, str]:
    folder = path or (DEBIAN_FASHION if os.path.isdir(DEBIAN_FASHION) else None)
    if folder:
        (x, _), _ = fashion_mnist.load_data(path=folder)
        return to_vectors(x), f"Fashion-MNIST from {folder} ({len(x):,} images)"
    (x, _), _ = mnist.load_data(subset=True)
    x = np.tile(to_vectors(x), (15, 1))
    return x, f"bundled MNIST subset tiled to {len(x):,} images"


def scratchae_epochs(x: np.ndarray, batch: int, hidden: int):
    """One epoch of `Model.fit` per call (after a warm-up epoch); `.steps` counts the steps
    trained with each number of BLAS threads, `.peak_mb()` runs one more, untimed epoch under
    tracemalloc (which slows every allocation down, so never in a timed one)."""
    set_random_seed(0)
    model = autoencoders.vanilla(hidden_size=hidden).model
    model.fit(x, x, batch_size=batch, epochs=1, verbose=0)           # warm-up
    steps: dict[int, int] = {}

    def epoch() -> None:
        history = model.fit(x, x, batch_size=batch, epochs=1, verbose=0)
        for count, n in history.blas_threads.items():
            steps[count] = steps.get(count, 0) + n

    def peak_mb() -> float:
        tracemalloc.start()
        model.fit(x, x, batch_size=batch, epochs=1, verbose=0)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return peak

    epoch.steps, epoch.peak_mb = steps, peak_mb
    return epoch


def threads_used(steps: dict[int, int]) -> str:
    """{1: 30, 2: 970} -> "2 (97%)": the count most steps trained with, and its share."""
    if not steps:
        return "default"
    count = max(steps, key=steps.get)
    share = steps[count] / sum(steps.values())
    return str(count) if share == 1 else f"{count} ({share:.0%})"


def floor_epochs(n: int, batch: int, hidden: int, threads: int | None):
    """One epoch's worth of only the 12 matrix products per step, for the same shapes and
    number of steps, per call, with `threads` BLAS threads (None: NumPy's default)."""
    rng = np.random.default_rng(0)
    sizes = [784, hidden, 32, hidden, 784]
    f32 = np.float32
    W = [rng.standard_normal((a, b)).astype(f32) for a, b in zip(sizes, sizes[1:])]
    H = [rng.standard_normal((batch, s)).astype(f32) for s in sizes]       # activations
    dW = [np.empty_like(w) for w in W]
    dX = [np.empty((batch, s), f32) for s in sizes[:-1]]
    steps = -(-n // batch)

    def epoch() -> None:
        with _blas.threads(threads):
            for _ in range(steps):
                for i, w in enumerate(W):
                    np.matmul(H[i], w, out=H[i + 1])
                for i in range(len(W) - 1, -1, -1):
                    np.matmul(H[i].T, H[i + 1], out=dW[i])
                    np.matmul(H[i + 1], W[i].T, out=dX[i])
    return epoch


def time_floor(n: int, batch: int, hidden: int, repeats: int) -> list[float]:
    """The floor's epoch times: the faster (by median) of one BLAS thread and NumPy's default."""
    times = interleaved({"one": floor_epochs(n, batch, hidden, 1),
                         "default": floor_epochs(n, batch, hidden, None)}, repeats)
    return min(times.values(), key=statistics.median)


def torch_epochs(x: np.ndarray, batch: int, hidden: int):
    """One epoch of the same loop in PyTorch eager per call (after a warm-up), or None."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 784), torch.nn.Sigmoid())
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.BCELoss()
    data = torch.from_numpy(x)
    gen = torch.Generator().manual_seed(0)

    def epoch() -> None:
        order = torch.randperm(len(data), generator=gen)
        for i in range(0, len(data), batch):
            xb = data[order[i:i + batch]]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb), xb)
            loss.backward()
            opt.step()

    epoch()                                                               # warm-up
    return epoch


def interleaved(runners: dict, repeats: int) -> dict[str, list[float]]:
    """Time one call of each runner in turn, `repeats` rounds: a drift in the machine's speed
    (these machines are shared) then falls on all of them alike. Each call starts half a
    second after the last one ended, so the threads a runner leaves spinning (PyTorch's
    OpenMP threads wait busy for a while after each parallel region) do not slow the next."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            time.sleep(0.5)
            t = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    p.add_argument("--hidden-sizes", type=int, nargs="+", default=[128, 512])
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per measurement (after a warm-up)")
    p.add_argument("--data", help="folder of Fashion-MNIST/MNIST IDX files")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even when importable")
    p.add_argument("--json", help="also write the rows to this JSON file")
    args = p.parse_args(argv)

    x, source = load_data(args.data)
    try:
        import torch
        torch_version = None if args.no_torch else torch.__version__
    except ImportError:
        torch_version = None
    print(f"data: {source}; numpy {np.__version__}; python {platform.python_version()}; "
          f"{os.cpu_count()} CPUs; torch {torch_version or 'not used'}")
    head = (f"{'batch':>5} {'hidden':>6} {'scratchae s':>11} {'floor s':>8} {'ratio':>6} "
            f"{'samples/s':>10} {'peak MB':>8} {'threads':>8}" + (f" {'torch s':>8} {'torch/ours':>10}" if torch_version else ""))
    print(head)
    print("-" * len(head))
    rows = []
    for hidden in args.hidden_sizes:
        for batch in args.batch_sizes:
            ours = scratchae_epochs(x, batch, hidden)
            runners = {"ours": ours, "floor one": floor_epochs(len(x), batch, hidden, 1),
                       "floor default": floor_epochs(len(x), batch, hidden, None)}
            tt = torch_epochs(x, batch, hidden) if torch_version else None
            if tt is not None:
                runners["torch"] = tt
            times = interleaved(runners, args.epochs)
            floor = min(times["floor one"], times["floor default"], key=statistics.median)
            peak, used = ours.peak_mb(), threads_used(ours.steps)
            row = {"batch_size": batch, "hidden_size": hidden, "epoch_s": statistics.median(times["ours"]),
                   "epoch_s_all": times["ours"], "floor_s": statistics.median(floor), "floor_s_all": floor,
                   "floor_one_thread_s": statistics.median(times["floor one"]),
                   "floor_default_s": statistics.median(times["floor default"]),
                   "peak_mb": peak, "threads": used}
            row["ratio"] = row["epoch_s"] / row["floor_s"]
            row["samples_per_s"] = len(x) / row["epoch_s"]
            line = (f"{batch:>5} {hidden:>6} {row['epoch_s']:>11.2f} {row['floor_s']:>8.2f} "
                    f"{row['ratio']:>6.2f} {row['samples_per_s']:>10,.0f} {peak:>8.1f} {used:>8}")
            if tt is not None:
                row["torch_s"] = statistics.median(times["torch"])
                row["torch_s_all"] = times["torch"]
                row["torch_over_ours"] = row["torch_s"] / row["epoch_s"]
                line += f" {row['torch_s']:>8.2f} {row['torch_over_ours']:>10.2f}"
            print(line, flush=True)
            rows.append(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"data": source, "numpy": np.__version__, "torch": torch_version, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

--vae: the variational autoencoder (pytorch/examples/vae's 784-400-20, batch 128, Adam 1e-3)
against PyTorch eager, on the bundled digits (4,000 images) and on Fashion-MNIST (60,000):
seconds per epoch, each implementation in its OWN process (a worker that trains one epoch per
line it reads and answers the epoch's seconds, measured inside it), taking turns through the
same `interleaved` as above, one warm-up round then --epochs timed rounds, with 1 and 2 BLAS /
intra-op threads ("auto": scratchae's own policy, scratchae/_blas.py, against PyTorch's
default). scratchae's side is this script (`--worker`, SCRATCHAE_BLAS_THREADS set to the
count), PyTorch's is benchmarks/_torch_vae.py run by --torch-python (torch.set_num_threads),
its loop PyTorch's plain one: torch.randperm order, torch.randn_like noise, its own
initialisation. Prints min and median of each, and PyTorch's median over scratchae's (above 1:
scratchae is faster).

    python benchmarks/train_speed.py --vae --torch-python /tmp/torchenv/bin/python --epochs 5
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
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
    OpenMP threads wait busy for a while after each parallel region) do not slow the next.
    A runner that returns a number (a worker process timing its own epoch) gives its time;
    one that returns None is timed here."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            time.sleep(0.5)
            t = time.perf_counter()
            reported = run()
            times[name].append(time.perf_counter() - t if reported is None else reported)
    return times


# -- the variational autoencoder, each implementation in its own process --------------------
TORCH_VAE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_torch_vae.py")


class Worker:
    """A process that trains one epoch per "epoch" line and answers its seconds: calling the
    Worker runs one epoch there and returns them (a runner for `interleaved`)."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None, stderr=None) -> None:
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, stderr=stderr)
        self.hello = self._line()                       # "ready ...": what the worker runs

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.proc.args[:3]} ended (exit code {self.proc.wait()})")
        return line.strip()

    def __call__(self) -> float:
        self.proc.stdin.write("epoch\n")
        self.proc.stdin.flush()
        return float(self._line().split()[0])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def vae_worker(data: str, threads: str) -> int:
    """scratchae's side of --vae: `Model.fit` of `autoencoders.vae()` one epoch per "epoch"
    line; answers "<seconds> <the BLAS threads fit chose, as threads_used writes them>"."""
    if threads != "auto":
        os.environ["SCRATCHAE_BLAS_THREADS"] = threads       # read by each fit as it starts
    x = np.load(data)
    model = autoencoders.vae(seed=0).model
    print(f"ready scratchae threads {threads}", flush=True)
    for line in sys.stdin:
        if line.strip() != "epoch":
            break
        t = time.perf_counter()
        history = model.fit(x, x, batch_size=128, epochs=1, verbose=0)
        print(f"{time.perf_counter() - t:.6f} {threads_used(history.blas_threads)}", flush=True)
    return 0


def vae_speed(torch_python: str | None, datasets: list[str], threads: list[str], repeats: int,
              fashion: str | None) -> list[dict]:
    """Seconds per VAE epoch, scratchae against PyTorch eager, per dataset and thread count."""
    if not torch_python:
        print("--vae: PyTorch runs from its own environment; make one, e.g.\n"
              "  python -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy\n"
              "and pass --torch-python /tmp/torchenv/bin/python", file=sys.stderr)
        return []
    me = os.path.abspath(__file__)
    head = (f"{'data':>8} {'threads':>7} {'scratchae min':>13} {'median':>7} {'torch min':>9} "
            f"{'median':>7} {'torch/ours':>10}")
    print(head)
    print("-" * len(head))
    rows = []
    with tempfile.TemporaryDirectory(prefix="vae_speed_") as folder:
        for name in datasets:
            x = vae_data(name, fashion)
            path = os.path.join(folder, f"{name}.npy")
            np.save(path, x)
            for count in threads:
                env = {k: v for k, v in os.environ.items() if k != "SCRATCHAE_BLAS_THREADS"}
                workers = {"ours": Worker([sys.executable, me, "--worker", path, "--threads", count], env),
                           "torch": Worker([torch_python, TORCH_VAE, "worker", path, "--threads",
                                            "0" if count == "auto" else count])}
                try:
                    interleaved(workers, 1)                           # warm-up round
                    times = interleaved(workers, repeats)
                finally:
                    for w in workers.values():
                        w.close()
                ours, theirs = times["ours"], times["torch"]
                row = {"data": name, "images": len(x), "threads": count, "scratchae_s": ours,
                       "torch_s": theirs, "torch": workers["torch"].hello,
                       "torch_over_ours": statistics.median(theirs) / statistics.median(ours)}
                rows.append(row)
                print(f"{name:>8} {count:>7} {min(ours):>13.2f} {statistics.median(ours):>7.2f} "
                      f"{min(theirs):>9.2f} {statistics.median(theirs):>7.2f} "
                      f"{row['torch_over_ours']:>10.2f}", flush=True)
    return rows


def vae_data(name: str, folder: str | None) -> np.ndarray:
    """The training images of 'digits' (the bundled 4,000) or 'fashion' (60,000)."""
    if name == "digits":
        (x, _), _ = mnist.load_data(subset=True)
        return to_vectors(x)
    folder = folder or DEBIAN_FASHION
    if not os.path.isdir(folder):
        raise SystemExit(f"--vae fashion: no Fashion-MNIST at {folder} (install Debian's "
                         "dataset-fashion-mnist, or pass --data DIR)")
    (x, _), _ = fashion_mnist.load_data(path=folder)
    return to_vectors(x)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    p.add_argument("--hidden-sizes", type=int, nargs="+", default=[128, 512])
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per measurement (after a warm-up)")
    p.add_argument("--data", help="folder of Fashion-MNIST/MNIST IDX files")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even when importable")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.add_argument("--vae", action="store_true", help="time the VAE against PyTorch eager instead")
    p.add_argument("--torch-python", help="--vae: the Python of an environment with torch and numpy")
    p.add_argument("--datasets", nargs="+", choices=["digits", "fashion"], default=["digits", "fashion"])
    p.add_argument("--threads", nargs="+", default=["1", "2"],
                   help="--vae: thread counts, or 'auto' (scratchae's policy, PyTorch's default)")
    p.add_argument("--worker", help=argparse.SUPPRESS)        # scratchae's --vae worker: its data
    args = p.parse_args(argv)
    if args.worker:
        return vae_worker(args.worker, args.threads[0])
    if args.vae:
        print(f"numpy {np.__version__}; python {platform.python_version()}; {os.cpu_count()} CPUs; "
              f"VAE 784-400-20, batch 128; {args.epochs} timed epochs each, taking turns")
        rows = vae_speed(args.torch_python, args.datasets, args.threads, args.epochs, args.data)
        if args.json and rows:
            with open(args.json, "w") as f:
                json.dump({"numpy": np.__version__, "rows": rows}, f, indent=2)
        return 0 if rows else 2

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

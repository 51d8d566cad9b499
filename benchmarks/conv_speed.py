"""How fast the Keras blog's convolutional autoencoder trains: against PyTorch eager, where the
time goes, and what im2col buys.

Three tables:

  epochs    one epoch of the blog's model (`autoencoders.convolutional()`, batch 128, Adam,
            binary cross-entropy) on the bundled digits (4,000 images) and on Fashion-MNIST's
            60,000 (Debian's `dataset-fashion-mnist`, or --data DIR): scratchae's `fit` against
            the same model in PyTorch eager as a user writes it (nn.Conv2d, nn.MaxPool2d,
            nn.Upsample, nn.BCELoss, torch.optim.Adam; `benchmarks/_torch_conv.py`, from a
            separate environment, --torch-python), with 1 and with 2 threads each
            (SCRATCHAE_BLAS_THREADS, torch.set_num_threads). Each of the four is its own
            process, kept alive; after a warm-up (an epoch of 2,048 images) each, the rounds interleave them (one
            epoch each per round, the order rotating), so a burst of load on a shared machine
            falls on all of them. Best and median seconds per epoch, and ours / PyTorch's.
  profile   where one epoch's time goes, per layer, forward and backward, scratchae's (each
            layer's forward and backward timed inside a real `fit` epoch, the rest: the loss,
            the optimizer, the batches) and PyTorch's (module hooks), 1 thread each
  speed-up  the forward and backward of the whole model on one batch (no update), every Conv2D
            on implementation='naive' (scratchae/conv_naive.py's loops) and on 'fast'
            (scratchae/conv_fast.py): seconds each, and naive / fast (batch 32 by default)

    python benchmarks/conv_speed.py --torch-python /tmp/torchenv/bin/python      # ~15 min
    python benchmarks/conv_speed.py --torch-python ... --runs digits --rounds 3
    python benchmarks/conv_speed.py --only speedup                               # no PyTorch needed

A script to read and run, not a test: on a shared machine the figures move from run to run.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scratchae import _blas, autoencoders, datasets  # noqa: E402
from scratchae.layers import Conv2D  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_SCRIPT = os.path.join(HERE, "_torch_conv.py")
RUNS = {"digits": "mnist-5k", "fashion": "fashion-mnist"}
BATCH = 128


def images(dataset: str) -> np.ndarray:
    return datasets.load(dataset).x_train.reshape(-1, 28, 28, 1)


# -- scratchae's worker (this script, run as a child) --------------------------------------------

@contextlib.contextmanager
def timed_layers(model, times: dict[str, list[float]]):
    """Each layer's forward and backward, timed into times[name] = [forward s, backward s],
    through wrappers put on the instances for the block."""
    def wrap(layer, attr: str, slot: int):
        inner = getattr(layer, attr)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            out = inner(*args, **kwargs)
            times[layer.name][slot] += time.perf_counter() - t
            return out
        timed.__signature__ = __import__("inspect").signature(inner)      # run_forward's check
        return timed

    for layer in model.chain:
        times[layer.name] = [0.0, 0.0]
        layer.forward, layer.backward = wrap(layer, "forward", 0), wrap(layer, "backward", 1)
    try:
        yield
    finally:
        for layer in model.chain:
            del layer.forward, layer.backward


def our_worker(data: str, batch: int, seed: int) -> None:
    """Train one epoch per "epoch" line on stdin and answer its seconds ("warm": an epoch of
    the first 2,048 images only); "profile" answers
    the per-layer times of one epoch as JSON; anything else ends it."""
    x = np.load(data)
    model = autoencoders.convolutional(seed=seed).model
    print(f"ready scratchae threads {os.environ.get('SCRATCHAE_BLAS_THREADS', 'auto')}", flush=True)
    epoch = 0
    for line in sys.stdin:
        word = line.strip()
        epoch += 1
        if word in ("epoch", "warm"):             # warm: an epoch of the first 2,048 images
            xs = x if word == "epoch" else x[:2048]
            t = time.perf_counter()
            model.fit(xs, xs, batch_size=batch, epochs=1, verbose=0, seed=seed + epoch)
            print(f"{time.perf_counter() - t:.6f}", flush=True)
        elif word == "profile":
            times: dict[str, list[float]] = {}
            with timed_layers(model, times):
                t = time.perf_counter()
                model.fit(x, x, batch_size=batch, epochs=1, verbose=0, seed=seed + epoch)
                total = time.perf_counter() - t
            print(json.dumps({"layers": times, "total": total}), flush=True)
        else:
            break


# -- the rounds --------------------------------------------------------------------------------

class Worker:
    """A child process training one epoch per request: ours or PyTorch's, with `threads`."""

    def __init__(self, side: str, threads: int, data: str, torch_python: str | None, seed: int) -> None:
        self.side, self.threads = side, threads
        env = {**os.environ, "SCRATCHAE_BLAS_THREADS": str(threads)}
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.pop(var, None)
        if side == "scratchae":
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", data, "--seed", str(seed)]
        else:
            cmd = [torch_python, TORCH_SCRIPT, "worker", data, "--threads", str(threads),
                   "--seed", str(seed)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env)
        self.banner = self._answer()

    def _answer(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.side} worker ({self.threads} threads) ended; see above")
        return line.strip()

    def ask(self, word: str) -> str:
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def epoch(self) -> float:
        return float(self.ask("epoch"))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def epoch_rounds(name: str, x: np.ndarray, torch_python: str, rounds: int, seed: int,
                 folder: str, thread_counts: tuple[int, ...] = (1, 2)) -> dict:
    data = os.path.join(folder, f"{name}.npy")
    np.save(data, x)
    workers = [Worker(side, threads, data, torch_python, seed)
               for side in ("scratchae", "torch") for threads in thread_counts]
    times: dict[tuple[str, int], list[float]] = {(w.side, w.threads): [] for w in workers}
    try:
        for w in workers:
            w.ask("warm")                               # warm-up: an epoch of 2,048 images
        for r in range(rounds):
            turn = workers[r % len(workers):] + workers[:r % len(workers)]
            for w in turn:
                times[(w.side, w.threads)].append(w.epoch())
            print(f"  {name} round {r + 1}/{rounds}: " + ", ".join(
                f"{s} {t}: {v[-1]:.2f} s" for (s, t), v in times.items()), file=sys.stderr, flush=True)
        torch_banner = next(w.banner for w in workers if w.side == "torch").split(" threads")[0]
    finally:
        for w in workers:
            w.close()
    return {"name": name, "n": len(x), "times": times, "torch": torch_banner, "threads": thread_counts}


def epoch_table(result: dict) -> None:
    t = result["times"]
    best = {k: min(v) for k, v in t.items()}
    med = {k: statistics.median(v) for k, v in t.items()}
    rounds = len(next(iter(t.values())))
    print(f"\nOne epoch of the blog's model on {result['n']:,} images ({result['name']}), batch {BATCH}; "
          f"{rounds} interleaved rounds; PyTorch eager: {result['torch'].removeprefix('ready ')}\n")
    print("| threads | scratchae best s | median s | PyTorch eager best s | median s "
          "| ours / PyTorch (best) | (median) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for threads in result["threads"]:
        a, b = ("scratchae", threads), ("torch", threads)
        print(f"| {threads} | {best[a]:.2f} | {med[a]:.2f} | {best[b]:.2f} | {med[b]:.2f} "
              f"| {best[a] / best[b]:.2f} | {med[a] / med[b]:.2f} |")
    ours = min(best[("scratchae", k)] for k in result["threads"])
    theirs = min(best[("torch", k)] for k in result["threads"])
    print(f"\neach side's best thread count: scratchae {ours:.2f} s, PyTorch {theirs:.2f} s, "
          f"ratio {ours / theirs:.2f} ({result['n'] / ours:,.0f} vs {result['n'] / theirs:,.0f} images/s)")


def profile_table(x: np.ndarray, torch_python: str | None, seed: int, folder: str) -> None:
    data = os.path.join(folder, "profile.npy")
    np.save(data, x)
    ours = Worker("scratchae", 1, data, torch_python, seed)
    try:
        ours.epoch()
        mine = json.loads(ours.ask("profile"))
    finally:
        ours.close()
    theirs = None
    if torch_python:
        w = Worker("torch", 1, data, torch_python, seed)
        try:
            w.epoch()
            theirs = json.loads(w.ask("profile"))
        finally:
            w.close()
    print(f"\nWhere one epoch's time goes on {len(x):,} images, 1 thread: scratchae's layers (inside a "
          f"fit epoch of {mine['total']:.2f} s)" + (", PyTorch's modules (forward and backward only)"
                                                    if theirs else "") + "\n")
    print("| layer | forward s | backward s | share of the epoch |" + (
        " PyTorch module | forward s | backward s |" if theirs else ""))
    print("|---|---:|---:|---:|" + ("---|---:|---:|" if theirs else ""))
    names = list(mine["layers"])
    tnames = list(theirs) if theirs else []
    tsum = [0.0, 0.0]
    for i, name in enumerate(names):
        f, b = mine["layers"][name]
        row = f"| {name} | {f:.3f} | {b:.3f} | {100 * (f + b) / mine['total']:.0f}% |"
        if theirs:
            # PyTorch's modules: each layer and its ReLU/Sigmoid (ours fuse the activation)
            mods = [n for n in tnames if n in _TORCH_LEAVES[i].split()]
            tf, tb = (sum(theirs[m][k] for m in mods) for k in (0, 1))
            tsum = [tsum[0] + tf, tsum[1] + tb]
            row += f" {', '.join(mods)} | {tf:.3f} | {tb:.3f} |"
        print(row)
    lf = sum(v[0] for v in mine["layers"].values())
    lb = sum(v[1] for v in mine["layers"].values())
    rest = mine["total"] - lf - lb
    print(f"| all layers | {lf:.3f} | {lb:.3f} | {100 * (lf + lb) / mine['total']:.0f}% |"
          + (f" | {tsum[0]:.3f} | {tsum[1]:.3f} |" if theirs else ""))
    print(f"| the rest: loss, update, batches | | | {100 * rest / mine['total']:.0f}% ({rest:.3f} s) |"
          + (" | | |" if theirs else ""))


#: scratchae's chain (13 layers) -> PyTorch's leaf modules: a Conv2D is a conv and its activation
_TORCH_LEAVES = ["encoder.0 encoder.1", "encoder.2", "encoder.3 encoder.4", "encoder.5",
                 "encoder.6 encoder.7", "encoder.8", "decoder.0 decoder.1", "decoder.2",
                 "decoder.3 decoder.4", "decoder.5", "decoder.6 decoder.7", "decoder.8",
                 "decoder.9 decoder.10"]


# -- naive against fast --------------------------------------------------------------------------

def step_seconds(model, x: np.ndarray, repeats: int) -> float:
    """The best time of one forward and backward on the batch x (the loss included)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        model.compute_gradients(x, x)
        best = min(best, time.perf_counter() - t)
    return best


def speedup_table(x: np.ndarray, repeats: int) -> None:
    with _blas.threads(1):         # compute_gradients is not fit: set the BLAS threads here
        _speedup_table(x, repeats)


def _speedup_table(x: np.ndarray, repeats: int) -> None:
    fast = autoencoders.convolutional(seed=0).model
    naive = autoencoders.convolutional(seed=0, implementation="naive").model
    assert all(l.implementation == "naive" for l in naive.chain if isinstance(l, Conv2D))
    loss_f, grads_f = fast.compute_gradients(x, x)
    loss_n, grads_n = naive.compute_gradients(x, x)
    worst = max(float(np.abs(grads_f[k] - grads_n[k]).max() / (np.abs(grads_n[k]).max() + 1e-30))
                for k in grads_f)
    t_fast = step_seconds(fast, x, repeats)
    t_naive = step_seconds(naive, x, 1)
    print(f"\nForward + backward of the whole model on one batch of {len(x)} (float32, 1 BLAS thread)\n")
    print(f"{'naive s':>9} {'fast s':>9} {'naive / fast':>13}   loss naive {loss_n:.6f}, fast {loss_f:.6f}; "
          f"largest gradient difference {worst:.1e} of the largest gradient")
    print(f"{t_naive:>9.2f} {t_fast:>9.4f} {t_naive / t_fast:>13,.0f}")


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), model)
    return (f"{model}, {os.cpu_count()} CPUs; numpy {np.__version__}; python "
            f"{platform.python_version()}; load average {os.getloadavg()[0]:.1f}"
            if hasattr(os, "getloadavg") else model)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--torch-python", help="the Python of an environment with torch and numpy")
    ap.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    ap.add_argument("--data", help="a folder of Fashion-MNIST IDX files for the fashion run")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per run (default 5)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    ap.add_argument("--naive-batch", type=int, default=32, help="batch of the speed-up (default 32)")
    ap.add_argument("--only", choices=["epochs", "profile", "speedup"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        our_worker(args.worker, BATCH, args.seed)
        return 0
    needs_torch = args.only in (None, "epochs")
    if needs_torch and not args.torch_python:
        print("conv_speed: the epochs table needs PyTorch from a separate environment: "
              "--torch-python /tmp/torchenv/bin/python (or --only profile / speedup)", file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="conv_speed_") as folder:
        if args.only in (None, "epochs"):
            for name in args.runs:
                dataset = args.data if name == "fashion" and args.data else RUNS[name]
                epoch_table(epoch_rounds(name, images(dataset), args.torch_python, args.rounds,
                                         args.seed, folder, tuple(args.threads)))
        if args.only in (None, "profile"):
            profile_table(images("mnist-5k"), args.torch_python, args.seed, folder)
    if args.only in (None, "speedup"):
        speedup_table(images("mnist-5k")[:args.naive_batch], repeats=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tried and dropped: each layer's Adam update on a second thread while the first thread
computes the rest of the backward (docs/performance.md#tried-and-dropped has the figures).

With one BLAS thread (what `fit` uses at batch 32) the second core is idle. A layer's
parameters are free to update once its backward has computed dL/dx with its kernel: the
last layer's (half the vanilla model's parameters) can then be updated while the first
thread computes the other layers' products. Both release the GIL (BLAS calls, NumPy's loops,
ctypes' calls), so the two can run at once. Three steps, whole epochs of `fit` on full
Fashion-MNIST (or the bundled digits tiled), taking turns in one process:

  kept        the step `fit` runs (`speed.step_for`)
  serial      the chain's backward walked here, each layer's update right after its
              backward, on this thread (the same work as below, no second thread)
  overlapped  the same, each layer's update but the first's handed to a worker thread
              (the first layer's is done here: the next forward needs it at once)

Every update is `blas_adam.eight_passes` on the layer's slice of the packed buffers.

    python benchmarks/overlap_adam.py --rows 32/128 256/128 --rounds 5
"""
from __future__ import annotations

import argparse
import math
import os
import queue
import statistics
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import train_speed  # noqa: E402
from scratchae import autoencoders, blas_adam, speed  # noqa: E402
from scratchae.utils import set_random_seed  # noqa: E402


class Worker(threading.Thread):
    """Runs update jobs from a queue; `wait(k)` returns when k jobs are done."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.start()

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            job()
            self.done.put(None)

    def wait(self, k: int) -> None:
        for _ in range(k):
            self.done.get()


def walked_step(model, worker: Worker | None):
    """A step of the vanilla chain with each layer's update right after its backward."""
    pieces = speed.training_pieces(model, input_gradient=False, write=True)
    loss = speed.buffered_loss(model, speed.training_loss(model))
    chain = [pieces[i] for i in range(len(model._nodes))]
    path, flat, grad = speed.optimizer_parameters(model)[0]
    base = flat.ctypes.data
    spans = []
    for piece in chain:
        arrays = list(piece.layer.params.values())
        start = min((p.ctypes.data - base) // p.itemsize for p in arrays)
        spans.append(slice(start, start + sum(p.size for p in arrays)))
    opt = model.optimizer
    m, v, a = opt._slot("momentums", path, flat), opt._slot("velocities", path, flat), opt._buffer(path, flat)

    def step(x, y):
        value = loss.forward(model.forward(x, training=True, pieces=pieces), y) + model.penalty()
        if not math.isfinite(value):
            return value
        opt._a_t = a_t = opt.step_size(opt.iterations + 1)
        opt.iterations += 1
        g, handed = loss.backward(), 0
        for i in reversed(range(len(chain))):
            g = chain[i].backward(g)
            s = spans[i]
            job = (lambda s=s: blas_adam.eight_passes(opt, a_t, flat[s], grad[s], m[s], v[s], a[s]))
            if worker is not None and i > 0:
                worker.jobs.put(job)
                handed += 1
            else:
                job()
        if worker is not None:
            worker.wait(handed)
        return value
    return step


def epochs(x: np.ndarray, batch: int, hidden: int, variant: str, worker: Worker):
    set_random_seed(0)
    model = autoencoders.vanilla(hidden_size=hidden).model
    kept = speed.step_for

    def make(m):
        if variant == "kept":
            return kept(m)
        return walked_step(m, worker if variant == "overlapped" else None)

    def epoch():
        speed.step_for = make
        try:
            model.fit(x, x, batch_size=batch, epochs=1, verbose=0)
        finally:
            speed.step_for = kept
    epoch()                                                          # warm-up
    return epoch, model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", nargs="+", default=["32/128", "256/128"])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--data", help="folder of Fashion-MNIST IDX files")
    args = p.parse_args(argv)
    os.environ.setdefault("SCRATCHAE_BLAS_THREADS", "1")           # the case the idea is for
    x, source = train_speed.load_data(args.data)
    load = os.getloadavg()
    print(f"data: {source}; numpy {np.__version__}; {os.cpu_count()} CPUs; load average {load[0]:.1f}; "
          f"SCRATCHAE_BLAS_THREADS={os.environ['SCRATCHAE_BLAS_THREADS']}; {args.rounds} rounds, s/epoch")
    worker = Worker()
    print(f"{'row':>8} {'variant':>11} {'median':>7} {'best':>6} {'/ kept':>7}")
    for spec in args.rows:
        batch, hidden = (int(v) for v in spec.split("/"))
        runners, models = {}, {}
        for variant in ("kept", "serial", "overlapped"):
            runners[variant], models[variant] = epochs(x, batch, hidden, variant, worker)
        times = train_speed.interleaved(runners, args.rounds)
        ref = statistics.median(times["kept"])
        for variant, t in times.items():
            print(f"{spec:>8} {variant:>11} {statistics.median(t):>7.2f} {min(t):>6.2f} "
                  f"{statistics.median(t) / ref:>7.2f}", flush=True)
        w = [m.get_weights() for m in models.values()]
        worst = max(float(np.max(np.abs(a - b))) for other in w[1:] for a, b in zip(w[0], other))
        print(f"{'':>8} largest weight difference between the variants: {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

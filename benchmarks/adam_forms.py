"""Does Adam's "kept sums" form pay? One update, and a training step, in both forms.

Two ways to hold Adam's state (Keras's update, a_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)):

  textbook   m and v themselves, twelve in-place passes through one scratch array:
                 m = beta_1 m + (1 - beta_1) g         (m *= b1; a = g (1 - b1); m += a)
                 v = beta_2 v + (1 - beta_2) g^2       (a = g g; a *= 1 - b2; v *= b2; v += a)
                 param -= a_t m / (sqrt(v) + eps)      (a = sqrt v; a += eps; a = m / a; a *= a_t; param -= a)
  kept sums  M = m / (1 - beta_1) and V = v / (1 - beta_2), ten passes (what scratchae's Adam
             kept before): M = beta_1 M + g; V = beta_2 V + g^2;
                 param -= a_t (1 - b1) / sqrt(1 - b2) * M / (sqrt(V) + eps / sqrt(1 - b2))

Printed:

  * one update over a float32 vector the size of the article's vanilla model's parameters
    (784-128-32-128-784: 209,968) and of the same model with hidden size 512 (837,424):
    the median over interleaved repetitions (each repetition times a block of updates of
    each form in turn, so a drift of the machine's speed falls on both alike);
  * a training step of the vanilla model at batch 256 (`train_on_batch`, packed float32
    parameters, one BLAS thread unless --blas-threads says otherwise: on a shared machine
    NumPy's default threads make the step's time mostly noise), with each form as the
    model's optimizer, interleaved the same way, with the time its Adam update takes inside
    those steps (where the matrix products have pushed Adam's arrays out of the caches); and
    the kept form's saving as a share of the step.

    python benchmarks/adam_forms.py                 # defaults: 31 repetitions
    python benchmarks/adam_forms.py --reps 61 --block 50
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from scratchae import _blas, autoencoders  # noqa: E402
from scratchae.optimizers import Adam, Optimizer  # noqa: E402

LR, B1, B2, EPS = 1e-3, 0.9, 0.999, 1e-7


def n_params(hidden: int, code: int = 32, d: int = 784) -> int:
    sizes = [d, hidden, code, hidden, d]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def a_t(t: int) -> float:
    return LR * math.sqrt(1.0 - B2 ** t) / (1.0 - B1 ** t)


def textbook_update(param, grad, m, v, a, t):
    m *= B1
    np.multiply(grad, 1.0 - B1, out=a)
    m += a
    np.multiply(grad, grad, out=a)
    a *= 1.0 - B2
    v *= B2
    v += a
    np.sqrt(v, out=a)
    a += EPS
    np.divide(m, a, out=a)
    a *= a_t(t)
    param -= a


def kept_update(param, grad, M, V, a, t):
    root = math.sqrt(1.0 - B2)
    M *= B1
    M += grad
    np.multiply(grad, grad, out=a)
    V *= B2
    V += a
    np.sqrt(V, out=a)
    a += EPS / root
    np.divide(M, a, out=a)
    a *= a_t(t) * (1.0 - B1) / root
    param -= a


class Timed:
    """Mixin: adds the seconds each `apply` takes to `self.seconds`."""

    seconds = 0.0

    def apply(self, parameters) -> None:
        start = time.perf_counter()
        super().apply(parameters)
        self.seconds += time.perf_counter() - start


class KeptSumsAdam(Adam):
    """The previous release's Adam, for timing only: its slots hold M and V, not m and v."""

    def apply(self, parameters) -> None:
        root = math.sqrt(1.0 - self.beta_2)
        self._alpha = self.step_size(self.iterations + 1) * (1.0 - self.beta_1) / root
        self._eps = self.epsilon / root
        Optimizer.apply(self, parameters)

    def _update(self, path, param, grad):
        M = self._slot("momentums", path, param)
        V = self._slot("velocities", path, param)
        a = self._buffer(path, param)
        M *= self.beta_1
        M += grad
        np.multiply(grad, grad, out=a)
        V *= self.beta_2
        V += a
        np.sqrt(V, out=a)
        a += self._eps
        np.divide(M, a, out=a)
        a *= self._alpha
        param -= a


def time_updates(n: int, reps: int, block: int) -> dict[str, float]:
    """Median seconds per update of each form over a float32 vector of n parameters."""
    rng = np.random.default_rng(0)
    grads = [(rng.standard_normal(n) * 1e-2).astype(np.float32) for _ in range(4)]
    forms = {"textbook": textbook_update, "kept sums": kept_update}
    state = {k: [rng.standard_normal(n).astype(np.float32), np.zeros(n, np.float32),
                 np.zeros(n, np.float32), np.empty(n, np.float32)] for k in forms}
    times = {k: [] for k in forms}
    for k, f in forms.items():                       # warm up: pages touched, caches filled
        for t in range(1, 6):
            f(state[k][0], grads[t % 4], *state[k][1:], t)
    for rep in range(reps):
        order = list(forms) if rep % 2 == 0 else list(forms)[::-1]
        for k in order:
            f, (p, m, v, a) = forms[k], state[k]
            start = time.perf_counter()
            for i in range(block):
                f(p, grads[i % 4], m, v, a, 10 + i)
            times[k].append((time.perf_counter() - start) / block)
    return {k: statistics.median(ts) for k, ts in times.items()}


class TimedAdam(Timed, Adam):
    pass


class TimedKeptSumsAdam(Timed, KeptSumsAdam):
    pass


def time_train_steps(batch: int, reps: int, block: int, threads: int | None) -> dict[str, float]:
    """Median seconds per `train_on_batch` of the vanilla model with each form of Adam, with
    `threads` BLAS threads (None: NumPy's setting); and under '<form> update' the mean
    seconds of the optimizer's `apply` within those steps."""
    rng = np.random.default_rng(1)
    x = rng.random((batch, 784), dtype=np.float32)
    models = {"textbook": autoencoders.vanilla(seed=0, optimizer=TimedAdam()).model,
              "kept sums": autoencoders.vanilla(seed=0, optimizer=TimedKeptSumsAdam()).model}
    times = {k: [] for k in models}
    with _blas.threads(threads):
        for m in models.values():
            for _ in range(5):
                m.train_on_batch(x, x)
        for rep in range(reps):
            order = list(models) if rep % 2 == 0 else list(models)[::-1]
            for k in order:
                m = models[k]
                start = time.perf_counter()
                for _ in range(block):
                    m.train_on_batch(x, x)
                times[k].append((time.perf_counter() - start) / block)
    out = {k: statistics.median(ts) for k, ts in times.items()}
    for k, m in models.items():
        out[f"{k} update"] = m.optimizer.seconds / m.optimizer.iterations
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=31, help="interleaved repetitions (median taken)")
    ap.add_argument("--block", type=int, default=40, help="updates timed together per repetition")
    ap.add_argument("--step-block", type=int, default=10, help="train steps timed together")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads for the training steps (0: NumPy's setting); default 1")
    args = ap.parse_args(argv)

    print(f"NumPy {np.__version__}, {os.cpu_count()} CPUs; median of {args.reps} interleaved repetitions")
    print(f"\none Adam update, float32 ({args.block} updates per repetition)")
    print(f"{'parameters':>20}{'textbook us':>14}{'kept sums us':>14}{'kept / textbook':>17}{'saved us':>10}")
    upd = {}
    for hidden in (128, 512):
        n = n_params(hidden)
        r = upd[hidden] = time_updates(n, args.reps, args.block)
        print(f"{f'hidden {hidden}: {n:,}':>20}{r['textbook'] * 1e6:>14.0f}{r['kept sums'] * 1e6:>14.0f}"
              f"{r['kept sums'] / r['textbook']:>17.3f}{(r['textbook'] - r['kept sums']) * 1e6:>10.0f}")

    threads = args.blas_threads or None
    print(f"\nvanilla model (hidden 128), train_on_batch at batch {args.batch} "
          f"({args.step_block} steps per repetition, BLAS threads: {threads or 'NumPy default'})")
    s = time_train_steps(args.batch, args.reps, args.step_block, threads)
    for k in ("textbook", "kept sums"):
        print(f"  {k:<10} {s[k] * 1e3:7.3f} ms a step, of which Adam's update {s[f'{k} update'] * 1e6:5.0f} us")
    saved_upd = upd[128]["textbook"] - upd[128]["kept sums"]
    print(f"  step, kept sums / textbook: {s['kept sums'] / s['textbook']:.3f}")
    print(f"  one update's saving (above) against the textbook step: {saved_upd * 1e6:.0f} us = "
          f"{saved_upd / s['textbook']:.1%}")
    print(f"  the update's saving in the steps: {(s['textbook update'] - s['kept sums update']) * 1e6:.0f} us = "
          f"{(s['textbook update'] - s['kept sums update']) / s['textbook']:.1%} of the textbook step")


if __name__ == "__main__":
    main()

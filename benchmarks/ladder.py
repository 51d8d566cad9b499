"""Where the time of a training step goes: the plain textbook loop, then one optimisation at a time.

Each rung trains the article's vanilla autoencoder (784-h-32-h-784, Adam, binary
cross-entropy) for an epoch with everything of the rungs above it switched on, and prints the
epoch time, its ratio to the floor (the same steps doing only their 12 matrix products, with
the faster of one BLAS thread and NumPy's default; see `train_speed.py`) and to the rung above.

  textbook       float64; every gradient a new array (`self.grads["kernel"] = x.T @ dz`,
                 Adam's `m = beta_1 m + (1 - beta_1) g` ...); one (path, param, grad) triple
                 per parameter; the sigmoid's and the binary cross-entropy's own backward;
                 NumPy's default BLAS threads
  + threads      fit's policy (scratchae/_blas.py): one thread under 4 million multiply-adds
                 per product, above it the faster of one and all CPUs, timed as it trains
  + float32      half the bytes for every array (Keras's default; gradients are checked in
                 float64 elsewhere): config.set_floatx / Dense(dtype=...)
  + in place     scratchae's own Dense and Adam: gradients added into arrays made once,
                 Adam's twelve passes through one scratch array
  + packed       one buffer for all parameters, so Adam is a few vector operations over the
                 whole model: compile(pack_parameters=True)
  + logits       the last sigmoid and the binary cross-entropy as one loss on logits, one
                 exponential: compile(fuse_sigmoid_bce=True)
  + no data dx   the first layer's dL/dx, which nobody uses, not computed (speed.py's
                 ParametersOnly; PyTorch's requires_grad=False on the input): one product
                 of twelve: the step `fit` runs by default

The rungs before the last ones use the classes below (`AllocatingDense`, `FullBackwardDense`,
`TextbookAdam`), written here only to switch scratchae's own choices off. Batches are
gathered into one reused buffer on every rung (the training loop always does).

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

from scratchae import config  # noqa: E402
from scratchae.layers import Dense, Input  # noqa: E402
from scratchae.models import Model  # noqa: E402
from scratchae.optimizers import Adam, Optimizer  # noqa: E402
from train_speed import load_data, time_floor  # noqa: E402


class AllocatingDense(Dense):
    """Dense whose backward builds new gradient arrays each step, as a textbook writes it."""

    def backward_logits(self, dz: np.ndarray) -> np.ndarray:
        self.grads = {"kernel": self._x.T @ dz, "bias": dz.sum(axis=0)}
        return dz @ self.params["kernel"].T


class FullBackwardDense(Dense):
    """scratchae's Dense with a backward of its own (the same one), so the training step
    computes its dL/dx even as the first layer (see `Model.backward`)."""

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return super().backward(dy)


class TextbookAdam(Adam):
    """Keras's Adam as a textbook writes it: every expression a new array."""

    def apply(self, parameters) -> None:
        self._a_t = self.step_size(self.iterations + 1)
        Optimizer.apply(self, parameters)

    def _update(self, path, param, grad):
        m, v = self._slot("momentums", path, param), self._slot("velocities", path, param)
        m[...] = self.beta_1 * m + (1.0 - self.beta_1) * grad
        v[...] = self.beta_2 * v + (1.0 - self.beta_2) * grad ** 2
        param -= self._a_t * m / (np.sqrt(v) + self.epsilon)


#: rung -> (dtype, first layer's class, other layers' class, Adam class, pack_parameters,
#:          fuse_sigmoid_bce, SCRATCHAE_BLAS_THREADS)
RUNGS = [
    ("textbook", "float64", AllocatingDense, AllocatingDense, TextbookAdam, False, False, "default"),
    ("+ threads", "float64", AllocatingDense, AllocatingDense, TextbookAdam, False, False, "auto"),
    ("+ float32", "float32", AllocatingDense, AllocatingDense, TextbookAdam, False, False, "auto"),
    ("+ in place", "float32", FullBackwardDense, Dense, Adam, False, False, "auto"),
    ("+ packed", "float32", FullBackwardDense, Dense, Adam, True, False, "auto"),
    ("+ logits", "float32", FullBackwardDense, Dense, Adam, True, True, "auto"),
    ("+ no data dx", "float32", Dense, Dense, Adam, True, True, "auto"),
]


def vanilla(hidden: int, first: type, dense: type, dtype: str) -> Model:
    """The article's vanilla autoencoder, its first layer a `first`, the others `dense`."""
    inp = Input(shape=(784,), dtype=dtype)
    h = inp
    for i, (units, act) in enumerate([(hidden, "relu"), (32, "relu"), (hidden, "relu"), (784, "sigmoid")]):
        h = (first if i == 0 else dense)(units, activation=act, seed=i, dtype=dtype)(h)
    return Model(inp, h)


def time_rung(x: np.ndarray, batch: int, hidden: int, epochs: int, rung: tuple) -> tuple[list[float], dict]:
    """Epoch times of one rung (after a warm-up epoch) and the BLAS threads' step counts."""
    _, dtype, first, dense, adam, pack, fuse, threads = rung
    os.environ["SCRATCHAE_BLAS_THREADS"] = threads
    model = vanilla(hidden, first, dense, dtype)
    model.compile(adam(), "binary_crossentropy", pack_parameters=pack, fuse_sigmoid_bce=fuse)
    data = x.astype(dtype)
    model.fit(data, data, batch_size=batch, epochs=1, verbose=0, seed=0)       # warm-up
    times, steps = [], {}
    for _ in range(epochs):
        t = time.perf_counter()
        history = model.fit(data, data, batch_size=batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - t)
        for count, n in history.blas_threads.items():
            steps[count] = steps.get(count, 0) + n
    return times, steps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per rung (after a warm-up)")
    p.add_argument("--data", help="folder of Fashion-MNIST/MNIST IDX files")
    args = p.parse_args(argv)
    x, source = load_data(args.data)
    print(f"data: {source}; vanilla 784-{args.hidden}-32-{args.hidden}-784; numpy {np.__version__}")
    before = os.environ.get("SCRATCHAE_BLAS_THREADS")
    try:
        for batch in args.batch_sizes:
            floor = statistics.median(time_floor(len(x), batch, args.hidden, args.epochs))
            print(f"\nbatch {batch}: floor {floor:.2f} s per epoch")
            print(f"{'rung':<14}{'epoch s':>9}{'/ floor':>9}{'/ above':>9}  threads")
            above = None
            for rung in RUNGS:
                times, steps = time_rung(x, batch, args.hidden, args.epochs, rung)
                s = statistics.median(times)
                step = f"{s / above:>9.2f}" if above else f"{'':>9}"
                used = ", ".join(f"{c}: {n}" for c, n in sorted(steps.items())) or "NumPy's"
                print(f"{rung[0]:<14}{s:>9.2f}{s / floor:>9.2f}{step}  {used}", flush=True)
                above = s
    finally:
        config.set_floatx("float32")
        if before is None:
            os.environ.pop("SCRATCHAE_BLAS_THREADS", None)
        else:
            os.environ["SCRATCHAE_BLAS_THREADS"] = before
    return 0


if __name__ == "__main__":
    sys.exit(main())

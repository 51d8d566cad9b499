"""Where one training step of the vanilla autoencoder goes: its parts and their times.

In one process, with one BLAS thread (what `fit` uses below its crossover; --threads to
change), for each batch/hidden row: the step `fit` runs (`speed.step_for`) on one batch,
and each of its parts run alone on the same arrays, taking turns, --repeats times each; the
median of each, in microseconds:

  products     the step's 11 matrix products (4 forward, 4 kernel gradients, 3 input
               gradients: the data's is skipped), into preallocated outputs
  loss         the loss on logits, forward and backward (BCE from the logits)
  layers       the rest of the Dense layers' elementwise work: 4 bias adds, 3 ReLUs forward
               and backward, 4 bias gradients (sums over the batch)
  zero grads   the fill of the packed gradient buffer (none when the step skips it)
  optimizer    Adam's update of the packed parameters, as the step runs it
  Python       the step minus the parts above: the graph walk, the checks, allocation
  fit loop     the median time from one step's end to the next in an epoch of `fit`, minus
               the step: the batch's gather, the loss bookkeeping, the progress bar, the
               thread policy's clock (and a callback's call, which measures it)
  (readable Adam), (the fill)  for comparison, in the same turns: `Adam.apply` as the
               learner reads it (the optimizer part without BLAS_ADAM) and the gradients'
               zeroing (the zero grads part without the skip)
  (layers in place)  tried and not kept: the layers' part with the bias and the ReLU written
               into the product's output, against zeros kept for it (np.maximum with a
               scalar 0 takes a slower loop), and the ReLU's mask kept as floats

    python benchmarks/step_profile.py                           # batch 32 and 256, hidden 128
    python benchmarks/step_profile.py --rows 32/128 256/512 --repeats 400
    python benchmarks/step_profile.py --off blas-adam zero-skip      # without the kept pieces
    python benchmarks/step_profile.py --on buffered-loss             # with a tried one
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import train_speed  # noqa: E402
from scratchae import _blas, autoencoders, speed  # noqa: E402
from scratchae.callbacks import Callback  # noqa: E402
from scratchae.utils import set_random_seed  # noqa: E402


#: the fast pieces issue 27 added to scratchae.speed and kept on, by the name --off takes
PIECES = ("blas-adam", "zero-skip")
#: those it tried and left off, by the name --on takes
TRIED = ("overlap-adam", "buffered-loss")


def switch_off(names: list[str], on: bool = False) -> None:
    """Turn fast pieces of scratchae.speed off (on) by name (see --off, --on)."""
    for name in names:
        if name == "zero-skip":
            if not on:
                speed.all_written = lambda *a: False           # noqa: E731  zero every step
        else:
            setattr(speed, name.upper().replace("-", "_"), on)


def parts(x: np.ndarray, batch: int, hidden: int) -> dict:
    """{part: callable} on one model and one batch, and the model."""
    set_random_seed(0)
    model = autoencoders.vanilla(hidden_size=hidden).model
    model.fit(x[:batch * 20], x[:batch * 20], batch_size=batch, epochs=1, verbose=0)   # builds, packs
    xb = np.ascontiguousarray(x[:batch])
    step = speed.step_for(model)
    dense = model.chain
    W = [d.params["kernel"] for d in dense]
    b = [d.params["bias"] for d in dense]
    f32 = np.float32
    H = [xb] + [np.empty((batch, w.shape[1]), f32) for w in W]
    dW = [np.empty_like(w) for w in W]
    dX = [np.empty((batch, w.shape[0]), f32) for w in W]

    def products():
        for i, w in enumerate(W):
            np.matmul(H[i], w, out=H[i + 1])
        for i in range(len(W) - 1, -1, -1):
            np.matmul(H[i].T, H[i + 1], out=dW[i])
            if i:
                np.matmul(H[i + 1], W[i].T, out=dX[i])

    loss = speed.buffered_loss(model, speed.training_loss(model))     # the one the step runs
    z = H[-1].copy()

    def loss_part():
        loss.forward(z, xb)
        loss.backward()

    act = dense[0].activation
    hs = [h.copy() for h in H[1:]]

    def layers():
        for i, h in enumerate(hs):
            h += b[i]
            if i < 3:
                y = act.forward(h)
                act.backward(y)
            h.sum(axis=0)

    Z = [h.copy() for h in hs]
    zeros = [np.zeros_like(h) for h in hs]
    masks = [np.empty_like(h) for h in hs]
    dz = [np.empty_like(h) for h in hs]

    def layers_in_place():
        """Tried: the bias and the ReLU written into the product's output, the mask as floats."""
        for i, h in enumerate(Z):
            h += b[i]
            if i < 3:
                np.maximum(h, zeros[i], out=h)
                np.greater(h, 0, out=masks[i], casting="unsafe")
                np.multiply(hs[i], masks[i], out=dz[i])
            h.sum(axis=0)

    flat_grad = model._buffers.flat_grad
    zeroes = getattr(step, "keywords", {}).get("zero", True)
    zero = (lambda: flat_grad.fill(0)) if zeroes else (lambda: None)     # noqa: E731
    optimizer = lambda: speed.apply_update(model)                       # noqa: E731
    triples = speed.optimizer_parameters(model)
    readable = lambda: model.optimizer.apply(triples)                   # noqa: E731
    fill = lambda: flat_grad.fill(0)                                    # noqa: E731
    return {"step": lambda: step(xb, xb), "products": products, "loss": loss_part, "layers": layers,
            "zero grads": zero, "optimizer": optimizer, "(layers in place)": layers_in_place,
            "(readable Adam)": readable, "(the fill)": fill}, model


class Clock(Callback):
    """The time of every batch's end: their differences are whole steps of fit's loop (the
    median of them is not moved by the moments another process takes the core)."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def fit_step_seconds(model, x: np.ndarray, batch: int) -> float:
    """The median seconds between two steps of one `fit` epoch over the data."""
    clock = Clock()
    model.fit(x, x, batch_size=batch, epochs=1, verbose=0, callbacks=[clock])
    return statistics.median(np.diff(clock.ends))


def profile(x: np.ndarray, batch: int, hidden: int, repeats: int, threads: int) -> dict:
    runners, model = parts(x, batch, hidden)
    times: dict[str, list[float]] = {k: [] for k in runners}
    with _blas.threads(threads):
        for _ in range(repeats):
            for name, run in runners.items():
                t = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t)
    os.environ["SCRATCHAE_BLAS_THREADS"] = str(threads)
    fit_times = [fit_step_seconds(model, x, batch) for _ in range(2)]
    us = {k: 1e6 * statistics.median(v) for k, v in times.items()}
    us["Python"] = us["step"] - sum(us[k] for k in ("products", "loss", "layers", "zero grads", "optimizer"))
    us["fit loop"] = 1e6 * statistics.median(fit_times) - us["step"]
    return us


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", nargs="+", default=["32/128", "256/128"])
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--off", nargs="*", default=[], choices=PIECES,
                   help="switch these fast pieces off (scratchae.speed)")
    p.add_argument("--on", nargs="*", default=[], choices=TRIED,
                   help="switch these tried pieces on (scratchae.speed)")
    p.add_argument("--data", help="folder of Fashion-MNIST IDX files")
    args = p.parse_args(argv)
    x, source = train_speed.load_data(args.data)
    switch_off(args.off)
    switch_off(args.on, on=True)
    load = os.getloadavg()
    print(f"data: {source}; numpy {np.__version__}; {os.cpu_count()} CPUs; load average "
          f"{load[0]:.1f}; {args.threads} BLAS thread(s); off: {', '.join(args.off) or 'nothing'}; "
          f"on: {', '.join(args.on) or 'nothing'}; medians of {args.repeats}, microseconds per step")
    order = ["products", "loss", "layers", "zero grads", "optimizer", "Python", "step", "fit loop",
             "(layers in place)", "(readable Adam)", "(the fill)"]
    rows = {spec: profile(x, *(int(v) for v in spec.split("/")), args.repeats, args.threads)
            for spec in args.rows}
    print(f"{'part':<18}" + "".join(f"{spec:>10}" for spec in rows))
    for part in order:
        print(f"{part:<18}" + "".join(f"{r[part]:>10.0f}" for r in rows.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Is scratchae's convolutional autoencoder PyTorch's and Keras's? Gradients, then training.

Two checks of the Keras blog's model (`autoencoders.convolutional()`: Conv2D 16-8-8 3x3 'same'
relu + MaxPooling2D 'same' down to (4, 4, 8), Conv2D 8-8-16 + UpSampling2D up, the Conv2D(16)
'valid' so 16x16 -> 14x14 -> 28x28, Conv2D(1) sigmoid; 4,385 parameters):

  grads     on the same weights and the same batch, the loss and every parameter's gradient
            against PyTorch autograd's (`benchmarks/_torch_conv.py`, run by the Python of a
            separate environment, --torch-python), in float64 and in float32: the largest
            relative error per parameter, max |ours - theirs| / max |theirs|. The weights are
            scratchae's Glorot-uniform kernels with biases drawn uniform in [-0.1, 0.1] (not
            zeros, so that the bias gradients and the ReLUs' kinks see something), copied
            into PyTorch's layout; the batch is 64 of the bundled digits.
  keras     the loss after each epoch on Fashion-MNIST against Keras's (`benchmarks/_keras_conv.py`,
            Keras 3 on JAX from another environment, --keras-python): the same initial
            weights (scratchae's, copied into Keras's layers, which are channels-last too),
            the same batches (one permutation per epoch from default_rng(--seed), both sides
            trained with shuffle=False on x[order]), Adam (learning rate 1e-3, epsilon 1e-7:
            both sides' defaults), batch 128, binary cross-entropy. Printed per epoch: the
            training loss and the test loss on the 10,000 test images, each side's own
            evaluate, and the relative gap; the target is within 2%.

    python benchmarks/fidelity_conv.py grads --torch-python /tmp/torchenv/bin/python
    python benchmarks/fidelity_conv.py keras --keras-python /tmp/kerasenv/bin/python --epochs 5
    python benchmarks/fidelity_conv.py keras ... --train 20000       # a subset of the training set

--wrong shows the check catching a wrong answer: 'flip' hands PyTorch every kernel flipped
(K[::-1, ::-1], a convolution where Keras's Conv2D is a correlation), 'pool' has PyTorch pad
its last pool on every side (MaxPool2d(2, padding=1): also 7 -> 4, but not Keras's 'same').

Exits 1 if a gradient's error is over 1e-10 (float64) / 1e-4 (float32), or a test gap over
2%. A script to read and run, not a test.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scratchae import autoencoders  # noqa: E402
from scratchae.datasets import load  # noqa: E402
from scratchae.gradcheck.engine import _model64  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_SCRIPT = os.path.join(HERE, "_torch_conv.py")
KERAS_SCRIPT = os.path.join(HERE, "_keras_conv.py")
LIMITS = {"float64": 1e-10, "float32": 1e-4}
GAP_LIMIT = 2.0          # percent, on the test loss
BATCH, LR, EPSILON = 128, 1e-3, 1e-7


def can_import(python: str | None, modules: str, hint: str, env: dict | None = None) -> str | None:
    """Why `python` cannot import `modules`, or None if it can."""
    if not python:
        return hint
    try:
        out = subprocess.run([python, "-c", f"import {modules}"], capture_output=True, text=True,
                             timeout=300, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python} cannot be run: {exc}"
    return f"{python} cannot import {modules}:\n{out.stderr.strip()}" if out.returncode else None


def weights_of(model) -> dict[str, np.ndarray]:
    """'<layer>/<param>': a copy of each of the model's parameters."""
    return {path: np.array(p, copy=True) for path, p, _ in model.parameters()}


def set_weights(model, weights: dict[str, np.ndarray]) -> None:
    for path, p, _ in model.parameters():
        p[...] = weights[path]


def blog_model(seed: int, dtype: str):
    """The blog's model with nonzero biases, in float32 or as its float64 copy."""
    model = autoencoders.convolutional(seed=seed).model
    rng = np.random.default_rng(seed + 100)
    for path, p, _ in model.parameters():
        if path.endswith("/bias"):
            p[...] = rng.uniform(-0.1, 0.1, p.shape)
    return model if dtype == "float32" else _model64(model)[0]


def grads(torch_python: str, seed: int, batch: int, wrong: str | None = None) -> bool:
    x = load("mnist-5k").x_train[:batch].reshape(-1, 28, 28, 1)
    ok = True
    rows: dict[str, dict[str, float]] = {}
    losses = {}
    for dtype in ("float64", "float32"):
        model = blog_model(seed, dtype)
        xd = x.astype(dtype)
        loss, ours = model.compute_gradients(xd, xd)
        with tempfile.TemporaryDirectory(prefix="conv_fidelity_") as folder:
            sent = weights_of(model)
            if wrong == "flip":
                sent = {k: v[::-1, ::-1] if v.ndim == 4 else v for k, v in sent.items()}
            np.savez(os.path.join(folder, "inputs.npz"), x=xd, **sent)
            subprocess.run([torch_python, TORCH_SCRIPT, "grads", folder]
                           + (["--wrong-pool"] if wrong == "pool" else []), check=True)
            theirs = dict(np.load(os.path.join(folder, "torch.npz")))
            if wrong == "flip":             # the gradients come back for the flipped kernels
                theirs = {k: v[::-1, ::-1] if v.ndim == 4 else v for k, v in theirs.items()}
        losses[dtype] = (loss, float(theirs["loss"]))
        for path, g in ours.items():
            t = theirs[path]
            if g.shape != t.shape:
                raise ValueError(f"{path}: ours {g.shape}, PyTorch's {t.shape}")
            err = float(np.abs(g - t).max() / np.abs(t).max())
            rows.setdefault(path, {})[dtype] = err
            ok &= err <= LIMITS[dtype]
    if wrong:
        print(f"\n--wrong {wrong}: a deliberately wrong PyTorch side; the check must say OVER")
    print(f"\nThe blog's model, one batch of {batch} digits: loss and gradients against PyTorch autograd\n")
    for dtype, (a, b) in losses.items():
        print(f"loss {dtype}: scratchae {a:.12f}  PyTorch {b:.12f}  relative error "
              f"{abs(a - b) / abs(b):.1e}")
    print("\n| parameter | shape | float64 max rel. error | float32 max rel. error |")
    print("|---|---|---:|---:|")
    model = blog_model(seed, "float32")
    shapes = {path: p.shape for path, p, _ in model.parameters()}
    for path, errs in rows.items():
        print(f"| {path} | {shapes[path]} | {errs['float64']:.1e} | {errs['float32']:.1e} |")
    print(f"\n(max |ours - PyTorch| / max |PyTorch| over the parameter's entries; limits "
          f"{LIMITS['float64']:.0e} float64, {LIMITS['float32']:.0e} float32): {'OK' if ok else 'OVER'}")
    return ok


def scratchae_side(data, orders: np.ndarray, model) -> list[dict]:
    x, x_test = data.x_train.reshape(-1, 28, 28, 1), data.x_test.reshape(-1, 28, 28, 1)
    rows = []
    for epoch, order in enumerate(orders):
        xe = x[order]
        t = time.perf_counter()
        history = model.fit(xe, xe, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        seconds = time.perf_counter() - t
        test = model.evaluate(x_test, x_test, batch_size=BATCH)
        rows.append({"train": history.history["loss"][-1], "test": float(test), "seconds": seconds})
        print(f"scratchae epoch {epoch + 1}: train {rows[-1]['train']:.5f} test {test:.5f} "
              f"({seconds:.0f} s)", file=sys.stderr, flush=True)
    return rows


def keras(keras_python: str, seed: int, epochs: int, train: int | None, data_dir: str | None) -> bool:
    data = load(data_dir or "fashion-mnist")
    if train:
        data = dataclasses.replace(data, x_train=data.x_train[:train])
    n = len(data.x_train)
    print(f"\n== {data.description}: training on {n:,}, testing on {len(data.x_test):,}; "
          f"{epochs} epochs, batch {BATCH}, Adam {LR} ==", flush=True)
    model = autoencoders.convolutional(seed=seed).model
    order_rng = np.random.default_rng(seed)
    orders = np.stack([order_rng.permutation(n) for _ in range(epochs)])
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    with tempfile.TemporaryDirectory(prefix="conv_keras_") as folder:
        np.savez(os.path.join(folder, "inputs.npz"), x_train=data.x_train.reshape(-1, 28, 28, 1),
                 x_test=data.x_test.reshape(-1, 28, 28, 1), orders=orders, batch=BATCH, lr=LR,
                 epsilon=EPSILON, **weights_of(model))
        side = subprocess.Popen([keras_python, KERAS_SCRIPT, folder], env=env)
        try:
            ours = scratchae_side(data, orders, model)
        finally:
            code = side.wait()
        if code:
            raise RuntimeError(f"the Keras side failed (exit code {code}); its messages are above")
        with open(os.path.join(folder, "keras.json")) as f:
            theirs = json.load(f)
    print(f"\nKeras {theirs['keras']} (backend {theirs['backend']}) against scratchae, the same start and batches\n")
    print("| epoch | train scratchae | train Keras | gap | test scratchae | test Keras | gap |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for i, (a, b) in enumerate(zip(ours, theirs["epochs"])):
        g_train = 100 * (a["train"] - b["train"]) / b["train"]
        g_test = 100 * (a["test"] - b["test"]) / b["test"]
        worst = max(worst, abs(g_test))
        print(f"| {i + 1} | {a['train']:.5f} | {b['train']:.5f} | {g_train:+.3f}% | {a['test']:.5f} "
              f"| {b['test']:.5f} | {g_test:+.3f}% |")
    ok = worst <= GAP_LIMIT
    print(f"\nlargest test gap {worst:.2f}%: {'OK' if ok else f'OVER {GAP_LIMIT}%'}")
    print("(the two sides trained at the same time, so their epoch seconds are not a benchmark: "
          "see benchmarks/conv_speed.py)")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("check", choices=["grads", "keras"], nargs="+")
    p.add_argument("--torch-python", help="the Python of an environment with torch and numpy")
    p.add_argument("--keras-python", help="the Python of an environment with keras, jax and numpy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=64, help="grads: the batch (default 64)")
    p.add_argument("--wrong", choices=["flip", "pool"], help="grads: a wrong PyTorch side, to see the check fail")
    p.add_argument("--epochs", type=int, default=5, help="keras: epochs (default 5)")
    p.add_argument("--train", type=int, help="keras: train on the first TRAIN images only")
    p.add_argument("--data", help="keras: a folder of Fashion-MNIST IDX files")
    args = p.parse_args(argv)
    ok = True
    if "grads" in args.check:
        why = can_import(args.torch_python, "torch, numpy",
                         "the PyTorch side needs a separate environment: python -m venv /tmp/torchenv "
                         "&& /tmp/torchenv/bin/pip install torch numpy; then --torch-python "
                         "/tmp/torchenv/bin/python")
        if why:
            print(f"fidelity_conv: {why}", file=sys.stderr)
            return 2
        ok &= grads(args.torch_python, args.seed, args.batch, args.wrong)
    if "keras" in args.check:
        why = can_import(args.keras_python, "keras, jax, numpy",
                         "the Keras side needs a separate environment: python -m venv /tmp/kerasenv "
                         "&& /tmp/kerasenv/bin/pip install keras jax; then --keras-python "
                         "/tmp/kerasenv/bin/python", env={**os.environ, "KERAS_BACKEND": "jax"})
        if why:
            print(f"fidelity_conv: {why}", file=sys.stderr)
            return 2
        ok &= keras(args.keras_python, args.seed, args.epochs, args.train, args.data)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

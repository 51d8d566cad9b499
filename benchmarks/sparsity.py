"""L1 or KL sparsity? The code units of the sparse recipe, side by side, on the bundled digits.

Four shallow autoencoders (784-32-784, Adam, BCE, batch 32, 20 epochs, seed 0: the same initial
weights for all four) on the 4,000 / 1,000 digits bundled with scratchae:

  standard        ReLU code, no penalty                   (scratchae train sparse --l1 0)
  l1(1e-5)        ReLU code, the article's L1 penalty      (scratchae train sparse)
  sigmoid         sigmoid code, no penalty (KL's baseline: what a sigmoid code does alone)
  kl(RHO, BETA)   sigmoid code, KL sparsity                (scratchae train sparse --kl RHO BETA)

For each: the test reconstruction loss (the plain BCE, no penalty), the mean code value, the
range of the units' mean codes (each unit's mean over the test images), the fraction of code
values near zero (below 0.05) and the fraction of units whose mean is below 0.1. With
--figure PATH, a bar chart of every unit's mean code and of its fraction of values near zero.

    python benchmarks/sparsity.py                          # about 5 s on 2 cores
    python benchmarks/sparsity.py --kl 0.05 0.003 --kl 0.05 0.03 --figure units.png

This is a script to read and run, not a test (tests/test_regularizers.py checks the claims on a
shorter run).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scratchae import autoencoders  # noqa: E402
from scratchae.activations import Sigmoid  # noqa: E402
from scratchae.datasets import load  # noqa: E402
from scratchae.losses import BinaryCrossentropy  # noqa: E402
from scratchae.regularizers import KLSparsity  # noqa: E402

NEAR_ZERO = 0.05


def train(label: str, x, xt, *, l1=None, sigmoid=False, kl=None, epochs=20, seed=0) -> dict:
    ae = autoencoders.shallow(32, l1=l1, seed=seed)
    code = ae.encoder.layers[-1]
    if sigmoid or kl:
        code.activation = Sigmoid()
    if kl:
        code.activity_regularizer = KLSparsity(*kl)
    ae.model.fit(x, x, epochs=epochs, batch_size=32, verbose=0, seed=seed)
    codes = ae.encoder.predict(xt)
    per_unit = codes.mean(axis=0)
    return {"label": label, "codes": codes, "per_unit": per_unit,
            "bce": BinaryCrossentropy()(xt, ae.model.predict(xt)),
            "mean": float(codes.mean()), "near": float((codes < NEAR_ZERO).mean()),
            "near_per_unit": (codes < NEAR_ZERO).mean(axis=0),
            "quiet_units": int((per_unit < 0.1).sum())}


def table(rows: list[dict]) -> str:
    head = (f"{'model':<18}{'test BCE':>9}{'mean code':>11}{'unit means':>17}"
            f"{'values < 0.05':>15}{'units < 0.1':>13}")
    lines = [head, "-" * len(head)]
    for r in rows:
        span = f"{r['per_unit'].min():.3f}-{r['per_unit'].max():.3f}"
        lines.append(f"{r['label']:<18}{r['bce']:>9.4f}{r['mean']:>11.3f}{span:>17}"
                     f"{r['near']:>15.0%}{r['quiet_units']:>10} / {len(r['per_unit'])}")
    return "\n".join(lines)


def figure(rows: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(rows), figsize=(3.2 * len(rows), 4.8), sharex=True)
    for k, r in enumerate(rows):
        order = np.argsort(r["per_unit"])[::-1]
        units = np.arange(len(order))
        axes[0, k].bar(units, r["per_unit"][order], color="tab:blue")
        axes[0, k].set_title(r["label"], fontsize=10)
        axes[1, k].bar(units, r["near_per_unit"][order], color="tab:orange")
        axes[1, k].set_ylim(0, 1)
        axes[1, k].set_xlabel("code unit (by mean)")
    axes[0, 0].set_ylabel("mean code of the unit")
    axes[1, 0].set_ylabel(f"fraction of values < {NEAR_ZERO}")
    fig.suptitle("Code units of the shallow autoencoder, 1,000 test digits")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kl", type=float, nargs=2, action="append", metavar=("RHO", "BETA"),
                   help="a KL run (repeatable; default: 0.05 0.03)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--figure", metavar="PATH", help="also draw the units' bar chart to PATH")
    args = p.parse_args(argv)
    data = load("mnist-5k")
    x, xt = data.x_train, data.x_test
    rows = [train("standard", x, xt, epochs=args.epochs),
            train("l1(1e-5)", x, xt, l1=1e-5, epochs=args.epochs),
            train("sigmoid", x, xt, sigmoid=True, epochs=args.epochs)]
    for rho, beta in args.kl or [(0.05, 0.03)]:
        rows.append(train(f"kl({rho:g}, {beta:g})", x, xt, kl=(rho, beta), epochs=args.epochs))
    print(table(rows))
    if args.figure:
        figure(rows, args.figure)
        print(f"wrote {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

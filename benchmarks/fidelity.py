"""Does scratchae train like Keras? The article's recipe on full Fashion-MNIST, side by side.

Two runs, on the 60,000 / 10,000 Fashion-MNIST images (Debian's `dataset-fashion-mnist`, or
--data DIR with the four IDX files):

  deep      784-128-32-128-784 (relu, sigmoid output), Adam, BCE, 5 epochs, batch 32
  sparse    784-32-784 with l1(1e-5) on the code (summed over the batch, as in Keras 2.0 and
            as scratchae does), 20 epochs, batch 32

For each we print scratchae's training loss per epoch, the test loss (`evaluate`, penalty
included, as Keras's `evaluate` reports it), the plain test BCE, and the mean code value,
beside reference figures from Keras 3 runs of the same recipe, with the gap of the final
training loss in percent. Different random draws make the runs differ by a little; a final-
loss gap over 2% means something in the arithmetic is wrong and is worth hunting down.

    python benchmarks/fidelity.py                    # about 3-6 minutes on 2 cores
    python benchmarks/fidelity.py --data DIR --seed 1

The variational autoencoder's fidelity, against PyTorch (pytorch/examples/vae's recipe, the
same weights, data order and noise on both sides, per-epoch test negative ELBO in nats per
image) is in benchmarks/fidelity_vae.py, its own script because its reference is a live
PyTorch run in a separate environment, not figures written down here; `--vae` runs it:

    python benchmarks/fidelity.py --vae --torch-python /tmp/torchenv/bin/python

This is a script to read and run, not a test.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scratchae import autoencoders  # noqa: E402
from scratchae.datasets import load  # noqa: E402
from scratchae.losses import BinaryCrossentropy  # noqa: E402

# Keras 3 on the same data and recipe (figures given in the project's issue 5).
KERAS = {
    "deep": {"loss": [0.3125, 0.2866, 0.2819, 0.2796, 0.2778], "test": 0.2796, "code": None},
    "sparse": {"loss": [None] * 19 + [0.2901], "test": 0.2887, "code": 0.42},
}
GAP_LIMIT = 2.0  # percent


def _gap(ours: float, theirs: float | None) -> str:
    if theirs is None:
        return ""
    return f"{100.0 * (ours - theirs) / theirs:+.2f}%"


def run(name: str, ae, data, epochs: int, seed: int) -> dict:
    print(f"\n== {name}: {epochs} epochs, batch 32 ==", flush=True)
    start = time.perf_counter()
    history = ae.model.fit(data.x_train, data.x_train, epochs=epochs, batch_size=32,
                           verbose=2, seed=seed)
    seconds = time.perf_counter() - start
    test = ae.model.evaluate(data.x_test, data.x_test)
    bce = BinaryCrossentropy()(data.x_test, ae.model.predict(data.x_test))
    code = float(ae.encoder.predict(data.x_test).mean())
    return {"loss": history.history["loss"], "test": test, "bce": bce, "code": code,
            "seconds": seconds}


def report(name: str, ours: dict, ref: dict) -> bool:
    print(f"\n{name}: scratchae vs Keras 3")
    print(f"  {'epoch':>5}  {'scratchae':>9}  {'Keras 3':>8}  {'gap':>7}")
    for i, value in enumerate(ours["loss"]):
        theirs = ref["loss"][i] if i < len(ref["loss"]) else None
        shown = f"{theirs:.4f}" if theirs is not None else ""
        print(f"  {i + 1:>5}  {value:9.4f}  {shown:>8}  {_gap(value, theirs):>7}")
    print(f"  test loss (evaluate)   {ours['test']:.4f}   Keras 3 {ref['test']:.4f}   "
          f"{_gap(ours['test'], ref['test'])}")
    print(f"  test BCE (no penalty)  {ours['bce']:.4f}")
    code_ref = f"Keras 3 {ref['code']:.2f}   {_gap(ours['code'], ref['code'])}" if ref["code"] else ""
    print(f"  mean code (test)       {ours['code']:.2f}   {code_ref}")
    print(f"  training time          {ours['seconds']:.0f} s")
    gap = 100.0 * abs(ours["loss"][-1] - ref["loss"][-1]) / ref["loss"][-1]
    ok = gap <= GAP_LIMIT
    print(f"  final training loss gap {gap:.2f}%: {'OK' if ok else 'OVER ' + str(GAP_LIMIT) + '% - investigate'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--vae" in argv:                          # the VAE against PyTorch: its own script
        from fidelity_vae import main as vae_main
        return vae_main([a for a in argv if a != "--vae"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="fashion-mnist",
                        help="'fashion-mnist' (default) or a folder of Fashion-MNIST IDX files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vae", action="store_true",
                        help="run benchmarks/fidelity_vae.py instead (its options follow)")
    args = parser.parse_args(argv)

    data = load(args.data)
    print(f"Data: {data.description}")
    if len(data.x_train) != 60000:
        print("warning: the Keras figures are for the full 60,000 training images", file=sys.stderr)

    deep = run("deep", autoencoders.deep(seed=args.seed), data, 5, args.seed)
    sparse = run("sparse (regularized)", autoencoders.sparse(l1=1e-5, seed=args.seed), data, 20,
                 args.seed)
    ok = report("deep", deep, KERAS["deep"])
    ok &= report("sparse (regularized, l1 1e-5 summed over the batch)", sparse, KERAS["sparse"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

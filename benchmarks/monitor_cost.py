"""What does the training monitor cost? Epoch time of `fit` with and without it, in one run.

The article's vanilla autoencoder (784-128-32-128-784, Adam, batch 32) trains on the same
data with:

  off             fit(..., callbacks=None): the plain loop, no callback work at all
  empty hook      fit(..., callbacks=[Callback()]): the loop's one call per step, doing nothing
  Monitor(every=K) for K in --every (default: 1, 5, 25 (the default), 100)

The settings take turns epoch by epoch (off, hook, monitor K..., off, ...) so a busy machine
slows them alike; each figure is the median of --repeats epochs after one warm-up epoch of
each. "cost" is (median - median of off) / median of off; "predicted" is the cost of one
record (from every=1, where the monitor records at every step) times the records per epoch,
over the epoch without the monitor: the same quantity, far less sensitive to a busy machine.

Data: full Fashion-MNIST when Debian's `dataset-fashion-mnist` is installed (or --data DIR),
else the bundled MNIST subset tiled to --samples images (default 20,000).

    python benchmarks/monitor_cost.py
    python benchmarks/monitor_cost.py --every 25 --repeats 9 --json cost.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from scratchae import autoencoders  # noqa: E402
from scratchae.callbacks import Callback  # noqa: E402
from scratchae.datasets import fashion_mnist, mnist, to_vectors  # noqa: E402
from scratchae.monitor import Monitor  # noqa: E402

DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"


def load_data(path: str | None, samples: int) -> tuple[np.ndarray, str]:
    folder = path or (DEBIAN_FASHION if os.path.isdir(DEBIAN_FASHION) else None)
    if folder:
        (x, _), _ = fashion_mnist.load_data(path=folder)
        return to_vectors(x), f"Fashion-MNIST from {folder} ({len(x):,} images)"
    (x, _), _ = mnist.load_data(subset=True)
    x = to_vectors(x)
    x = np.tile(x, (-(-samples // len(x)), 1))[:samples]
    return x, f"bundled MNIST subset tiled to {len(x):,} images"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--every", type=int, nargs="+", default=[1, 5, 25, 100], metavar="K")
    p.add_argument("--repeats", type=int, default=5, metavar="N", help="timed epochs per setting (default 5)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--samples", type=int, default=20_000)
    p.add_argument("--data", default=None, metavar="DIR")
    p.add_argument("--json", default=None, metavar="FILE")
    args = p.parse_args(argv)

    x, what = load_data(args.data, args.samples)
    print(f"Data: {what}; vanilla autoencoder, batch {args.batch_size}, "
          f"{-(-len(x) // args.batch_size):,} steps per epoch")
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, {os.cpu_count()} CPU(s)\n")

    settings = [("off", lambda: None), ("empty hook", lambda: [Callback()])]
    settings += [(f"Monitor(every={k})", lambda k=k: [Monitor(every=k)]) for k in args.every]
    model = autoencoders.vanilla(seed=0).model
    times: dict[str, list[float]] = {name: [] for name, _ in settings}
    for round_ in range(args.repeats + 1):                        # round 0 warms up
        for name, make in settings:
            t = time.perf_counter()
            model.fit(x, x, batch_size=args.batch_size, epochs=1, verbose=0, seed=round_,
                      callbacks=make())
            if round_:
                times[name].append(time.perf_counter() - t)

    base = statistics.median(times["off"])
    steps = -(-len(x) // args.batch_size)
    # every=1 records at every step: its extra time per step is the cost of one record, which
    # predicts the cost at every=K with far less noise than timing the small difference
    per_record = ((statistics.median(times["Monitor(every=1)"]) - base) / steps
                  if 1 in args.every else None)
    rows = []
    print(f"{'setting':<20}{'epoch s':>9}{'cost':>9}{'predicted':>11}   (median of {args.repeats} epochs)")
    for (name, _), k in zip(settings, [None, None] + args.every):
        med = statistics.median(times[name])
        predicted = per_record * -(-steps // k) / base if per_record is not None and k else None
        rows.append({"setting": name, "median_s": med, "cost": med / base - 1,
                     "predicted_cost": predicted, "times": times[name]})
        pred = f"{predicted * 100:>10.1f}%" if predicted is not None else f"{'':>11}"
        print(f"{name:<20}{med:>9.3f}{(med / base - 1) * 100:>8.1f}%{pred}")
    if per_record is not None:
        print(f"\none record costs {per_record * 1e3:.2f} ms, one step {base / steps * 1e3:.2f} ms; "
              "'predicted' = records per epoch x that / the epoch without the monitor")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"data": what, "batch_size": args.batch_size, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`scratchae demo`: the article, end to end.

    scratchae demo                              vanilla, denoising, sparse standard and
                                                regularized with the article's recipe; a
                                                summary table and the figures

It prints which data it uses and why, trains with a progress bar, and writes its figures and a
JSON summary into a folder. Every argument is checked before any training starts.
"""
from __future__ import annotations

import argparse
import math
import os
import time

from .common import (add_common_options, check_common, load_data, make_out, save_figure, save_json,
                     table, train_one)

def add_commands(sub) -> None:
    """Add `demo` to the `scratchae` command."""
    demo = sub.add_parser(
        "demo", help="train the article's autoencoders and draw its figures",
        description="The article, end to end: train the vanilla, denoising, and both "
                    "sparse autoencoders with its recipe, print a summary table and write the "
                    "figures.",
        epilog=DEMO_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(demo, "scratchae-demo")
    demo.add_argument("--epochs", type=int, default=None, metavar="N",
                      help="train every model N epochs instead of the article's 3/10/20/20")
    demo.set_defaults(run=run_demo)


DEMO_EPILOG = """\
examples:
  scratchae demo                                  the article's recipe (3/10/20/20 epochs)
  scratchae demo --dataset mnist-5k --out figs    bundled data, figures into ./figs/
  scratchae demo --epochs 1 --verbose 0           every model one epoch, quietly

writes into --out: vanilla-reconstructions.png, vanilla-weights.png, denoising.png,
sparse-code-distributions.png, sparse-losses.png, loss-curves.png, summary.json
"""

def run_demo(args: argparse.Namespace) -> int:
    from .. import autoencoders, plotting
    from ..datasets import add_gaussian_noise

    check_common(args)
    data = load_data(args.dataset)
    make_out(args.out, ("vanilla-reconstructions.png", "vanilla-weights.png", "denoising.png",
                         "sparse-code-distributions.png", "sparse-losses.png", "loss-curves.png",
                         "summary.json"))
    recipe = autoencoders.ARTICLE
    epochs = {k: args.epochs or recipe[k]["epochs"] for k in ("vanilla", "denoising", "sparse")}
    seed = args.seed
    x, xt = data.x_train, data.x_test
    noise = recipe["denoising"]["noise_factor"]
    x_noisy = add_gaussian_noise(x, noise, seed=seed)
    xt_noisy = add_gaussian_noise(xt, noise, seed=seed + 1)
    factor = recipe["sparse"]["l1"]

    started = time.perf_counter()
    rows = [
        train_one("vanilla", autoencoders.vanilla(seed=seed), x, x, xt, xt, epochs["vanilla"], args),
        train_one(f"denoising (noise {noise:g})", autoencoders.vanilla(seed=seed), x_noisy, x, xt_noisy, xt,
                   epochs["denoising"], args),
        train_one("sparse standard", autoencoders.shallow(seed=seed), x, x, xt, xt, epochs["sparse"], args),
        train_one(f"sparse l1({factor:g})", autoencoders.sparse(l1=factor, seed=seed), x, x, xt, xt,
                   epochs["sparse"], args),
    ]
    total = time.perf_counter() - started
    vanilla, denoise, standard, regularized = rows

    print(f"\nSummary ({data.description}):\n")
    print(table(rows))
    print("\ntest loss is `evaluate` on the test images (denoising: noisy test inputs against clean "
          "targets;\nthe L1 model's includes its penalty, as in Keras). mean code: the encoder's "
          "output averaged\nover every test image and code unit.")
    ratio = standard["mean_code"] / regularized["mean_code"] if regularized["mean_code"] > 0 else math.inf
    print(f"\nSparse effect: the regularized code averages {regularized['mean_code']:.2f} against "
          f"{standard['mean_code']:.2f} without the penalty, {ratio:.1f}x lower "
          f"(the article, on full MNIST: 0.78 vs 6.60).")

    out = args.out
    n = min(5, len(xt))
    written = [
        save_figure(plotting.reconstructions(xt, vanilla["ae"].model.predict(xt), n=n),
                     os.path.join(out, "vanilla-reconstructions.png")),
        save_figure(plotting.first_layer_weights(vanilla["ae"].model.get_weights()[0], n=10),
                     os.path.join(out, "vanilla-weights.png")),
        save_figure(plotting.denoising(xt, xt_noisy, denoise["ae"].model.predict(xt_noisy), n=n),
                     os.path.join(out, "denoising.png")),
        save_figure(plotting.code_distributions({"standard": standard["codes"],
                                                  "regularized": regularized["codes"]}),
                     os.path.join(out, "sparse-code-distributions.png")),
        save_figure(plotting.compare_losses({"standard": standard["history"],
                                              "regularized": regularized["history"]}),
                     os.path.join(out, "sparse-losses.png")),
        save_figure(plotting.loss_curves({r["label"]: r["history"] for r in rows}),
                     os.path.join(out, "loss-curves.png")),
    ]
    summary = {
        "dataset": {"name": data.name, "description": data.description,
                    "train": len(x), "test": len(xt)},
        "arguments": {k: v for k, v in vars(args).items() if k != "run"},
        "models": [{k: r[k] for k in ("label", "epochs", "loss", "test_loss", "mean_code", "seconds")}
                   for r in rows],
        "sparse_ratio": ratio,
        "training_seconds": total,
    }
    written.append(save_json(summary, os.path.join(out, "summary.json")))
    print(f"\nTraining took {total:.1f} s. Wrote {len(written)} files to {out}{os.sep}:")
    for path in written:
        print(f"  {os.path.basename(path)}")
    return 0

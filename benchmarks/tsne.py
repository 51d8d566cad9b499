"""t-SNE and anomaly detection on the bundled digits: time, memory, and how well each works.

    python benchmarks/tsne.py                       # about 1.5 min on 2 cores
    python benchmarks/tsne.py --figure maps.png     # and the four maps, side by side
    python benchmarks/tsne.py --n 1000 --iters 300  # a quicker look

What it prints:

  1. `TSNE()` (scikit-learn's defaults: perplexity 30, early exaggeration 12, learning rate
     "auto", init "pca") on the first 2,500 bundled training digits (784 pixels), 1,000
     iterations: wall time, the process's peak resident memory, and the peak of the memory
     NumPy allocates during a fit (tracemalloc, on a 50-iteration fit: the peak is reached in
     the affinities and the first iteration and does not grow), against TSNE's own estimate of
     its n x n matrix, `manifold.matrix_bytes(n)`.
  2. The leave-one-out 1-nearest-neighbour accuracy in 2-D (`manifold.one_nn_accuracy`) of
     that map and of the first two principal components (`figures_code.pca_2d`), on the raw
     digits; then the same two on the 32-d codes of the first 1,000 test digits under the
     vanilla autoencoder (`autoencoders.vanilla`, its recipe: Adam, BCE, batch 32, 3 epochs on
     the 4,000 training digits, seed 0). Chance is about 0.1.
  3. Anomaly detection by reconstruction error (`metrics.reconstruction_errors`, the per-image
     BCE): a vanilla autoencoder trained with the same recipe on the training images of the
     normal digits only, every test image scored, the anomalies the positive class, the AUC
     (`metrics.roc_auc_score`) for "normal 1, anomalies the rest", "normal the rest, anomaly 1"
     and "normal 0-4, anomalies 5-9", after the recipe's 3 epochs and after 10 (the subsets
     are smaller than the training set: 3 epochs are fewer steps); and where an all-black
     image's error falls among the test digits'.

This is a script to read and run, not a test (tests/test_manifold.py and tests/test_metrics.py
check the claims on small inputs).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scratchae import autoencoders, manifold, metrics  # noqa: E402
from scratchae.datasets import load  # noqa: E402
from scratchae.figures_code import pca_2d  # noqa: E402

RECIPE = autoencoders.ARTICLE["vanilla"]["epochs"]


def max_rss_mb() -> float:
    """The process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def trained_vanilla(x: np.ndarray, seed: int = 0, epochs: int = RECIPE):
    ae = autoencoders.vanilla(seed=seed)
    ae.model.fit(x, x, epochs=epochs, batch_size=32, seed=seed, verbose=0)
    return ae


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2500, help="raw digits mapped (default 2,500)")
    parser.add_argument("--iters", type=int, default=1000, help="t-SNE iterations (default 1,000)")
    parser.add_argument("--codes", type=int, default=1000, help="test codes mapped (default 1,000)")
    parser.add_argument("--figure", help="write the four maps into this PNG")
    args = parser.parse_args()

    data = load("mnist-5k")
    print("Data:", data.description)
    x, y = data.x_train[:args.n], data.y_train[:args.n]

    # 1. time and memory
    rss_before = max_rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    tsne = manifold.TSNE(max_iter=args.iters, random_state=0)
    raw_map = tsne.fit_transform(x)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rss_after = max_rss_mb()
    tracemalloc.start()
    manifold.TSNE(max_iter=50, random_state=0).fit(x)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"\nTSNE on {args.n:,} digits x {args.iters:,} iterations: {seconds:.1f} s wall ({cpu:.1f} s CPU; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores), KL divergence {tsne.kl_divergence_:.4f}, {tsne.n_iter_} iterations run, "
          f"learning rate {tsne.learning_rate_:g}")
    print(f"  memory: peak traced NumPy allocations during a fit {traced_peak / 1e6:.1f} MB "
          f"(its n x n matrix P: {manifold.matrix_bytes(args.n) / 1e6:.1f} MB; the input as "
          f"float64 {x.size * 8 / 1e6:.1f} MB); process peak RSS {rss_after:.0f} MB "
          f"({rss_before:.0f} MB before the fit)")

    # 2. how well each map keeps the digits apart
    pca_raw = pca_2d(x)[0]
    ae = trained_vanilla(data.x_train)
    codes = ae.encoder.predict(data.x_test[:args.codes])
    labels = data.y_test[:args.codes]
    code_map = manifold.TSNE(max_iter=args.iters, random_state=0).fit_transform(codes)
    pca_codes = pca_2d(codes)[0]
    maps = [(f"t-SNE, {args.n:,} raw digits", raw_map, y),
            (f"PCA, {args.n:,} raw digits", pca_raw, y),
            (f"t-SNE, {args.codes:,} test codes (32-d, vanilla)", code_map, labels),
            (f"PCA, {args.codes:,} test codes (32-d, vanilla)", pca_codes, labels)]
    print(f"\n2-D 1-nearest-neighbour accuracy (leave one out; vanilla: {RECIPE} epochs, "
          f"test loss {ae.model.evaluate(data.x_test, data.x_test):.4f}):")
    for name, points, lab in maps:
        print(f"  {name:<44} {manifold.one_nn_accuracy(points, lab):.3f}")
    print(f"  {'(the 32-d codes themselves, for scale)':<44} "
          f"{manifold.one_nn_accuracy(codes, labels):.3f}")

    # 3. anomaly detection
    print("\nAnomaly detection (vanilla trained on the normal training digits only; score: "
          "per-image BCE; positive: the anomalies; 'black' is the share of test digits whose "
          "error is above an all-black image's):")
    for name, normal in [("normal 1, anomalies 0 and 2-9", [1]),
                         ("normal 0 and 2-9, anomaly 1", [0, 2, 3, 4, 5, 6, 7, 8, 9]),
                         ("normal 0-4, anomalies 5-9", [0, 1, 2, 3, 4])]:
        train = data.x_train[np.isin(data.y_train, normal)]
        anomaly = ~np.isin(data.y_test, normal)
        for epochs in (RECIPE, 10):
            model = trained_vanilla(train, epochs=epochs)
            errors = metrics.reconstruction_errors(model, data.x_test)
            black = metrics.reconstruction_errors(model, np.zeros((1, 784), np.float32))[0]
            print(f"  {name:<30} {len(train):>5,} images, {epochs:>2} epochs: AUC "
                  f"{metrics.roc_auc_score(anomaly, errors):.3f}, black {black:.4f} "
                  f"(above it: {np.mean(errors > black):.0%})")

    if args.figure:
        from matplotlib.figure import Figure
        from scratchae.plotting import finish_figure
        fig = Figure(figsize=(13, 11))
        for i, (name, points, lab) in enumerate(maps):
            manifold.plot_embedding(fig.add_subplot(2, 2, i + 1), points, lab, title=name,
                                    legend=i % 2 == 1)
        finish_figure(fig, "t-SNE against PCA, on raw digits and on the vanilla autoencoder's codes",
                      f"bundled digits; TSNE() defaults, {args.iters:,} iterations")
        fig.savefig(args.figure)
        print("\nFigure written to", args.figure)


if __name__ == "__main__":
    main()

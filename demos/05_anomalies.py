# %% [markdown]
# # 5. Anomaly detection by reconstruction error
#
# Beyond the article: the question learners ask most in autoencoder repositories. Train an
# autoencoder on "normal" images only (here the digits 0-4), then score every test image by how
# badly the model reconstructs it. Images unlike the training data (the digits 5-9) should
# reconstruct worse: a high error flags an anomaly. We measure how well the score ranks
# anomalies above normal images (the ROC curve and its area, the AUC), pick a threshold from
# held-out normal images, and show the method's known blind spot: an all-black image
# reconstructs better than a real digit, so a low error does not mean "normal".
#
# A script and a notebook at once (percent format: `# %%` starts a code cell, `# %% [markdown]`
# a text cell): run `python demos/05_anomalies.py [OUT_FOLDER] [--dataset NAME]`, or open it in
# VS Code (run the cells) or in Jupyter as `demos/05_anomalies.ipynb`.

# %%
"""Anomaly detection with the vanilla autoencoder: trained on the digits 0-4, scoring all ten.

    python demos/05_anomalies.py [OUT_FOLDER] [--dataset NAME]

The vanilla autoencoder (784-128-32-128-784) trained for 10 epochs on 90% of the training
images of the digits 0-4; each test image's score is its reconstruction error (the per-image
binary cross-entropy, scratchae.metrics.reconstruction_errors). Prints the AUC of "5-9 are
anomalies", the threshold at the 95% quantile of the held-out normal images' errors with its
precision and recall, and where an all-black image ranks. Writes anomalies-roc.png,
anomalies-extremes.png and anomalies-pitfall.png into OUT_FOLDER.
"""
import argparse
import os
import sys

import numpy as np
from matplotlib.figure import Figure

# run from a checkout: the repository's scratchae (a notebook runs in demos/, without __file__)
HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
sys.path.insert(0, os.path.join(HERE, ".."))

from scratchae import autoencoders, metrics
from scratchae.datasets import load
from scratchae.plotting import finish_figure

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("out", nargs="?", default="demo-output")
parser.add_argument("--dataset", default="mnist-5k")
# a notebook's kernel has a command line of its own: there, take the defaults
args = parser.parse_args([] if "ipykernel" in sys.modules else None)
os.makedirs(args.out, exist_ok=True)

# %%
data = load(args.dataset)
print("Data:", data.description)
NORMAL = [0, 1, 2, 3, 4]
normal_train = data.x_train[np.isin(data.y_train, NORMAL)]
rng = np.random.default_rng(0)
order = rng.permutation(len(normal_train))
held = len(normal_train) // 10                      # 10% of the normal images, never trained on
x_val, x_fit = normal_train[order[:held]], normal_train[order[held:]]
x_test, y_test = data.x_test, data.y_test
is_anomaly = ~np.isin(y_test, NORMAL)               # the positive class: digits 5-9
print(f"training on {len(x_fit):,} images of the digits 0-4, {held:,} held out; "
      f"{len(x_test):,} test images, {is_anomaly.sum():,} of them anomalies (5-9)")

# %% [markdown]
# ## The model and the score
#
# The article's vanilla autoencoder, trained as in the article (Adam, binary cross-entropy,
# batch 32) but only on normal digits; 10 epochs because they are half the data. An image's
# score is its own binary cross-entropy against its reconstruction, the training loss of one
# image: `-(1/784) sum_j [x_j log p_j + (1 - x_j) log(1 - p_j)]` (derived in
# [backprop.md](../docs/backprop.md#binary-cross-entropy)). The mean of the scores over a set
# of images is what `evaluate` reports for it.

# %%
ae = autoencoders.vanilla(seed=0)
ae.model.fit(x_fit, x_fit, epochs=10, batch_size=32, seed=0, verbose=0)
errors = metrics.reconstruction_errors(ae, x_test)
val_errors = metrics.reconstruction_errors(ae, x_val)
print(f"mean error: normal test digits {errors[~is_anomaly].mean():.4f}, "
      f"anomalies {errors[is_anomaly].mean():.4f}")
for digit in range(10):
    print(f"  digit {digit}: mean error {errors[y_test == digit].mean():.4f}")

# %% [markdown]
# ## How well the score ranks anomalies: ROC and AUC
#
# Lower a threshold through the scores; everything at or above it is called an anomaly. Each
# threshold gives a false positive rate (normal images flagged) and a true positive rate
# (anomalies caught): the ROC curve. Its area, the AUC, is the probability that a random
# anomaly scores above a random normal image (0.5: chance; 1: a perfect ranking).
#
# A deployed detector needs one threshold, chosen without looking at anomalies: here the 95%
# quantile of the errors of the held-out normal images, so about 5% of normal images are
# flagged. Precision and recall at that threshold say what it catches.

# %%
fpr, tpr, thresholds = metrics.roc_curve(is_anomaly, errors)
auc = metrics.roc_auc_score(is_anomaly, errors)
threshold = metrics.quantile_threshold(val_errors, 0.95)
at = metrics.precision_recall_at(is_anomaly, errors, threshold)
print(f"AUC (5-9 as anomalies): {auc:.3f}")
print(f"threshold {threshold:.4f} (95% of held-out normal errors are below it): "
      f"precision {at.precision:.2f}, recall {at.recall:.2f}, false positive rate "
      f"{at.false_positive_rate:.2f} ({at.tp} anomalies caught, {at.fp} false alarms, "
      f"{at.fn} missed)")

fig = Figure(figsize=(11, 4.4))
ax = fig.add_subplot(1, 2, 1)
bins = np.linspace(0, np.quantile(errors, 0.995), 50)
ax.hist(errors[~is_anomaly], bins=bins, alpha=0.6, color="C0", label="normal (0-4)")
ax.hist(errors[is_anomaly], bins=bins, alpha=0.6, color="C3", label="anomaly (5-9)")
ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.3f}")
ax.set_xlabel("reconstruction error (binary cross-entropy per pixel)")
ax.set_ylabel("test images")
ax.set_title("The scores of normal and anomalous test digits", fontsize=10)
ax.legend(fontsize=8)
ax = fig.add_subplot(1, 2, 2)
ax.plot(fpr, tpr, color="C3", lw=2, label=f"reconstruction error, AUC {auc:.3f}")
ax.plot([0, 1], [0, 1], color="0.6", ls=":", label="chance, AUC 0.5")
ax.plot([at.false_positive_rate], [at.recall], "ko",
        label=f"the threshold: precision {at.precision:.2f}, recall {at.recall:.2f}")
ax.set_xlabel("false positive rate (normal digits flagged)")
ax.set_ylabel("true positive rate (anomalies caught)")
ax.set_title("ROC curve", fontsize=10)
ax.set_aspect("equal")
ax.legend(fontsize=8, loc="lower right")
finish_figure(fig, "Anomaly detection: an autoencoder trained on the digits 0-4",
              "vanilla, 10 epochs on the bundled 0-4 training digits, seed 0")
fig.savefig(os.path.join(args.out, "anomalies-roc.png"))
fig

# %% [markdown]
# ## The most and the least anomalous test images
#
# On the bundled digits the highest errors are anomalies with thick or unusual strokes (7s
# and 8s); the lowest are all 1s, thin simple shapes: few ink pixels leave little to get
# wrong. The score measures "hard to reconstruct", which is only partly "unlike the training
# digits".

# %%
ranked = np.argsort(errors)
rows = [("most anomalous", ranked[::-1][:10]), ("least anomalous", ranked[:10])]
fig = Figure(figsize=(12, 3.6))
for r, (name, picks) in enumerate(rows):
    for c, i in enumerate(picks):
        ax = fig.add_subplot(2, 10, r * 10 + c + 1)
        ax.imshow(x_test[i].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{y_test[i]}: {errors[i]:.3f}", fontsize=8,
                     color="C3" if is_anomaly[i] else "k")
        if c == 0:
            ax.set_ylabel(name, fontsize=9)
finish_figure(fig, "Test digits by reconstruction error (label: error; red = an anomaly, 5-9)",
              "vanilla, trained on the digits 0-4")
fig.savefig(os.path.join(args.out, "anomalies-extremes.png"))
print("least anomalous labels:", y_test[ranked[:10]].tolist())
fig

# %% [markdown]
# ## The pitfall: a low error is not "normal"
#
# An all-black image is nothing like a digit, and the model reconstructs it as a faint haze;
# yet its error is lower than most real digits'. Every one of its pixels is background, which
# the decoder has learned to make dark. Under binary cross-entropy a black pixel can be
# reconstructed at a cost near 0, while a grey pixel of a real digit costs at least its
# entropy even when reconstructed exactly, and the strokes are where reconstructions blur.
# The detector thresholds the error from above and never flags the black image. The same blind spot turns
# the ranking upside down when the anomaly is the simple digit: a model trained on every digit
# but 1 finds the 1s *easier* than the digits it was trained on (an AUC below 0.5).

# %%
black = np.zeros((1, 784), dtype=np.float32)
black_error = metrics.reconstruction_errors(ae, black)[0]
print(f"all-black image: error {black_error:.4f}, lower than "
      f"{np.mean(errors > black_error):.0%} of the real test digits "
      f"(flagged: {black_error >= threshold})")
median_normal = ranked[np.searchsorted(errors[ranked], np.median(errors[~is_anomaly]))]
median_anomaly = np.flatnonzero(is_anomaly)[np.argsort(errors[is_anomaly])[is_anomaly.sum() // 2]]
shown = [("all black", black[0], black_error),
         (f"a typical {y_test[median_normal]} (normal)", x_test[median_normal], errors[median_normal]),
         (f"a typical {y_test[median_anomaly]} (anomaly)", x_test[median_anomaly], errors[median_anomaly])]
reconstructed = ae.model.predict(np.stack([img for _, img, _ in shown]))
fig = Figure(figsize=(7.5, 5.2))
for c, ((name, img, err), rec) in enumerate(zip(shown, reconstructed)):
    for r, (what, pic) in enumerate([("input", img), ("reconstruction", rec)]):
        ax = fig.add_subplot(2, 3, r * 3 + c + 1)
        ax.imshow(pic.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name}\nerror {err:.3f}" if r == 0 else what, fontsize=9)
        for side in ax.spines.values():
            side.set_edgecolor("0.5")
finish_figure(fig, f"An all-black image scores lower than {np.mean(errors > black_error):.0%} "
                   f"of real digits", f"vanilla, trained on the digits 0-4; threshold {threshold:.3f}")
fig.savefig(os.path.join(args.out, "anomalies-pitfall.png"))
fig

# %%
no_ones = data.x_train[data.y_train != 1]
ae_rest = autoencoders.vanilla(seed=0)
ae_rest.model.fit(no_ones, no_ones, epochs=3, batch_size=32, seed=0, verbose=0)
errors_rest = metrics.reconstruction_errors(ae_rest, x_test)
auc_ones = metrics.roc_auc_score(y_test == 1, errors_rest)
print(f"trained on every digit but 1: AUC of '1 is the anomaly' {auc_ones:.3f} "
      f"(mean error of the 1s {errors_rest[y_test == 1].mean():.4f}, of the rest "
      f"{errors_rest[y_test != 1].mean():.4f})")
print("Figures written to", args.out)

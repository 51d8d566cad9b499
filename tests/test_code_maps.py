"""The code space mapped by PCA and t-SNE (figures_code.maps_2d / map_accuracies / code_maps),
and `scratchae train --tsne`, which draws it on the run page."""
import json
import re

import numpy as np
import pytest

from scratchae import figures_code
from scratchae.cli import main
from scratchae.cli.common import map_line


def two_clusters(n_each=20, dims=6, seed=0):
    """Two tight clusters far apart in `dims` dimensions, labels 0 and 1."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 0.05, (n_each, dims))
    b = rng.normal(5.0, 0.05, (n_each, dims))
    return np.vstack([a, b]), np.repeat([0, 1], n_each)


def test_perplexity_is_lowered_for_few_points_only():
    assert figures_code.tsne_perplexity(1000) == 30.0
    assert figures_code.tsne_perplexity(10) == 3.0          # (10 - 1) / 3
    assert figures_code.tsne_perplexity(91, 50.0) == 30.0
    with pytest.raises(ValueError, match="at least 4 points, got 3"):
        figures_code.tsne_perplexity(3)


def test_maps_of_two_clusters_keep_them_apart():
    codes, labels = two_clusters()
    pixels = np.hstack([codes, np.zeros((len(codes), 10))])       # the same clusters, wider
    maps = figures_code.maps_2d(codes, pixels, max_iter=300)
    for source in ("codes", "pixels"):
        for method in ("PCA", "t-SNE"):
            assert maps[source][method].shape == (40, 2)
            assert np.all(np.isfinite(maps[source][method]))
    acc = figures_code.map_accuracies(maps, labels)
    assert acc == {"codes": {"PCA": 1.0, "t-SNE": 1.0}, "pixels": {"PCA": 1.0, "t-SNE": 1.0}}
    # labels that the geometry does not follow: every point's nearest neighbour is in its own
    # cluster, so labels alternating inside each cluster score far below 1
    mixed = np.tile([0, 1], 20)
    assert figures_code.map_accuracies(maps, mixed)["codes"]["PCA"] < 0.7


def test_maps_are_reproducible_and_accept_image_shaped_codes():
    codes, _ = two_clusters(n_each=6, dims=8)
    conv_codes = codes.reshape(12, 2, 2, 2)                      # a conv code, (n, h, w, c)
    a = figures_code.maps_2d(conv_codes, codes, max_iter=50)
    b = figures_code.maps_2d(codes, codes, max_iter=50)
    np.testing.assert_array_equal(a["codes"]["t-SNE"], b["codes"]["t-SNE"])
    np.testing.assert_array_equal(a["codes"]["t-SNE"], a["pixels"]["t-SNE"])


def test_map_accuracies_known_answer():
    # points on a line at 0, 1, 3, 6 (each one's nearest: 1, 0, 1, 3) with labels a a b b:
    # point 0 -> 1 (a = a), 1 -> 0 (a = a), 3 -> 1 (b != a), 6 -> 3 (b = b): 3 of 4
    line = np.array([[0.0, 0], [1, 0], [3, 0], [6, 0]])
    maps = {s: {m: line for m in ("PCA", "t-SNE")} for s in ("codes", "pixels")}
    assert figures_code.map_accuracies(maps, ["a", "a", "b", "b"])["codes"]["t-SNE"] == 0.75


def test_bad_maps_and_mismatched_inputs_are_refused():
    codes, labels = two_clusters(n_each=3)
    with pytest.raises(ValueError, match="same images, got 6 codes and 5 images"):
        figures_code.maps_2d(codes, codes[:5])
    with pytest.raises(ValueError, match="maps must be what maps_2d returns"):
        figures_code.map_accuracies({"codes": {"PCA": codes[:, :2]}}, labels)
    good = {s: {m: codes[:, :2] for m in ("PCA", "t-SNE")} for s in ("codes", "pixels")}
    with pytest.raises(ValueError, match="differ in length"):
        figures_code.map_accuracies(good, labels[:4])


def test_code_maps_titles_carry_each_maps_accuracy():
    line = np.array([[0.0, 0], [1, 0], [3, 0], [6, 0]])
    spread = np.array([[0.0, 0], [9, 0], [1, 0], [8, 0]])       # nearest: 2, 3, 0, 1 -> all wrong
    maps = {"codes": {"PCA": line, "t-SNE": spread}, "pixels": {"PCA": line, "t-SNE": line}}
    fig = figures_code.code_maps(maps, [0, 0, 1, 1], code_width=32, run="test run")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["PCA of the 32-number codes\n1-NN accuracy in 2-D: 75.0%",
                      "t-SNE of the 32-number codes\n1-NN accuracy in 2-D: 0.0%",
                      "PCA of the raw pixels\n1-NN accuracy in 2-D: 75.0%",
                      "t-SNE of the raw pixels\n1-NN accuracy in 2-D: 75.0%"]
    assert "(4 images, the same in every panel)" in fig._suptitle.get_text()


def test_map_line_says_which_map_wins():
    acc = {"codes": {"PCA": 0.3, "t-SNE": 0.9}, "pixels": {"PCA": 0.35, "t-SNE": 0.8}}
    assert "t-SNE 90.0% from the codes, 80.0% from the pixels" in map_line(acc, 32)
    assert "better than the pixels' map" in map_line(acc, 32)
    acc["pixels"]["t-SNE"] = 0.95
    assert "less well than the pixels' map" in map_line(acc, 32)


@pytest.mark.real_tsne_default
def test_train_maps_1000_test_images_by_default(monkeypatch):
    import scratchae.cli.train as train

    seen = {}
    monkeypatch.setattr(train, "_run_train", lambda args: seen.setdefault("tsne", args.tsne) and 0)
    main(["train", "vanilla", "--dataset", "mnist-5k"])
    assert seen["tsne"] == 1000 == train.TSNE_IMAGES


@pytest.mark.parametrize("value", ["2", "-1", "5001"])
def test_train_refuses_a_tsne_count_out_of_range(tmp_path, capsys, value):
    assert main(["train", "vanilla", "--dataset", "mnist-5k", "--tsne", value,
                 "--out", str(tmp_path / "run")]) == 2
    assert f"--tsne must be 0 (no map) or a number of test images from 4 to 5,000" in capsys.readouterr().err


@pytest.mark.slow
def test_train_draws_the_maps_on_its_page(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "shallow", "--dataset", "mnist-5k", "--epochs", "1", "--code-size", "8",
                 "--monitor", "0", "--verbose", "0", "--tsne", "120", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Mapping 120 test images to 2-D" in text
    assert (out / "shallow-maps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "index.html").read_text()
    assert "shallow-maps.png" in page and "The first 120 test images mapped to 2-D" in page
    # the caption's figures are the run's: the maps of the saved model's codes, computed here
    # from its weights by hand (relu(x W + b)), give the same accuracies. The PCA's must equal;
    # t-SNE amplifies float32 rounding (the model predicts in batches, BLAS blocks them
    # differently from one product here), so its map may move a point or two: within 5%
    from scratchae.datasets import load
    from scratchae.models import load_model

    x = load("mnist-5k").x_test[:120]
    labels = load("mnist-5k").y_test[:120]
    kernel, bias = load_model(out / "shallow.npz").get_weights()[:2]
    codes = np.maximum(x @ kernel + bias, 0.0)
    acc = figures_code.map_accuracies(figures_code.maps_2d(codes, x, random_state=0), labels)
    shown = re.search(r"t-SNE ([\d.]+)% from the codes, ([\d.]+)% from the pixels; PCA ([\d.]+)% "
                      r"and ([\d.]+)%", page)
    assert shown is not None and shown.group(0) in text
    tsne_codes, tsne_pixels, pca_codes, pca_pixels = shown.groups()
    percent = lambda v: f"{100 * v:.1f}"                            # as the caption writes it
    assert (pca_codes, pca_pixels) == (percent(acc["codes"]["PCA"]), percent(acc["pixels"]["PCA"]))
    assert tsne_pixels == percent(acc["pixels"]["t-SNE"])           # the pixels are the same
    assert abs(float(tsne_codes) / 100 - acc["codes"]["t-SNE"]) <= 0.05
    record = json.loads((out / "scratchae-run.json").read_text())
    assert "shallow-maps.png" in json.dumps(record)

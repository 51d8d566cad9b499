"""scratchae.manifold: t-SNE's gradient against finite differences (and wrong gradients caught),
the perplexity search against its target entropy, known answers on two and three points,
reproducibility, the memory refusal, the 1-NN accuracy and the plotting helper."""
from __future__ import annotations

import io
import math
import tracemalloc

import numpy as np
import pytest
from matplotlib.figure import Figure

from scratchae import manifold
from scratchae.gradcheck import check_function
from scratchae.manifold import (TSNE, conditional_affinities, joint_affinities, kl_divergence,
                                kl_gradient, matrix_bytes, one_nn_accuracy, plot_embedding)


def blobs(n=30, d=5, seed=0, gap=12.0):
    """Two Gaussian blobs `gap` apart in d dimensions, labels 0 and 1."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    return rng.standard_normal((n, d)) + gap * labels[:, None], labels


def pairwise_sq(x):
    """|x_i - x_j|^2 by broadcasting the differences (not the |a|^2 + |b|^2 - 2ab trick)."""
    diff = x[:, None, :] - x[None, :, :]
    return (diff ** 2).sum(axis=2)


# -- the gradient ---------------------------------------------------------------------------
def problem(n=10, k=2, seed=1):
    x, _ = blobs(n, 4, seed=seed, gap=3.0)
    P = joint_affinities(x, perplexity=3.0)
    Y = np.random.default_rng(seed).standard_normal((n, k))
    return P, Y


@pytest.mark.parametrize("k", [1, 2, 3])
def test_gradient_matches_finite_differences(k):
    P, Y = problem(k=k)
    rep = check_function(lambda y: kl_divergence(P, y), lambda y: kl_gradient(P, y), Y)
    assert rep.ok, str(rep)
    assert rep.worst.error < 1e-7, str(rep)


def test_gradient_does_not_depend_on_the_block_size():
    P, Y = problem(n=23)
    full = kl_gradient(P, Y)
    for block in (1, 7, 23, 50, 10 ** 6):            # one row, uneven blocks, all rows at once
        np.testing.assert_allclose(kl_gradient(P, Y, block_elements=block), full, rtol=1e-12,
                                   atol=1e-15)


def gradient_by_pairs(P, Y, wrong=None):
    """4 sum_j (p_ij - q_ij) w_ij (y_i - y_j), pair by pair; `wrong` leaves out a piece."""
    n = len(Y)
    w = 1.0 / (1.0 + pairwise_sq(Y))
    np.fill_diagonal(w, 0.0)
    q = w / w.sum()
    g = np.zeros_like(Y)
    for i in range(n):
        for j in range(n):
            term = (P[i, j] - q[i, j]) * (Y[i] - Y[j])
            g[i] += term if wrong == "no (1 + d^2)^-1" else term * w[i, j]
    return g if wrong == "no factor 4" else 4.0 * g


def test_gradient_equals_the_formula_pair_by_pair():
    P, Y = problem(n=9)
    np.testing.assert_allclose(kl_gradient(P, Y), gradient_by_pairs(P, Y), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("wrong", ["no factor 4", "no (1 + d^2)^-1"])
def test_the_check_catches_a_wrong_gradient(wrong):
    P, Y = problem()
    rep = check_function(lambda y: kl_divergence(P, y), lambda y: gradient_by_pairs(P, y, wrong), Y)
    assert not rep.ok
    assert rep.worst.error > 1e-2


# -- known answers on two and three points --------------------------------------------------
def test_two_points_by_hand():
    # one neighbour each: p_{2|1} = p_{1|2} = 1 whatever beta; perplexity 2^0 = 1
    # p_12 = (1 + 1) / (2 * 2) = 1/2. In the map q_12 = w / (2 w) = 1/2 too: KL 0, gradient 0.
    X = np.array([[0.0, 0.0], [3.0, 4.0]])
    p, _ = conditional_affinities(X, perplexity=1.0)
    assert p.tolist() == [[0.0, 1.0], [1.0, 0.0]]
    P = joint_affinities(X, perplexity=1.0)
    assert P.tolist() == [[0.0, 0.5], [0.5, 0.0]]
    Y = np.array([[0.0, 0.0], [1.0, 0.0]])
    assert kl_divergence(P, Y) == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(kl_gradient(P, Y), 0.0, atol=1e-15)


def test_three_points_by_hand():
    """docs/backprop.md#t-sne works this case: an equilateral triangle in the input, so every
    row is (1/2, 1/2) for any beta (entropy 1 bit: perplexity 2) and p_ij = 1/6; the map
    y = 0, 1, 3 in 1-D."""
    X = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, math.sqrt(3.0)]])
    P = joint_affinities(X, perplexity=2.0)
    np.testing.assert_allclose(P, (1 - np.eye(3)) / 6, rtol=1e-12)
    Y = np.array([[0.0], [1.0], [3.0]])
    # d = 1, 9, 4; w = 1/2, 1/10, 1/5; Z = 2 (8/10) = 8/5; q = 5/16, 1/16, 1/8
    # dC/dy_0 = 4 [(1/6 - 5/16)(1/2)(0 - 1) + (1/6 - 1/16)(1/10)(0 - 3)] = 4 (7/96 - 3/96) = 1/6
    # dC/dy_1 = 4 [(1/6 - 5/16)(1/2)(1 - 0) + (1/6 - 1/8)(1/5)(1 - 3)] = 4 (-7/96 - 1/60) = -43/120
    # dC/dy_2 = 4 [(1/6 - 1/16)(1/10)(3) + (1/6 - 1/8)(1/5)(2)] = 4 (15/480 + 8/480) = 23/120
    np.testing.assert_allclose(kl_gradient(P, Y), [[1 / 6], [-43 / 120], [23 / 120]], rtol=1e-12)
    # C = 2 (1/6) [log((1/6)/(5/16)) + log((1/6)/(1/16)) + log((1/6)/(1/8))] = (1/3) log(2048/1080)
    assert kl_divergence(P, Y) == pytest.approx(math.log(2048 / 1080) / 3, rel=1e-12)


# -- the perplexity search ------------------------------------------------------------------
@pytest.mark.parametrize("perplexity", [2.0, 5.0, 12.5, 30.0])
def test_perplexity_search_hits_the_target_entropy(perplexity):
    x, _ = blobs(n=60, d=6, seed=3)
    p, beta = conditional_affinities(x, perplexity)
    assert np.allclose(np.diagonal(p), 0.0) and np.allclose(p.sum(axis=1), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bits = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)
    np.testing.assert_allclose(bits, math.log2(perplexity), atol=manifold.ENTROPY_TOL / math.log(2))
    # each row is the Gaussian of its own beta, computed here from the distances directly
    d = pairwise_sq(x)
    e = np.exp(-beta[:, None] * (d - np.where(np.eye(60) > 0, np.inf, d).min(axis=1, keepdims=True)))
    np.fill_diagonal(e, 0.0)
    np.testing.assert_allclose(p, e / e.sum(axis=1, keepdims=True), rtol=1e-9, atol=1e-300)


def test_entropy_check_tells_perplexities_apart():
    x, _ = blobs(n=60, d=6, seed=3)
    p, _ = conditional_affinities(x, 10.0)
    bits = -np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0).sum(axis=1)
    assert np.abs(bits - math.log2(20.0)).max() > 0.5          # P of 10 is no P of 20


def test_joint_affinities_are_symmetric_and_sum_to_one():
    x, _ = blobs(n=37, d=3, seed=4)
    p, _ = conditional_affinities(x, 8.0)
    P = joint_affinities(x, 8.0)
    np.testing.assert_allclose(P, (p + p.T) / (2 * 37), rtol=1e-13)
    assert np.array_equal(P, P.T) and P.sum() == pytest.approx(1.0)


def test_search_is_invariant_to_shifting_and_scales_beta_with_the_distances():
    x, _ = blobs(n=30, d=4, seed=5)
    p, beta = conditional_affinities(x, 6.0)
    p2, beta2 = conditional_affinities(3.0 * x + 100.0, 6.0)      # distances x9
    np.testing.assert_allclose(p2, p, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(beta2, beta / 9.0, rtol=1e-3)


# -- TSNE -----------------------------------------------------------------------------------
def test_tsne_separates_two_blobs_and_reports_its_kl():
    x, labels = blobs(n=40, d=10, seed=0)
    t = TSNE(perplexity=8.0, n_iter=300, random_state=0)
    y = t.fit_transform(x)
    assert y.shape == (40, 2) and t.embedding_ is y and t.n_iter_ == 300
    assert one_nn_accuracy(y, labels) == 1.0
    P = joint_affinities(x, 8.0)
    assert t.kl_divergence_ == pytest.approx(kl_divergence(P, y), rel=1e-12)
    start = TSNE(perplexity=8.0)._start(x)
    assert t.kl_divergence_ < kl_divergence(P, start) - 0.1     # the descent lowered the cost


def test_random_state_reproducible():
    x, _ = blobs(n=24, d=5, seed=2)
    run = lambda seed: TSNE(perplexity=5.0, n_iter=60, init="random", random_state=seed).fit_transform(x)
    a, b, c = run(3), run(3), run(4)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    g = TSNE(perplexity=5.0, n_iter=60, init="random", random_state=np.random.default_rng(3))
    assert np.array_equal(g.fit_transform(x), a)          # a Generator of seed 3, as the int
    pca = lambda: TSNE(perplexity=5.0, n_iter=60).fit_transform(x)   # init="pca" draws nothing
    assert np.array_equal(pca(), pca())


def test_init_array_and_the_scikit_learn_names():
    x, _ = blobs(n=20, d=3, seed=6)
    start = np.random.default_rng(0).standard_normal((20, 2)) * 1e-3
    t = TSNE(n_components=2, perplexity=4.0, max_iter=5, init=start, learning_rate=100.0)
    y = t.fit(x).embedding_
    assert t.n_iter == t.max_iter == 5 and t.n_iter_ == 5 and not np.array_equal(y, start)
    assert TSNE(n_iter=7).max_iter == 7 and TSNE(max_iter=7, n_iter=7).n_iter == 7
    assert TSNE(perplexity=4.0, n_iter=3, init=start).fit(x).learning_rate_ == 50.0   # auto: max(20/12/4, 50)


def test_stops_when_the_gradient_vanishes():
    x, _ = blobs(n=20, d=3, seed=6)
    t = TSNE(perplexity=4.0, n_iter=1000, min_grad_norm=1e30).fit(x)
    assert t.n_iter_ == 1


def test_verbose_prints_progress_lines():
    x, _ = blobs(n=20, d=3, seed=6)
    out = io.StringIO()
    TSNE(perplexity=4.0, n_iter=100, verbose=1, stream=out).fit(x)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[t-SNE] 20 points of 3 dimensions")
    assert any(l.startswith("[t-SNE] iteration 50: KL divergence") for l in lines)
    assert lines[-1].startswith("[t-SNE] done: 100 iterations")
    quiet = io.StringIO()
    TSNE(perplexity=4.0, n_iter=10, stream=quiet).fit(x)
    assert quiet.getvalue() == ""


def test_memory_refusal_names_n_the_bytes_and_the_limit_without_allocating():
    assert matrix_bytes(2500) == 50_000_000 and matrix_bytes(16_384) == 2 ** 31
    huge = np.broadcast_to(np.zeros(3), (100_000, 3))        # a view: no memory behind it
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as err:
            TSNE().fit_transform(huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(err.value)
    assert "n = 100,000" in message and "80,000,000,000 bytes" in message
    assert f"max_bytes = {2 ** 31:,} bytes" in message and "n <= 16,384" in message
    assert peak < 1_000_000
    # the limit is an argument: just enough passes, one byte less refuses
    x, _ = blobs(n=10, d=2)
    TSNE(perplexity=3.0, n_iter=2, max_bytes=800).fit(x)
    with pytest.raises(ValueError, match="n = 10 points"):
        TSNE(perplexity=3.0, n_iter=2, max_bytes=799).fit(x)


@pytest.mark.parametrize("make, words", [
    (lambda: TSNE(method="barnes_hut"), "exact"),
    (lambda: TSNE(n_iter=10, max_iter=20), "two names"),
    (lambda: TSNE(learning_rate="fast"), "learning_rate"),
    (lambda: TSNE(learning_rate=-1.0), "learning_rate"),
    (lambda: TSNE(init="spectral"), "init"),
    (lambda: TSNE(perplexity=0.0), "perplexity"),
    (lambda: TSNE(early_exaggeration=0.5), "early_exaggeration"),
    (lambda: TSNE(max_bytes=0), "max_bytes"),
])
def test_bad_settings(make, words):
    with pytest.raises((ValueError, TypeError), match=words):
        make()


@pytest.mark.parametrize("x, words", [
    (np.zeros(5), "shape"),
    (np.zeros((1, 3)), "at least 2"),
    (np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN"),
    (np.array([["a"], ["b"]]), "numbers"),
    (np.zeros((5, 2)), "perplexity must be less than the number of samples"),
])
def test_bad_data(x, words):
    with pytest.raises((ValueError, TypeError), match=words):
        TSNE().fit(x)
    with pytest.raises(ValueError, match="init must be"):
        TSNE(perplexity=2.0, init=np.zeros((3, 2))).fit(np.eye(4))


def test_kl_functions_check_their_inputs():
    with pytest.raises(ValueError, match="zero diagonal"):
        kl_divergence(np.full((2, 2), 0.25), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"shape \(n, n\)"):
        kl_gradient(np.zeros((3, 3)), np.zeros((2, 2)))


# -- 1-NN accuracy and the plot -------------------------------------------------------------
def test_one_nn_accuracy_by_hand():
    pts = np.array([[0.0], [1.0], [10.0], [11.0]])
    assert one_nn_accuracy(pts, ["a", "a", "b", "b"]) == 1.0
    assert one_nn_accuracy(pts, ["a", "b", "a", "b"]) == 0.0
    # 10's nearest is 11 (label 1) and 11's is 10 (label 0): two of four wrong
    assert one_nn_accuracy(pts, [0, 0, 0, 1]) == 0.5
    with pytest.raises(ValueError, match="differ in length"):
        one_nn_accuracy(pts, [0, 1])


def test_plot_embedding_draws_one_colour_per_label():
    pts = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [9.0, 0.0]])
    ax = Figure().add_subplot(1, 1, 1)
    assert plot_embedding(ax, pts, [3, 3, 7, 7, 9], title="map") is ax
    assert len(ax.collections) == 3
    assert ax.get_title() == "map\n5 points, 1-NN accuracy in 2-D 80.0%"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["3", "7", "9"]
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plot_embedding(ax, np.zeros((3, 3)), [0, 1, 2])

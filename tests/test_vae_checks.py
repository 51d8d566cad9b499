"""The checks a gradient check cannot make, on the VAE's Sampling layer
(`scratchae.gradcheck.sampling`): the moment, KL and reduction tests pass the right layer,
each shipped broken piece fails the test meant for it with its mistake named, and the gradient
check with the noise replayed catches the one they cannot see (noise drawn twice)."""
import math

import numpy as np
import pytest

from scratchae.cli import main
from scratchae.exercises.broken import (LAYERS_BROKEN, FlippedSignKLSampling, MeanLatentsKLSampling,
                                        NoiseTwiceSampling, SigmaAsVarianceSampling)
from scratchae.gradcheck import check_layer
from scratchae.gradcheck.sampling import (check_kl, check_kl_reduction, check_moments, check_sampling,
                                          gaussian_kl, log_ratio, moment_rows, reduction_problem)
from scratchae.vae import Sampling


def problems(report):
    return " ".join(r.problem for r in report.failures)


def batch(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((4, 3)), 0.5 * rng.standard_normal((4, 3))]


# -- the right layer passes, and is left as it was ---------------------------------------------------
def test_the_right_layer_passes_all_three():
    layer = Sampling(kl_weight=0.25, name="z")
    for check in (check_moments, check_kl, check_kl_reduction, check_sampling):
        report = check(layer)
        assert report.ok, str(report)
        assert str(report).splitlines()[-1].startswith("PASS: ")
    assert layer.kl_weight == 0.25 and layer.rng is None and layer.dtype == np.float32


def test_the_standard_error_of_a_sample_variance_is_sqrt_2_over_n_minus_1_sigma_squared():
    """The formula the moment test uses, measured: 4000 samples of size 30 from N(0, 3^2)."""
    rng = np.random.default_rng(5)
    n, sigma = 30, 3.0
    s2 = rng.normal(0.0, sigma, (4000, n)).var(axis=1, ddof=1)
    assert s2.std() == pytest.approx(math.sqrt(2 / (n - 1)) * sigma ** 2, rel=0.05)
    assert s2.mean() == pytest.approx(sigma ** 2, rel=0.02)


def test_moment_rows_by_hand():
    # z = [0, 2] at mu = 1, log_var = ln 2: mean 1, variance (1 + 1) / (2 - 1) = 2 = exp(ln 2);
    # SE(mean) = sqrt(2) / sqrt(2) = 1, SE(variance) = sqrt(2 / 1) * 2
    mean, var = moment_rows(np.array([[0.0], [2.0]]), np.array([1.0]), np.array([math.log(2.0)]))
    assert (mean.measured, mean.expected, mean.se, mean.ok) == (1.0, 1.0, pytest.approx(1.0), True)
    assert (var.measured, var.expected, var.ok) == (2.0, pytest.approx(2.0), True)
    assert var.se == pytest.approx(2 * math.sqrt(2.0))


def test_the_kl_helpers_by_hand():
    # KL(N(1, 1) || N(0, 1)) = 0.5; KL(N(0, e^2) || N(0, 1)) = -0.5 (1 + 2 - e^2) = 0.5 (e^2 - 3)
    np.testing.assert_allclose(gaussian_kl([1.0, 0.0], [0.0, 2.0]), [0.5, 0.5 * (math.e ** 2 - 3)], rtol=1e-14)
    # at z = mu = 0, log_var = 0: q = p, log q - log p = 0; at z = 1, mu = 0, log_var = ln 4:
    # -0.5 ln 4 - 1 / 8 + 1 / 2
    np.testing.assert_allclose(log_ratio(np.array([0.0, 1.0]), np.zeros(2), np.array([0.0, math.log(4.0)])),
                               [0.0, -math.log(2.0) + 0.375], rtol=1e-14)


# -- each broken piece fails the check meant for it ----------------------------------------------------
def test_sigma_as_variance_passes_the_gradient_check_and_fails_the_moment_and_kl_tests():
    assert check_layer(SigmaAsVarianceSampling(name="z"), batch()).ok           # backward = its forward's
    m = check_moments(SigmaAsVarianceSampling(name="z"))
    assert not m.ok and "exp(log_var) is used as the standard deviation" in problems(m), str(m)
    failed = {r.at for r in m.failures}
    assert all("log_var=0)" not in at for at in failed)              # invisible at log_var = 0
    assert all(r.what == "variance" for r in m.failures)             # the mean is not blamed
    k = check_kl(SigmaAsVarianceSampling(name="z"))
    assert not k.ok and "numpy-ml" in problems(k) and "disagree on q" in problems(k)
    assert check_kl_reduction(SigmaAsVarianceSampling(name="z")).ok    # its closed form is right


def test_a_flipped_kl_sign_fails_the_kl_test():
    assert check_layer(FlippedSignKLSampling(name="z"), batch()).ok
    k = check_kl(FlippedSignKLSampling(name="z"))
    assert not k.ok and "sign is flipped" in problems(k), str(k)
    r = check_kl_reduction(FlippedSignKLSampling(name="z"))
    assert not r.ok and "sign is flipped" in problems(r)
    assert check_moments(FlippedSignKLSampling(name="z")).ok


def test_a_kl_averaged_over_the_latents_is_named_by_the_reduction_test():
    assert check_layer(MeanLatentsKLSampling(name="z"), batch()).ok
    r = check_kl_reduction(MeanLatentsKLSampling(name="z"))
    assert not r.ok
    assert "the KL is averaged over the 5 latent units: it should be summed over them" in problems(r), str(r)
    assert "averaged over the 4 latent units" in problems(check_kl(MeanLatentsKLSampling(name="z")))


def test_noise_drawn_twice_passes_the_forward_checks_and_fails_the_gradient_check():
    assert check_sampling(NoiseTwiceSampling(name="z")).ok
    rep = check_layer(NoiseTwiceSampling(name="z"), batch())
    assert [r.name for r in rep.rows if not r.ok] == ["z/inputs[1]"], str(rep)   # dL/dlog_var only


def test_every_reduction_is_named():
    mu, lv = np.array([[1.0, 0.5, -1.0, 0.0, 2.0], [0.0, 1.0, 0.5, -0.5, 0.0], [2.0, 0.0, 0.0, 1.0, 0.5]]), \
        np.array([[0.0, 1.0, -1.0, 0.5, 0.0], [0.5, 0.0, 1.0, -2.0, 0.0], [-1.0, 0.0, 0.0, 1.0, 0.5]])
    k = gaussian_kl(mu, lv)
    s = float(k.sum())
    assert reduction_problem(s / 3, k) is None
    assert "summed over the 3 rows of the batch: it should be averaged" in reduction_problem(s, k)
    assert "averaged over the 5 latent units: it should be summed" in reduction_problem(s / 15, k)
    assert "averaged over the 5 latent units and summed over the 3 rows" in reduction_problem(s / 5, k)
    assert "summed over the 3 rows" in reduction_problem(-s, k) and "sign is flipped" in reduction_problem(-s, k)
    assert "the formula itself differs" in reduction_problem(s / 3 * 1.1, k)


class ReducedBy(Sampling):
    """The KL reduced another way: `how` is 'sum' (over everything) or 'mean' (over everything)."""

    how = "sum"

    def forward(self, inputs, training=False):
        z = super().forward(inputs, training)
        n, j = self._mu.shape
        self.kl = self.kl * n if self.how == "sum" else self.kl / j
        return z


@pytest.mark.parametrize("how, words", [("sum", "summed over the 3 rows of the batch"),
                                        ("mean", "averaged over the 5 latent units")])
def test_the_reduction_test_names_a_layers_reduction(how, words):
    layer = type("R", (ReducedBy,), {"how": how})(name="z")
    r = check_kl_reduction(layer)
    assert not r.ok and words in problems(r) and "FAIL: check_kl_reduction z" in str(r)


class EpsScaled(Sampling):
    """eps drawn with standard deviation 2 (normal(0, 2)), or uniform in [0, 1)."""

    kind = "scale"

    def forward(self, inputs, training=False):
        z = super().forward(inputs, training)
        if self._eps is None:
            return z
        self._eps = 2 * self._eps if self.kind == "scale" else self.generator().random(self._eps.shape)
        return self._mu + self._sigma * self._eps


def test_the_moment_test_names_noise_of_the_wrong_scale_or_mean():
    m = check_moments(EpsScaled(name="z"))
    assert not m.ok and "eps has variance 3.99 (standard deviation 2)" in problems(m), str(m)
    u = check_moments(type("U", (EpsScaled,), {"kind": "uniform"})(name="z"))
    assert not u.ok and "eps has mean 0.5" in problems(u), str(u)


class KLWithSigmaAsStd(Sampling):
    """Samples right, but its closed form takes exp(log_var) as sigma: -0.5 (1 + 2 lv - mu^2 - e^(2 lv))."""

    def forward(self, inputs, training=False):
        z = super().forward(inputs, training)
        mu, lv = self._mu.astype(np.float64), self._lv.astype(np.float64)
        self.kl = float(-0.5 * np.sum(1 + 2 * lv - mu * mu - np.exp(2 * lv)) / len(mu))
        return z


def test_the_kl_test_catches_a_closed_form_of_another_q():
    k = check_kl(KLWithSigmaAsStd(name="z"))
    assert not k.ok and "not the KL of N(mu, exp(log_var))" in problems(k), str(k)
    assert "formula itself differs" in problems(check_kl_reduction(KLWithSigmaAsStd(name="z")))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="one length"):
        check_moments(Sampling(), [0.0, 1.0], [0.0])
    with pytest.raises(ValueError, match="n .* must be an int >= 2"):
        check_kl(Sampling(), n=1)
    with pytest.raises(ValueError, match="N != J"):
        check_kl_reduction(Sampling(), np.zeros((3, 3)), np.zeros((3, 3)))


# -- scratchae gradcheck --list / --broken --------------------------------------------------------------
SAMPLING = sorted(n for n, b in LAYERS_BROKEN.items() if b.layer == "Sampling")


def test_the_sampling_mistakes_are_listed(capsys):
    assert SAMPLING == ["vae-kl-mean-latents", "vae-kl-sign", "vae-noise-twice", "vae-sigma-as-variance"]
    assert main(["gradcheck", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SAMPLING)
    assert "the gradient check passes it; check_moments names it" in out


@pytest.mark.parametrize("name", SAMPLING)
def test_each_sampling_mistake_fails_on_the_command_line(name, capsys):
    assert main(["gradcheck", "--broken", name]) == 1
    out = capsys.readouterr().out
    b = LAYERS_BROKEN[name]
    assert "FAIL" in out and f"{name}: caught" in out
    assert ("FAIL: check_layer z" in out) == b.gradient_check
    assert ("PASS: check_sampling z" in out) == b.gradient_check

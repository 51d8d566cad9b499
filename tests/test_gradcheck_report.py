"""The teaching checker's reports: self-test on known gradients, float32 models through a
float64 copy, localisation and hints for every shipped mistake, direction mode, optimizers."""
import numpy as np
import pytest

from scratchae import autoencoders
from scratchae.activations import ReLU, Sigmoid
from scratchae.exercises.broken import BROKEN, install
from scratchae.gradcheck import (check_function, check_layer, check_loss, check_model,
                                 check_optimizer, verdict)
from scratchae.layers import Dense
from scratchae.optimizers import SGD, Adam


def test_checker_checks_itself_on_sum_of_cubes():
    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.1, -1.0]])
    good = check_function(lambda x: (x ** 3).sum(), lambda x: 3 * x ** 2, x)
    assert good.ok and good.worst.error < 1e-7 and good.rows[0].verdict == "good"
    bad = check_function(lambda x: (x ** 3).sum(), lambda x: 2 * x ** 2, x)
    assert not bad.ok and bad.worst.verdict == "wrong"
    assert bad.rows[0].hint.kind == "scale"          # 2x^2 = (2/3) * 3x^2: a constant factor


def test_check_function_two_inputs_and_known_quadratic():
    # UFLDL's self-test: h(x) = x1^2 + 3 x1 x2 at (4, 10), gradient (2 x1 + 3 x2, 3 x1) = (38, 12)
    f = lambda a, b: float(a[0] ** 2 + 3 * a[0] * b[0])
    g = lambda a, b: (np.array([2 * a[0] + 3 * b[0]]), np.array([3 * a[0]]))
    rep = check_function(f, g, np.array([4.0]), np.array([10.0]))
    assert rep.ok and [r.tensor for r in rep.rows] == ["arg0", "arg1"]
    assert rep.worst.error < 1e-9


def test_verdict_bands():
    assert [verdict(e) for e in (1e-9, 1e-6, 1e-3, 0.5)] == ["good", "acceptable", "suspect", "wrong"]


def test_report_table_has_columns_and_verdict():
    layer = Dense(3, activation="relu", input_dim=4, dtype="float64", seed=0)
    rep = check_layer(layer, np.random.default_rng(0).standard_normal((2, 4)))
    text = str(rep)
    for word in ("layer", "tensor", "shape", "checked", "max rel err", "verdict", "kernel", "bias", "PASS"):
        assert word in text
    assert {r.tensor for r in rep.rows} >= {"kernel", "bias", "x"}


def test_large_tensors_are_sampled_and_say_so():
    layer = Dense(64, input_dim=50, seed=0)
    rep = check_layer(layer, np.random.default_rng(1).random((4, 50)), k=7)
    kernel = rep.rows[0]
    assert kernel.how == "sample" and kernel.checked == 7 and kernel.total == 3200
    assert "7 of 3200 *" in str(rep) and "seeded sample" in str(rep)
    again = check_layer(layer, np.random.default_rng(1).random((4, 50)), k=7)
    assert [r.worst for r in again.rows] == [r.worst for r in rep.rows]     # seeded


def test_float32_model_checked_on_float64_copy_and_left_unchanged():
    ae = autoencoders.shallow(code_size=8, input_dim=30, seed=0)
    model = ae.model
    before = [w.copy() for w in model.get_weights()]
    x = np.random.default_rng(2).random((3, 30)).astype(np.float32)
    rep = check_model(model, x, x)
    assert rep.ok, str(rep)
    assert any("float64 copy" in n and "float32" in n for n in rep.notes)
    assert model.dtype == np.float32
    for layer in model.chain:
        assert all(p.dtype == np.float32 for p in layer.params.values())
    for w0, w1 in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_float32_layer_note():
    rep = check_layer(Dense(2, input_dim=3, seed=0), np.ones((2, 3), dtype=np.float32))
    assert rep.ok and any("float64 copy" in n for n in rep.notes)


def test_direction_mode_one_number_per_tensor():
    ae = autoencoders.deep(16, 4, input_dim=20, seed=1)
    x = np.random.default_rng(3).random((4, 20)).astype(np.float32)
    rep = check_model(ae.model, x, x, mode="direction")
    assert rep.ok and all(r.how == "direction" and r.checked == 1 for r in rep.rows)
    install(BROKEN["dense-bias-twice"], ae.model)
    bad = check_model(ae.model, x, x, mode="direction")
    assert not bad.ok


def _caught(name, rep):
    b = BROKEN[name]
    assert not rep.ok, f"{name} not caught:\n{rep}"
    assert rep.located is not None and rep.located.tensor == b.tensor, str(rep)
    assert rep.located.hint is not None and rep.located.hint.kind == b.hint, str(rep)
    return rep.located


# the mistakes that go into an article model (the later exercises' are checked alone, in
# tests/test_exercises.py)
IN_MODELS = sorted(name for name, b in BROKEN.items() if b.model)


@pytest.mark.parametrize("name", IN_MODELS)
def test_every_shipped_mistake_is_caught_in_its_model_named_and_hinted(name):
    b = BROKEN[name]
    builder = {"vanilla": autoencoders.vanilla, "shallow": autoencoders.shallow,
               "sparse": autoencoders.sparse}[b.model]
    model = builder(seed=0).model
    where = install(b, model)
    x = np.random.default_rng(0).random((4, 784)).astype(np.float32)
    rep = check_model(model, x, x, localize="always", k=8)
    located = _caught(name, rep)
    assert located.layer == where


@pytest.mark.parametrize("name", IN_MODELS)
def test_every_shipped_mistake_is_caught_alone(name):
    b = BROKEN[name]
    rng = np.random.default_rng(5)
    if b.piece == "dense":
        rep = check_layer(b.cls(4, activation="relu", input_dim=6, seed=0, name="enc"), rng.standard_normal((3, 6)))
        assert rep.located.layer == "enc"
    elif b.piece == "bce":
        rep = check_loss(b.cls(), rng.uniform(0.1, 0.9, (3, 5)), rng.uniform(0, 1, (3, 5)))
    elif b.piece == "l1":
        rep = check_layer(b.cls(0.1), rng.standard_normal((3, 5)))
    else:
        rep = check_layer(b.cls(), rng.standard_normal((3, 5)))
    _caught(name, rep)


def test_hint_texts_name_the_mistake():
    rng = np.random.default_rng(0)
    rep = check_loss(BROKEN["bce-no-mean"].cls(), rng.uniform(0.1, 0.9, (3, 5)), rng.uniform(0, 1, (3, 5)))
    assert "missing 1/15" in rep.located.hint.text
    rep = check_layer(BROKEN["relu-no-mask"].cls(), rng.standard_normal((3, 5)))
    assert "mask" in rep.located.hint.text and "First wrong piece" in str(rep)


def test_user_piece_is_not_modified():
    layer = Dense(3, activation="relu", input_dim=4, seed=0)
    k0 = layer.params["kernel"].copy()
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    x0 = x.copy()
    check_layer(layer, x)
    np.testing.assert_array_equal(layer.params["kernel"], k0)
    np.testing.assert_array_equal(x, x0)
    assert layer.params["kernel"].dtype == np.float32


def test_optimizers_against_closed_forms():
    for opt in (Adam(), Adam(learning_rate=0.1, beta_1=0.5), SGD(0.1), SGD(0.05, momentum=0.9)):
        rep = check_optimizer(opt)
        assert rep.ok and rep.worst.error < 1e-10, str(rep)
    assert opt.iterations == 0              # the user's optimizer is not stepped


def test_optimizer_check_catches_a_wrong_rule():
    class DoubleStepSGD(SGD):
        def _update(self, path, param, grad):
            param -= 2 * self.learning_rate * grad
    rep = check_optimizer(DoubleStepSGD(0.1))
    assert not rep.ok and rep.located.hint.kind == "scale"


def test_bad_arguments():
    with pytest.raises(ValueError):
        check_layer(ReLU(), np.array([[np.nan]]))
    with pytest.raises(ValueError):
        check_layer(Sigmoid(), np.ones((2, 2)), mode="fast")
    # a gradient of the wrong shape is a STRUCTURE row, not an exception from the checker
    rep = check_function(lambda x: x.sum(), lambda x: np.ones(3), np.ones(2))
    assert not rep.ok and rep.rows[0].flag == "STRUCTURE"
    assert "shape (2,)" in rep.rows[0].problem and "shape (3,)" in rep.rows[0].problem
    with pytest.raises(TypeError):
        check_optimizer(object())
    m = autoencoders.shallow(code_size=2, input_dim=4, seed=0).model
    with pytest.raises(ValueError):
        check_model(m, np.ones((2, 4)), np.ones((3, 4)))

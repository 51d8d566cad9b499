"""The training step runs every piece's own backward; its two optimisations (the loss on
logits, the packed parameter buffer) are visible, switchable, and give the plain numbers."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scratchae.activations import Sigmoid, sigmoid
from scratchae.layers import Dense
from scratchae.losses import BinaryCrossentropy
from scratchae import speed
from scratchae.models import Logits, Sequential
from scratchae.speed import ParametersOnly
from scratchae.optimizers import SGD, Adam
from scratchae.regularizers import l1


def chain(last_activation="sigmoid", penalty_on_last=False, dtype="float32", d=12, last_cls=Dense):
    return Sequential([Dense(5, activation="relu", input_dim=d, dtype=dtype, seed=1),
                       last_cls(d, activation=last_activation, dtype=dtype, seed=2,
                                activity_regularizer=l1(0.01) if penalty_on_last else None)])


def summary_text(model) -> str:
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


X = np.random.default_rng(1).uniform(0, 1, (64, 12)).astype(np.float32)


# -- the loss on logits: its value and p from one exponential --------------------------------
@given(st.integers(1, 8), st.integers(1, 16), st.integers(0, 2**32 - 1), st.floats(0.1, 30))
def test_bce_from_logits_caches_the_sigmoid_and_matches_the_separate_pieces(n, d, seed, scale):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d)) * scale
    y = rng.uniform(0, 1, (n, d))
    bce = BinaryCrossentropy(from_logits=True)
    value = bce.forward(z, y)
    # the value, from the formula written out here: softplus(z) - y z, averaged
    expected = np.mean(np.logaddexp(0, z) - y * z)
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(bce.backward(), (sigmoid(z) - y) / z.size, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_from_logits_at_huge_logits(dtype):
    # z = +-1000 with the "wrong" targets: per-element loss 1000 each, gradient exactly +-1/2
    z = np.array([[1000.0, -1000.0]], dtype=dtype)
    y = np.array([[0.0, 1.0]], dtype=dtype)
    bce = BinaryCrossentropy(from_logits=True)
    assert bce.forward(z, y) == pytest.approx(1000.0, rel=1e-6)
    g = bce.backward()
    assert g.dtype == dtype
    np.testing.assert_array_equal(g, [[0.5, -0.5]])


# -- when the model fuses, and that it says so ------------------------------------------------
def test_fusion_is_chosen_only_for_the_librarys_own_sigmoid_dense_and_bce():
    m = chain()
    m.compile("adam", "binary_crossentropy")
    piece = speed.training_pieces(m)[1]
    assert m.fused and piece.logits and piece.dx and piece.layer is m.chain[-1]
    assert m.training_loss.from_logits and m.loss.from_logits is False
    assert "from_logits=True" in summary_text(m)

    class MySigmoid(Sigmoid):
        pass

    class MyBCE(BinaryCrossentropy):
        pass

    class MyDense(Dense):
        def backward(self, dy):
            return super().backward(dy)

    not_fused = {
        "switched off": (chain(), "binary_crossentropy", dict(fuse_sigmoid_bce=False)),
        "own sigmoid": (chain(last_activation=MySigmoid()), "binary_crossentropy", {}),
        "own loss": (chain(), MyBCE(), {}),
        "own dense": (chain(last_cls=MyDense), "binary_crossentropy", {}),
        "mse": (chain(), "mse", {}),
        "penalty on the sigmoid": (chain(penalty_on_last=True), "binary_crossentropy", {}),
        "relu last": (chain(last_activation="relu"), "binary_crossentropy", {}),
    }
    for why, (m, loss, kw) in not_fused.items():
        m.compile("adam", loss, **kw)
        assert not m.fused, why
        assert speed.training_pieces(m) == {}, why
        assert m.training_loss is m.loss, why
        assert "from_logits=True" not in summary_text(m), why


def test_compile_switches_must_be_booleans():
    m = chain()
    with pytest.raises(TypeError, match="fuse_sigmoid_bce must be True or False"):
        m.compile("adam", "binary_crossentropy", fuse_sigmoid_bce="no")
    with pytest.raises(TypeError, match="pack_parameters must be True or False"):
        m.compile("adam", "binary_crossentropy", pack_parameters=1)


# -- the optimisations give the plain numbers ---------------------------------------------------
@pytest.mark.parametrize("penalty_on_last", [False, True])
def test_fused_gradients_equal_the_plain_chain(penalty_on_last):
    """Loss and every gradient in float64: loss on logits == Sigmoid.backward(BCE.backward())."""
    x = np.random.default_rng(0).uniform(0.05, 0.95, (6, 12))
    fast, plain = chain(penalty_on_last=penalty_on_last, dtype="float64"), \
        chain(penalty_on_last=penalty_on_last, dtype="float64")
    fast.compile("sgd", "binary_crossentropy")
    plain.compile("sgd", "binary_crossentropy", fuse_sigmoid_bce=False)
    assert fast.fused is (not penalty_on_last) and not plain.fused
    loss_fast, g_fast = fast.compute_gradients(x, x)
    loss_plain, g_plain = plain.compute_gradients(x, x)
    assert loss_fast == pytest.approx(loss_plain, rel=1e-12)
    assert len(g_fast) == len(g_plain) == 4
    for a, b in zip(g_fast.values(), g_plain.values()):     # same layer order, own names
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("fuse, pack", [(False, False), (True, False), (False, True)])
def test_every_switch_gives_the_same_training_in_float32(fuse, pack):
    """Three epochs of Adam: each optimisation off gives the default's losses and weights to
    float32 rounding."""
    runs = []
    for kw in ({}, dict(fuse_sigmoid_bce=fuse, pack_parameters=pack)):
        m = chain()
        m.compile(Adam(), "binary_crossentropy", **kw)
        h = m.fit(X, X, epochs=3, batch_size=8, seed=0, verbose=0).history["loss"]
        runs.append((h, m.get_weights()))
    (h0, w0), (h1, w1) = runs
    np.testing.assert_allclose(h0, h1, rtol=2e-5)
    for a, b in zip(w0, w1):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_unpacked_optimizer_state_is_keyed_by_parameter_path():
    m = chain()
    m.compile(Adam(), "binary_crossentropy", pack_parameters=False)
    m.train_on_batch(X[:8], X[:8])
    names = [l.name for l in m.layers]
    assert sorted(m.optimizer.momentums) == sorted(f"{n}/{k}" for n in names for k in ("kernel", "bias"))
    m2 = chain()
    m2.compile(Adam(), "binary_crossentropy")
    m2.train_on_batch(X[:8], X[:8])
    assert list(m2.optimizer.momentums) == ["packed/*"]


# -- your own pieces run --------------------------------------------------------------------------
def test_a_users_sigmoid_subclass_runs_its_backward_at_every_step():
    class CountingSigmoid(Sigmoid):
        calls = 0

        def backward(self, dy):
            CountingSigmoid.calls += 1
            return super().backward(dy)

    m = chain(last_activation=CountingSigmoid())
    m.compile("adam", "binary_crossentropy")
    assert not m.fused
    m.fit(X, X, epochs=2, batch_size=10, verbose=0)       # 7 batches an epoch (6 of 10, 1 of 4)
    assert CountingSigmoid.calls == 14 == m.optimizer.iterations


class RebindingDense(Dense):
    """The textbook's backward: new arrays assigned into grads, nothing written in place."""

    def backward(self, dy):
        dz = self.activation.backward(dy)
        self.grads["kernel"] = self._x.T @ dz
        self.grads["bias"] = dz.sum(axis=0)
        return dz @ self.params["kernel"].T


class OwnDictsDense(Dense):
    """Builds brand-new params/grads dicts (as a from-scratch layer might)."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads = {k: v.copy() for k, v in self.grads.items()}
        self.params = dict(self.params)
        return dx


@pytest.mark.parametrize("cls", [RebindingDense, OwnDictsDense])
@pytest.mark.parametrize("pack", [True, False])
def test_a_layer_that_rebinds_its_arrays_trains_like_the_librarys(cls, pack):
    """20 steps of fit from one seed: the same weights as the library's Dense."""
    weights = []
    for layer_cls in (Dense, cls):
        m = Sequential([layer_cls(5, activation="relu", input_dim=12, seed=1),
                        layer_cls(12, activation="sigmoid", seed=2)])
        m.compile(Adam(), "binary_crossentropy", pack_parameters=pack)
        start = m.get_weights()
        m.fit(X[:40], X[:40], epochs=10, batch_size=20, seed=0, verbose=0)
        assert m.optimizer.iterations == 20
        weights.append(m.get_weights())
        assert all(np.abs(a - b).max() > 1e-3 for a, b in zip(m.get_weights(), start))  # it moved
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_a_rebound_gradient_of_the_wrong_shape_is_named():
    class Transposed(Dense):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["kernel"] = self.grads["kernel"].T.copy()
            return dx

    m = Sequential([Transposed(5, activation="relu", input_dim=12, name="enc"),
                    Dense(12, activation="sigmoid")])
    m.compile("adam", "binary_crossentropy")
    with pytest.raises(ValueError, match=r"enc.*kernel.*\(5, 12\).*expected shape \(12, 5\)"):
        m.fit(X, X, epochs=1, verbose=0)


@pytest.mark.parametrize("bad, words", [
    (lambda dx: None, ["got None", "return dx"]),
    (lambda dx: dx.ravel(), ["expected shape (8, 5), got shape (40,)", "raveled"]),
    (lambda dx: dx[0], ["got shape (5,)"]),
])
def test_a_backward_that_hands_back_the_wrong_thing_is_named_during_fit(bad, words):
    class Wrong(Dense):
        def backward(self, dy):
            return bad(super().backward(dy))

    m = Sequential([Dense(5, activation="relu", input_dim=12),
                    Wrong(12, activation="sigmoid", name="decoder")])
    m.compile("adam", "binary_crossentropy")
    with pytest.raises(ValueError) as e:
        m.fit(X[:8], X[:8], batch_size=8, verbose=0)
    assert "decoder" in str(e.value)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_layers_shared_with_a_model_trained_in_between_keep_training():
    """The encoder packs the shared layer into its own buffer; the autoencoder takes it back."""
    from scratchae.layers import Input
    from scratchae.models import Model
    inp = Input(shape=(12,))
    enc_layer = Dense(5, activation="relu", seed=1)
    code = enc_layer(inp)
    auto = Model(inp, Dense(12, activation="sigmoid", seed=2)(code))
    enc = Model(inp, code)
    auto.compile(SGD(0.5), "binary_crossentropy")
    enc.compile(SGD(0.5), "mse")
    auto.train_on_batch(X[:8], X[:8])
    enc.train_on_batch(X[:8], np.zeros((8, 5), np.float32))       # moves enc_layer's arrays
    before = enc_layer.get_weights()
    auto.train_on_batch(X[:8], X[:8])
    after = enc_layer.get_weights()
    assert np.abs(after[0] - before[0]).max() > 0                   # the update reached it
    np.testing.assert_array_equal(enc.get_weights()[0], after[0])   # one layer, one value


# -- the data's gradient: not computed by the training step ------------------------------------
X12 = np.random.default_rng(3).uniform(0, 1, (16, 12))


def test_backward_parameters_known_answer_and_finite_differences():
    # by hand: x = [[1, 2]], kernel = [[1, -1], [0.5, 0]], bias 0, linear: z = [[2, -1]]
    # dL/dz = dy = [[1, 3]]  ->  dkernel = x^T dy = [[1, 3], [2, 6]], dbias = [1, 3]
    layer = Dense(2, input_dim=2, dtype="float64")
    layer.set_weights([np.array([[1.0, -1.0], [0.5, 0.0]]), np.zeros(2)])
    layer.forward(np.array([[1.0, 2.0]]))
    assert ParametersOnly(layer).backward(np.array([[1.0, 3.0]])) is None
    np.testing.assert_array_equal(layer.grads["kernel"], [[1.0, 3.0], [2.0, 6.0]])
    np.testing.assert_array_equal(layer.grads["bias"], [1.0, 3.0])
    # float64 central differences of L = sum(y * w) for a relu layer with an l1 penalty
    from scratchae.gradcheck.core import numerical_gradient, rel_error
    rng = np.random.default_rng(0)
    layer = Dense(4, activation="relu", input_dim=3, dtype="float64", seed=0, activity_regularizer=l1(0.1))
    x, w = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))

    def loss():
        return float((layer.forward(x) * w).sum()) + layer.penalty

    loss()
    layer.zero_grads()
    ParametersOnly(layer).backward(w)
    analytic = {k: g.copy() for k, g in layer.grads.items()}
    for key in ("kernel", "bias"):
        numeric = numerical_gradient(loss, layer.params[key])
        assert rel_error(analytic[key], numeric).max() < 1e-7, key


@pytest.mark.parametrize("fuse", [True, False])
def test_the_training_step_skips_the_datas_gradient_and_nothing_else(fuse):
    model = chain(dtype="float64")
    model.compile(Adam(0.01), "binary_crossentropy", fuse_sigmoid_bce=fuse)
    speed.training_forward_loss(model, X12, X12)
    dx = speed.training_backward(model)                                    # the default: dL/dx too
    assert dx.shape == X12.shape
    full = {k: g.copy() for k, g in model.compute_gradients(X12, X12)[1].items()}
    speed.training_forward_loss(model, X12, X12, input_gradient=False)
    assert not model._pieces[0].dx and not model._pieces[0].logits
    model.zero_grads()
    assert speed.training_backward(model) is None
    for layer in model.chain:
        for key, g in layer.grads.items():
            assert g.tobytes() == full[f"{layer.name}/{key}"].tobytes()


def test_a_first_layer_with_its_own_backward_runs_it_whole():
    calls = []

    class MyDense(Dense):
        def backward(self, dy):
            dx = super().backward(dy)
            calls.append(dx.shape)
            return dx

    mine = Sequential([MyDense(5, activation="relu", input_dim=12, seed=1),
                       Dense(12, activation="sigmoid", seed=2)])
    plain = chain()
    for m in (mine, plain):
        m.compile(Adam(0.01), "binary_crossentropy")
    x = X12.astype(np.float32)
    for _ in range(3):
        assert mine.train_step(x, x) == plain.train_step(x, x)
    assert calls == [(16, 12)] * 3                      # its dL/dx computed, every step
    for a, b in zip(mine.get_weights(), plain.get_weights()):
        assert a.tobytes() == b.tobytes()               # and the same training, bit for bit


def test_writing_gradients_into_the_zeroed_buffer_trains_bit_for_bit_as_adding_them():
    """The fast step's write (np.matmul(..., out=)) after zeroing equals the contract's +=."""
    x = X12.astype(np.float32)
    a, b = chain(), chain()
    for m in (a, b):
        m.compile(Adam(0.01), "binary_crossentropy")
    writing = speed.training_pieces(a, input_gradient=False, write=True)
    adding = speed.training_pieces(b, input_gradient=False, write=False)
    assert all(p.write for p in writing.values()) and not any(p.write for p in adding.values())
    loss_a, loss_b = speed.training_loss(a), speed.training_loss(b)
    for _ in range(5):
        assert speed.fast_step(a, writing, loss_a, x, x) == speed.fast_step(b, adding, loss_b, x, x)
    for u, v in zip(a.get_weights(), b.get_weights()):
        assert u.tobytes() == v.tobytes()


def test_a_kernel_held_by_two_layers_is_added_to_never_written():
    first = Dense(6, activation="relu", input_dim=6, seed=1, dtype="float64")
    second = Dense(6, activation="sigmoid", seed=2, dtype="float64")
    m = Sequential([first, second])
    second.params["kernel"] = first.params["kernel"]              # tied: one array, two layers
    m.compile("sgd", "binary_crossentropy")
    pieces = speed.training_pieces(m, input_gradient=False, write=True)
    assert not any(p.write for p in pieces.values())
    x = np.random.default_rng(5).uniform(0, 1, (4, 6))
    _, grads = m.compute_gradients(x, x)
    assert [k.split("/")[1] for k in grads] == ["kernel", "bias", "bias"]   # the kernel once
    w = first.params["kernel"]

    def loss():
        return m.compute_loss(x, x)

    from scratchae.gradcheck.core import numerical_gradient
    numeric = numerical_gradient(loss, w)
    kernel = [g for k, g in grads.items() if k.endswith("/kernel")]
    assert len(kernel) == 1
    np.testing.assert_allclose(kernel[0], numeric, rtol=1e-6, atol=1e-9)   # the sum of both paths

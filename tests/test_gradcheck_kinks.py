"""Zero false alarms: correct pieces pass over generated shapes and values, including inputs
placed exactly on, and within the step size of, ReLU's and L1's kink at 0."""
import numpy as np
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from scratchae import autoencoders
from scratchae.activations import ReLU, Sigmoid
from scratchae.gradcheck import check_function, check_layer, check_loss, check_model
from scratchae.layers import Dense
from scratchae.losses import BinaryCrossentropy
from scratchae.regularizers import L1, l1

H = 1e-5
# values on the kink, within the step of it, and ordinary ones
NEAR_KINK = st.sampled_from([0.0, -0.0, H / 3, -H / 3, H, -H, 0.9 * H, 2 * H])
VALUE = st.one_of(NEAR_KINK, st.floats(-3, 3))
SHAPES = st.tuples(st.integers(1, 4), st.integers(1, 6))


@given(arrays(np.float64, SHAPES, elements=VALUE))
def test_relu_never_a_false_alarm(x):
    rep = check_layer(ReLU(), x)
    assert rep.ok, str(rep)
    near = np.abs(x) <= H
    if near.any():
        assert rep.rows[0].kinks >= 1          # and it says so


@given(arrays(np.float64, SHAPES, elements=VALUE), st.sampled_from([1e-5, 0.1, 3.0]))
def test_l1_never_a_false_alarm(h, factor):
    rep = check_layer(L1(factor), h)
    assert rep.ok, str(rep)


@given(arrays(np.float64, SHAPES, elements=st.floats(-30, 30)))
def test_sigmoid_never_a_false_alarm(x):
    assert check_layer(Sigmoid(), x).ok


def no_false_alarm(rep) -> bool:
    """Right gradients: every row passes, or compared nothing at all (every difference of that
    tensor straddled a kink), which the checker fails as 'nothing compared', never as wrong."""
    return all(r.ok or (r.checked == 0 and "nothing compared" in (r.problem or "")) for r in rep.all_rows())


@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**16),
       st.sampled_from(["relu", "sigmoid", None]), st.booleans())
def test_dense_never_a_false_alarm(n, d_in, units, seed, act, reg):
    rng = np.random.default_rng(seed)
    layer = Dense(units, activation=act, input_dim=d_in, seed=seed,
                  activity_regularizer=l1(0.01) if reg else None)
    x = rng.standard_normal((n, d_in))
    x[rng.random(x.shape) < 0.3] = 0.0              # exact zeros in the input
    # put some pre-activations exactly on the kink: choose a bias that zeroes z[0]
    layer.params["bias"][...] = -(x[0] @ layer.params["kernel"]).astype(layer.params["bias"].dtype)
    rep = check_layer(layer, x)
    assert no_false_alarm(rep), str(rep)


@given(arrays(np.float64, SHAPES, elements=st.floats(0.02, 0.98)), st.integers(0, 2**16))
def test_bce_never_a_false_alarm(p, seed):
    y = np.random.default_rng(seed).integers(0, 2, p.shape).astype(np.float64)
    assert check_loss(BinaryCrossentropy(), p, y).ok
    assert check_loss(BinaryCrossentropy(from_logits=True), (p - 0.5) * 20, y).ok


@given(st.integers(0, 2**16))
def test_small_models_never_a_false_alarm(seed):
    rng = np.random.default_rng(seed)
    for ae in (autoencoders.deep(6, 3, input_dim=8, seed=seed),
               autoencoders.sparse(3, l1=0.05, input_dim=8, seed=seed)):
        x = rng.random((3, 8)).astype(np.float32)
        x[0, :2] = 0.0
        rep = check_model(ae.model, x, x)
        assert no_false_alarm(rep), str(rep)


def test_relu_exactly_on_kink_is_reported_and_resampled():
    x = np.array([[0.0, H / 2, -H / 2, 1.0, -1.0]])
    rep = check_layer(ReLU(), x)
    assert rep.ok and rep.rows[0].kinks == 3
    assert "straddled a kink" in str(rep)


def test_function_with_kinks_callback():
    x = np.array([0.0, H / 4, 2.0, -1.0])
    rep = check_function(lambda x: np.abs(x).sum(), lambda x: np.sign(x), x, kinks=np.sign)
    assert rep.ok and rep.rows[0].kinks >= 1


def test_sampled_tensor_picks_another_element_at_a_kink():
    layer = Dense(40, activation="relu", input_dim=30, seed=0, dtype="float64")
    x = np.zeros((2, 30))
    x[:, 0] = 1.0
    layer.params["bias"][...] = -layer.params["kernel"][0]     # every z exactly 0
    rep = check_layer(layer, x, k=5)
    assert rep.ok, str(rep)
    kernel = rep.rows[0]
    assert kernel.how == "sample" and kernel.checked == 5


# -- kinks through the layer contract: kink_signs() and kink_at_zero ------------------------------
from scratchae.layers import Layer  # noqa: E402


class ScaledReLU(Layer):
    """y = max(x * w, 0) elementwise, a user layer (not Dense) whose kink it says itself."""

    def build(self, shape):
        if not self.built:
            self.params = {"w": np.linspace(0.5, 1.5, shape[0])}
            self.grads = {"w": np.zeros(shape[0])}
        super().build(shape)

    def forward(self, x, training=False):
        self._x, self._z = x, x * self.params["w"]
        return np.maximum(self._z, 0)

    def backward(self, dy):
        dz = dy * (self._z > 0)
        self.grads["w"] += (dz * self._x).sum(axis=0)
        return dz * self.params["w"]

    def kink_signs(self):
        return [np.sign(self._z)]


class SilentScaledReLU(ScaledReLU):
    def kink_signs(self):
        return []                                   # the default: no kink said


def test_a_user_layer_says_its_kinks_and_inputs_on_them_are_moved_off():
    """x exactly on the kink: the checker learns of it from kink_signs(), moves those inputs
    off it and checks again (a second backward: right only because the grads are zeroed before
    each one). Without kink_signs the same correct layer is a false alarm."""
    x = np.array([[0.0, 1.0, -2.0, 0.0], [0.5, 0.0, 1.5, -0.7]])
    layer = ScaledReLU(name="srelu")
    layer.build((4,))
    rep = check_layer(layer, x)
    assert rep.ok and rep.rows[-1].tensor == "x" and rep.rows[-1].kinks == 3, str(rep)
    silent = SilentScaledReLU(name="srelu")
    silent.build((4,))
    assert not check_layer(silent, x).ok


def test_a_bare_piece_is_probed_through_kink_at_zero():
    """A piece that is not a Layer: its kink is known from `kink_at_zero` (ReLU's and L1's
    class attribute), not from its class name."""
    x = np.array([[0.0, H / 2, -H / 2, 1.0, -1.0]])

    class Rectifier(ReLU):                  # no 'relu' in the name: found by the attribute
        pass

    assert Rectifier.kink_at_zero and check_layer(Rectifier(), x).rows[0].kinks == 3

    class Plain(ReLU):
        kink_at_zero = False                # says no kink: the differences at 0 are a false alarm

    assert not check_layer(Plain(), x).ok
    assert check_layer(L1(0.1), x, kink_convention=True).ok

"""The checker on the layer contract alone: layers of the user's own (not Dense) with parameters
and loss terms, layers called on several inputs, models with several inputs or outputs, a
kernel two layers share, stochastic layers checked exactly by replaying their noise; and
`summary()` of such models. Every passing check here has a twin with one deliberate mistake
that the same check FAILs, naming the tensor."""
import numpy as np
import pytest

import scratchae.gradcheck.problems as problems
from scratchae.exercises.broken import DoubleBiasDense
from scratchae.gradcheck import check_layer, check_model
from scratchae.layers import Dense, Input, Layer
from scratchae.models import Model, Sequential

RNG = np.random.default_rng(0)


# -- layers written here, against the contract only ---------------------------------------------
class Multiply(Layer):
    """y = a * b, elementwise, for a layer called on [a, b]."""

    def forward(self, inputs, training=False):
        self._a, self._b = inputs
        return self._a * self._b

    def backward(self, dy):
        return [dy * self._b, dy * self._a]

    def compute_output_shape(self, shapes):
        return tuple(shapes[0])


class WrongMultiply(Multiply):
    """dL/db taken as dy * b (the other input's factor copied): wrong for inputs[1] only."""

    def backward(self, dy):
        return [dy * self._b, dy * self._b]


class OneGradientMultiply(Multiply):
    """Hands back one array for two inputs."""

    def backward(self, dy):
        return dy * self._b


class WeightedSum(Layer):
    """y = a * wa + b * wb, elementwise, with parameters wa and wb of shape (D,)."""

    def build(self, shapes):
        if not self.built:
            d = shapes[0][0]
            self.params = {"wa": np.linspace(0.5, 1.5, d), "wb": np.linspace(-1.0, 2.0, d)}
            self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        super().build(shapes)

    def forward(self, inputs, training=False):
        self._a, self._b = inputs
        return self._a * self.params["wa"] + self._b * self.params["wb"]

    def backward(self, dy):
        self.grads["wa"] += (dy * self._a).sum(axis=0)
        self.grads["wb"] += (dy * self._b).sum(axis=0)
        return [dy * self.params["wa"], dy * self.params["wb"]]

    def compute_output_shape(self, shapes):
        return tuple(shapes[0])


class Scale(Layer):
    """y = x * w + b elementwise: a user layer with parameters, not a Dense."""

    def build(self, shape):
        if not self.built:
            d = shape[0]
            self.params = {"w": np.linspace(0.5, 2.0, d), "b": np.linspace(-0.3, 0.3, d)}
            self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        super().build(shape)

    def forward(self, x, training=False):
        self._x = x
        return x * self.params["w"] + self.params["b"]

    def backward(self, dy):
        self.grads["w"] += (dy * self._x).sum(axis=0)
        self.grads["b"] += dy.sum(axis=0)
        return dy * self.params["w"]


class MeanBiasScale(Scale):
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"] /= len(dy)
        return dx


class Energy(Layer):
    """y = x, with a loss term of its own: c * sum(x^2), whose gradient its backward adds."""

    c = 0.3

    def forward(self, x, training=False):
        self._x = x
        return x

    def loss_terms(self):
        return {"energy": self.c * float(np.sum(self._x ** 2))}

    def backward(self, dy):
        return dy + 2 * self.c * self._x


class ForgetfulEnergy(Energy):
    def backward(self, dy):
        return dy                                    # the loss term's gradient left out


class Dropout(Layer):
    """y = x * mask / (1 - rate) in training, mask drawn from self.rng; the identity otherwise."""

    stochastic = True

    def __init__(self, rate=0.5, **kw):
        super().__init__(**kw)
        self.rate = rate
        self._mask = None

    def forward(self, x, training=False):
        if not training:
            self._mask = None
            return x
        self._mask = self.rng.random(x.shape) >= self.rate
        return x * self._mask / (1 - self.rate)

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask / (1 - self.rate)


class NoMaskDropout(Dropout):
    """Scales dy but forgets the mask: right only if no unit were dropped."""

    def backward(self, dy):
        return dy / (1 - self.rate)


class HiddenNoiseDropout(Dropout):
    """Draws from a generator of its own, which the checker does not know about."""

    stochastic = False

    def __init__(self, rate=0.5, **kw):
        super().__init__(rate, **kw)
        self.noise = np.random.default_rng(5)

    def forward(self, x, training=False):
        self._mask = self.noise.random(x.shape) >= self.rate
        return x * self._mask / (1 - self.rate)


class TiedTranspose(Layer):
    """y = x . K^T + c, K the kernel array of an encoder Dense (held, not copied): a kernel two
    layers share. Backward adds its share of dL/dK into the shared gradient."""

    def __init__(self, encoder, **kw):
        super().__init__(**kw)
        self.encoder = encoder

    def build(self, shape):
        if not self.built:
            k = self.encoder.params["kernel"]
            self.params = {"kernel": k, "bias": np.zeros(k.shape[0], k.dtype)}
            self.grads = {"kernel": self.encoder.grads["kernel"], "bias": np.zeros(k.shape[0], k.dtype)}
        super().build(shape)

    def compute_output_shape(self, shape):
        return (self.params["kernel"].shape[0],)

    def forward(self, x, training=False):
        self._x = x
        return x @ self.params["kernel"].T + self.params["bias"]

    def backward(self, dy):
        self.grads["kernel"] += dy.T @ self._x
        self.grads["bias"] += dy.sum(axis=0)
        return dy @ self.params["kernel"]


class ForgetfulTied(TiedTranspose):
    def backward(self, dy):
        self.grads["bias"] += dy.sum(axis=0)          # its share of the kernel's gradient lost
        return dy @ self.params["kernel"]


def rows_by_tensor(rep):
    return {r.tensor: r for r in rep.rows}


# -- a user's Layer (not a Dense) with parameters ---------------------------------------------------
def test_a_user_layer_with_parameters_is_checked_and_its_mistake_named():
    layer = Scale(name="scale")
    layer.build((4,))
    x = RNG.standard_normal((5, 4))
    rep = check_layer(layer, x)
    assert rep.ok and set(rows_by_tensor(rep)) == {"w", "b", "x"}, str(rep)
    assert rep.worst.error < 1e-7
    bad = MeanBiasScale(name="scale")
    bad.build((4,))
    rep = check_layer(bad, x)
    assert not rep.ok and rep.located.tensor == "b", str(rep)
    assert rows_by_tensor(rep)["w"].ok and rows_by_tensor(rep)["x"].ok
    assert "a mean where a sum belongs" in rep.located.hint.text          # the layer's sum over N


def test_loss_terms_are_part_of_the_checked_loss():
    x = RNG.standard_normal((3, 4))
    assert check_layer(Energy(name="e"), x).ok
    rep = check_layer(ForgetfulEnergy(name="e"), x)       # only caught if L includes the term
    assert not rep.ok and rep.located.tensor == "x", str(rep)


# -- a layer called on two inputs ------------------------------------------------------------------
def test_two_input_layer_checks_each_input():
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    rep = check_layer(Multiply(name="mul"), [a, b])
    assert rep.ok and [r.tensor for r in rep.rows] == ["inputs[0]", "inputs[1]"], str(rep)
    assert "inputs (3, 4), (3, 4)" in rep.title
    assert rep.worst.error < 1e-7


def test_wrong_backward_of_a_two_input_layer_fails_naming_inputs_1():
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    rep = check_layer(WrongMultiply(name="mul"), [a, b])
    rows = rows_by_tensor(rep)
    assert not rep.ok and rows["inputs[0]"].ok and not rows["inputs[1]"].ok, str(rep)
    assert (rep.located.layer, rep.located.tensor) == ("mul", "inputs[1]")
    assert "First wrong piece: mul, tensor inputs[1]" in str(rep)


def test_one_gradient_for_two_inputs_is_a_structure_failure():
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3))
    rep = check_layer(OneGradientMultiply(name="mul"), [a, b])
    assert not rep.ok and all(r.flag == "STRUCTURE" for r in rep.rows), str(rep)
    assert "list of 2 gradients" in rep.rows[0].hint.text


def test_two_input_layer_with_parameters():
    a, b = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    layer = WeightedSum(name="ws")
    layer.build([(3,), (3,)])
    rep = check_layer(layer, [a, b])
    assert rep.ok and [r.tensor for r in rep.rows] == ["wa", "wb", "inputs[0]", "inputs[1]"], str(rep)

    class SwappedWeightedSum(WeightedSum):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["wb"][...] = (dy * self._a).sum(axis=0)          # a where b belongs
            return dx

    bad = SwappedWeightedSum(name="ws")
    bad.build([(3,), (3,)])
    rep = check_layer(bad, [a, b])
    assert not rep.ok and [r.tensor for r in rep.failures] == ["wb"], str(rep)


# -- models with several inputs or outputs -----------------------------------------------------------
def two_heads(head_cls=Dense):
    inp = Input(shape=(4,))
    h = Dense(3, activation="sigmoid", name="enc", seed=0)(inp)
    mu = Dense(2, name="mu", seed=1)(h)
    lv = head_cls(2, name="lv", seed=2)(h)
    return Model(inp, [mu, lv], name="two_heads")


def test_two_output_model_is_checked_on_both_outputs():
    x = RNG.standard_normal((5, 4))
    rep = check_model(two_heads(), x)
    assert rep.ok, str(rep)
    assert [r.name for r in rep.rows] == ["enc/kernel", "enc/bias", "mu/kernel", "mu/bias",
                                         "lv/kernel", "lv/bias"]
    assert any("sum_k sum(output_k * dy_k)" in n and "2 outputs" in n for n in rep.notes)
    # a mistake in the second output's layer only: caught, so the second output's dy counts
    rep = check_model(two_heads(DoubleBiasDense), x, localize="always")
    assert not rep.ok and (rep.located.layer, rep.located.tensor) == ("lv", "bias"), str(rep)
    assert [r.name for r in rep.rows if not r.ok] == ["lv/bias"]


def test_two_output_model_refuses_targets_and_checks_given_dy():
    m = two_heads()
    x = RNG.standard_normal((5, 4))
    m.compile(loss="mse")
    with pytest.raises(ValueError, match="2 outputs and a loss takes one"):
        check_model(m, x, x)
    dy = [RNG.standard_normal((5, 2)), RNG.standard_normal((5, 2))]
    assert check_model(m, x, dy=dy).ok
    with pytest.raises(ValueError, match="outputs' shapes"):
        check_model(m, x, dy=[np.ones((5, 2)), np.ones((5, 3))])


def two_inputs(mul_cls=Multiply):
    ia, ib = Input(shape=(4,)), Input(shape=(3,))
    pa = Dense(2, activation="relu", name="pa", seed=0)(ia)
    pb = Dense(2, name="pb", seed=1)(ib)
    return Model([ia, ib], mul_cls(name="mul")([pa, pb]), name="two_in")


def test_two_input_model_and_its_wrong_layer_named():
    x = [RNG.standard_normal((5, 4)), RNG.standard_normal((5, 3))]
    rep = check_model(two_inputs(), x)
    assert rep.ok and {r.layer for r in rep.rows} == {"pa", "pb"}, str(rep)
    rep = check_model(two_inputs(WrongMultiply), x)
    assert not rep.ok, str(rep)
    assert (rep.located.layer, rep.located.tensor) == ("mul", "inputs[1]"), str(rep)
    assert {r.layer for r in rep.rows if not r.ok} == {"pb"}       # the layer feeding inputs[1]
    with pytest.raises(ValueError, match="2 inputs: give x as a list"):
        check_model(two_inputs(), x[0])


def test_a_compiled_one_output_model_is_still_checked_on_its_loss():
    m = Sequential([Input(shape=(3,)), Scale(name="scale"), Dense(3, activation="sigmoid", seed=0)])
    m.compile(loss="binary_crossentropy")
    x = RNG.random((4, 3))
    rep = check_model(m, x, x)
    assert rep.ok and "loss + penalties" in rep.title, str(rep)
    assert [r.name for r in rep.rows][:2] == ["scale/w", "scale/b"]


# -- a kernel two layers share -----------------------------------------------------------------
def tied(cls=TiedTranspose, dtype="float64"):
    inp = Input(shape=(4,), dtype=dtype)
    enc = Dense(3, activation="sigmoid", name="enc", seed=0, dtype=dtype)
    dec = cls(enc, name="dec", dtype=dtype)
    return Model(inp, dec(enc(inp)), name="tied")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_shared_kernel_is_checked_once_against_both_paths(dtype):
    m = tied(dtype=dtype)
    m.compile(loss="mse")
    x = RNG.random((5, 4))
    rep = check_model(m, x, x)
    assert rep.ok, str(rep)
    assert [r.name for r in rep.rows] == ["enc/kernel", "enc/bias", "dec/bias"]
    rep = check_model(tied(ForgetfulTied, dtype), x)                    # one path's share lost
    assert [r.name for r in rep.rows if not r.ok] == ["enc/kernel"], str(rep)


# -- stochastic layers: the noise replayed ---------------------------------------------------------
def test_a_stochastic_layer_is_checked_exactly_with_replayed_noise():
    x = RNG.standard_normal((6, 8))
    layer = Dropout(0.5, name="drop")
    rep = check_layer(layer, x)
    assert rep.ok and rep.worst.error < 1e-9, str(rep)
    assert any("replayed" in n for n in rep.notes)
    assert layer.rng is None                        # the checker's generator went to its copy


def test_the_noise_is_drawn_in_the_check():
    """The check runs the layer with training=True, so units really are dropped: a backward
    that ignores the mask FAILs, with the mask hint (it is non-zero where dropped units give 0)."""
    x = RNG.standard_normal((6, 8))
    rep = check_layer(NoMaskDropout(0.5, name="drop"), x)
    assert not rep.ok and rep.located.tensor == "x", str(rep)
    assert rep.located.hint.kind == "mask"


def test_without_replay_the_same_check_fails(monkeypatch):
    x = RNG.standard_normal((6, 8))
    monkeypatch.setattr(problems, "_REPLAY_NOISE", False)
    rep = check_layer(Dropout(0.5, name="drop"), x)
    assert not rep.ok and "forward is not deterministic" in str(rep), str(rep)
    assert not any("replayed" in n for n in rep.notes)


def test_noise_from_a_generator_the_checker_does_not_know_fails():
    rep = check_layer(HiddenNoiseDropout(0.5, name="drop"), RNG.standard_normal((6, 8)))
    assert not rep.ok and rep.located.hint.kind == "nondeterministic", str(rep)
    assert "stochastic = True" in rep.located.hint.text


def test_the_users_generator_is_left_where_it_was():
    layer = Dropout(0.5, name="drop")
    layer.rng = np.random.default_rng(3)
    before = layer.rng.bit_generator.state
    assert check_layer(layer, RNG.standard_normal((4, 5))).ok
    assert layer.rng.bit_generator.state == before


def noisy_model(drop_cls=Dropout):
    m = Sequential([Dense(6, activation="relu", input_dim=5, seed=0, name="d1"),
                    drop_cls(0.4, name="drop"),
                    Dense(5, activation="sigmoid", seed=1, name="d2")])
    m.compile(loss="binary_crossentropy")
    return m


def test_a_model_with_a_stochastic_layer_is_checked_exactly(monkeypatch):
    x = RNG.random((6, 5))
    m = noisy_model()
    state = m.rng.bit_generator.state
    rep = check_model(m, x, x)
    assert rep.ok and rep.worst.error < 1e-6, str(rep)
    assert any("drop stochastic" in n for n in rep.notes)
    assert m.rng.bit_generator.state == state                      # the model's own rng untouched
    rep = check_model(noisy_model(NoMaskDropout), x, x, localize="always")
    assert not rep.ok and (rep.located.layer, rep.located.tensor) == ("drop", "x"), str(rep)
    monkeypatch.setattr(problems, "_REPLAY_NOISE", False)
    rep = check_model(noisy_model(), x, x)
    assert not rep.ok and "forward is not deterministic" in str(rep), str(rep)


# -- summary() of these models ------------------------------------------------------------------
def summary_text(model):
    lines = []
    model.summary(print_fn=lines.append)
    return lines[0]


def row_of(text, name):
    return next(l for l in text.splitlines() if l.strip().startswith(name + " "))


def test_summary_prints_a_user_layer_and_its_notes_hook():
    m = Sequential([Input(shape=(3,)), Scale(name="scale"), Dense(2, name="out")])
    text = summary_text(m)
    row = row_of(text, "scale")
    assert "(Scale)" in row and "(None, 3)" in row and row.rstrip().endswith(" 6")
    assert "Connected to" not in text                       # a chain: Keras's plain table

    class Noted(Scale):
        def summary_notes(self):
            return "elementwise"

    text = summary_text(Sequential([Input(shape=(3,)), Noted(name="noted")]))
    assert "elementwise" in row_of(text, "noted")


def test_summary_of_a_graph_says_what_each_layer_reads():
    text = summary_text(two_inputs())
    assert "Connected to" in text.splitlines()[2]
    assert row_of(text, "mul").rstrip().endswith("pa, pb")
    names = [l.split()[0] for l in text.splitlines() if "(InputLayer)" in l]
    assert row_of(text, "pa").rstrip().endswith(names[0]) and row_of(text, "pb").rstrip().endswith(names[1])
    heads = summary_text(two_heads())
    assert row_of(heads, "mu").rstrip().endswith("enc") and row_of(heads, "lv").rstrip().endswith("enc")


def test_summary_counts_a_shared_kernel_once_in_total():
    m = tied()
    text = summary_text(m)
    assert "shares enc/kernel" in row_of(text, "dec")
    assert row_of(text, "dec").rstrip().endswith(f"{4 * 3 + 4:,}")     # the row: all it holds
    total = 4 * 3 + 3 + 4                                               # kernel once, two biases
    assert m.count_params() == total and f"Total params: {total:,} (" in text

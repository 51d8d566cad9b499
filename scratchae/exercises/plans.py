"""What the grader asks of a submission: the calls of each exercise, drawn afresh for each run.

`plan(piece, rng)` returns the request's parts (`runner.py` says how each kind is run). Every
exercise is asked more than one call of one instance, with other batch sizes and values, so
that a backward that keeps something from its first call (a cached x.T, y (1 - y), a
denominator) fails on the next; Dense's weights move between calls, as an optimizer moves
them. The stability exercises get a call at |z| of several hundred. The kink exercises get
inputs at exactly 0 (where the convention is graded) and within 1e-5 of it (where finite
differences would blur the answer; the exact gradient does not). The "by hand" parts are
fixed cases whose answers are worked out in the comments of `rubric.py`.

Gradients accumulate (the layer contract of `scratchae.layers`): a backward adds into its
grads and the model zeroes them at the start of each step. So the runner zeroes a piece's grads
before each of its backward calls, and Dense gets an `accumulate` part whose grads are filled
with a known array G0 before a call; the model's pieces hold stale gradients before each call,
which the learner's model must zero.

The sampling exercise's forward draws its noise from `self.rng`, which the runner sets before
each call to a fresh generator from a seed the call carries (as a model sets a stochastic
layer's), so the grader replays every eps itself; its `moments` part is one forward of 10,000
rows at four fixed (mu, log_var) pairs, whose draws the grader's moment test reads.

The values are random for each grading run (the grader draws a seed), so no file can carry
answers for them; tests fix the seed.
"""
from __future__ import annotations

import math

import numpy as np

LN3 = math.log(3.0)


def _with_kinks(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x.flat[:3] = [0.0, 3e-6, -4e-6]          # at, and within the step of a finite difference of, 0
    return x


def _piece(name, calls, init=(), init_kw=None):
    return {"name": name, "kind": "piece", "init": list(init), "init_kw": dict(init_kw or {}),
            "calls": calls}


def _call(inputs, dy=None, params=None, role="later"):
    return {"inputs": list(inputs), "dy": dy, "params": params, "role": role}


def _roles(calls, extreme=False):
    calls[0]["role"] = "first"
    if extreme:
        calls[-1]["role"] = "extreme"
    return calls


def _dense(rng):
    calls = []
    for n in (5, 2, 7):
        kernel = rng.uniform(-1, 1, (3, 4))
        calls.append(_call([rng.standard_normal((n, 3))], rng.standard_normal((n, 4)),
                           {"kernel": kernel, "bias": rng.uniform(-0.5, 0.5, 4)}))
    # x (2, 2), kernel (2, 3) (not square, so a transposed product shows), dy (2, 3)
    hand = _call([np.array([[1.0, 2.0], [0.0, -1.0]])], np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]),
                 {"kernel": np.array([[1.0, 0.0, 2.0], [-1.0, 1.0, 0.0]]), "bias": np.array([0.5, -0.5, 0.0])},
                 role="hand")
    # backward adds into grads: the same call twice on one instance, its grads zeroed the first
    # time and filled with G0 (drawn here) the second; a backward that adds leaves G0 plus what
    # it left the first time (whatever its formula), one that writes (=, [...] =, out=) does not
    accumulate = []
    for n in (4, 6):
        x, dy = rng.standard_normal((n, 3)), rng.standard_normal((n, 4))
        params = {"kernel": rng.uniform(-1, 1, (3, 4)), "bias": rng.uniform(-0.5, 0.5, 4)}
        g0 = {"kernel": rng.standard_normal((3, 4)), "bias": rng.standard_normal(4)}
        accumulate.append(_call([x], dy, params, role="zeroed"))
        accumulate.append({**_call([x.copy()], dy.copy(), {k: v.copy() for k, v in params.items()},
                                   role="prefilled"), "grads": g0})
    return [_piece("calls", _roles(calls), (3, 4), {"seed": 0}), _piece("by hand", [hand], (2, 3), {"seed": 0}),
            _piece("accumulate", accumulate, (3, 4), {"seed": 0})]


def _elementwise(rng, kinks=False, extreme=False, scale=1.0):
    shapes = [(4, 5), (2, 3), (6, 2)]
    xs = [scale * rng.standard_normal(s) for s in shapes]
    if kinks:
        xs[0] = _with_kinks(xs[0])
        xs[1].flat[[1, 4]] = 0.0
    if extreme:
        xs[2] = np.array([[-800.0, 800.0], [-300.0, 300.0], [-40.0, 0.5]])
    return _roles([_call([x], rng.standard_normal(x.shape)) for x in xs], extreme)


def _relu(rng):
    hand = _call([np.array([[-1.0, 0.5, 2.0], [3.0, -0.5, -2.0]])], np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
                 role="hand")
    return [_piece("calls", _elementwise(rng, kinks=True)), _piece("by hand", [hand])]


def _sigmoid(rng):
    hand = _call([np.array([[0.0, LN3], [-LN3, 0.0]])], np.array([[1.0, 2.0], [4.0, -2.0]]), role="hand")
    return [_piece("calls", _elementwise(rng, extreme=True, scale=2.0)), _piece("by hand", [hand])]


def _pairs(rng, lo=0.0, hi=1.0):
    return [_call([rng.uniform(0.05, 0.95, s), rng.uniform(lo, hi, s)]) for s in [(4, 5), (2, 3), (6, 4)]]


def _bce(rng):
    hand = _call([np.array([[0.5, 0.8], [0.25, 0.5]]), np.array([[1.0, 0.0], [0.0, 0.5]])], role="hand")
    return [_piece("calls", _roles(_pairs(rng))), _piece("by hand", [hand])]


def _mse(rng):
    calls = [_call([rng.uniform(-1, 1, s), rng.uniform(-1, 1, s)]) for s in [(4, 5), (2, 3), (6, 4)]]
    hand = _call([np.array([[1.0, 2.0], [0.0, 0.5]]), np.array([[0.0, 4.0], [0.0, 1.0]])], role="hand")
    return [_piece("calls", _roles(calls)), _piece("by hand", [hand])]


def _l1(rng):
    calls = [_call([x]) for x in [_with_kinks(rng.standard_normal((4, 5))), rng.standard_normal((2, 3)),
                                  rng.standard_normal((5, 4))]]
    calls[1]["inputs"][0].flat[[0, 5]] = 0.0
    hand = _call([np.array([[1.0, -2.0], [-0.5, 3.0]])], role="hand")
    return [_piece("calls", _roles(calls), (0.1,)), _piece("by hand", [hand], (0.5,))]


def _kl(rng):
    calls = [_call([rng.uniform(0.05, 0.95, s)]) for s in [(4, 5), (3, 2), (6, 3)]]
    hand = _call([np.array([[0.1, 0.6], [0.3, 0.2]])], role="hand")
    return [_piece("calls", _roles(calls), (0.1, 3.0)), _piece("by hand", [hand], (0.2, 3.0))]


def _bce_logits(rng):
    calls = [_call([2.0 * rng.standard_normal(s), rng.uniform(0, 1, s)]) for s in [(4, 5), (2, 3)]]
    z = np.array([[800.0, -800.0, 300.0], [-300.0, 0.0, 50.0]])
    calls.append(_call([z, rng.uniform(0, 1, z.shape)]))
    hand = _call([np.array([[0.0, LN3], [-LN3, 0.0]]), np.array([[1.0, 0.0], [0.0, 0.5]])], role="hand")
    return [_piece("calls", _roles(calls, extreme=True)), _piece("by hand", [hand])]


def _grads(rng, shape, n, scale=1.0):
    """Gradients of magnitude 0.5 to 2 (times `scale`): far from epsilon, so the paper's form
    and Keras's agree to 1e-7 here, and only the `tiny` part tells them apart."""
    return [scale * rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape) for _ in range(n)]


def _adam(rng):
    p0 = rng.standard_normal((2, 3))
    a0, b0 = rng.standard_normal((2, 3)), rng.standard_normal(4)
    ga, gb = _grads(rng, (2, 3), 3), _grads(rng, (4,), 3, 10.0)
    t0 = rng.standard_normal(4)
    return [
        {"name": "steps", "kind": "adam", "init_kw": {},
         "steps": [[["w", p0, g]] for g in _grads(rng, (2, 3), 5)]},
        {"name": "by hand", "kind": "adam", "init_kw": {"learning_rate": 0.1},
         "steps": [[["w", np.array([1.0, -1.0]), np.array([0.3, -20.0])]]]},
        {"name": "tiny", "kind": "adam", "init_kw": {},
         "steps": [[["w", t0, g]] for g in _grads(rng, (4,), 3, 1e-8)]},
        {"name": "two", "kind": "adam", "init_kw": {"learning_rate": 0.01},
         "steps": [[["first/kernel", a0, ga[t]], ["second/bias", b0, gb[t]]] for t in range(3)]},
    ]


MODEL_LAYERS = (("dense", 6, 4, "relu"), ("dense_1", 4, 3, "sigmoid"), ("dense_2", 3, 6, "sigmoid"))


def _model(rng):
    def weights():
        return {name: {"kernel": rng.uniform(-1, 1, (i, o)), "bias": rng.uniform(-0.3, 0.3, o)}
                for name, i, o, _ in MODEL_LAYERS}

    first = weights()
    pieces = [{"kind": "dense", "name": name, "activation": act, **first[name]}
              for name, _, _, act in MODEL_LAYERS]
    calls = [{"x": rng.uniform(-1, 1, (5, 6)), "dy": rng.standard_normal((5, 6)), "params": first},
             {"x": rng.uniform(-1, 1, (3, 6)), "dy": rng.standard_normal((3, 6)), "params": weights()}]
    # before each call the pieces' grads hold a step before's gradients (they add into them):
    # the model's backward must zero them first
    for call in calls:
        call["stale"] = {name: {"kernel": rng.standard_normal((i, o)), "bias": rng.standard_normal(o)}
                         for name, i, o, _ in MODEL_LAYERS}
    # double (y = 2x), scale (y = w x, w = 3), affine (y = 0.5 x + c, c = 0.25); x = [[2]], dy = [[1]]
    hand = [{"kind": "hand", "name": "double", "scale": 2.0}, {"kind": "hand", "name": "scale", "w": 3.0},
            {"kind": "hand", "name": "affine", "scale": 0.5, "c": 0.25}]
    return [{"name": "calls", "kind": "model", "pieces": pieces, "calls": calls},
            {"name": "by hand", "kind": "model", "pieces": hand,
             "calls": [{"x": np.array([[2.0]]), "dy": np.array([[1.0]]), "params": {}}]}]


# the moment test's units (scratchae.gradcheck.sampling's): log_var far from 0 both ways
MOMENT_MU = (0.5, -1.0, 0.0, 2.0)
MOMENT_LOG_VAR = (-3.0, 1.5, 0.0, 3.0)
MOMENT_DRAWS = 10_000
LN2 = math.log(2.0)


def _seed(rng):
    return int(rng.integers(2 ** 62))


def _mu_lv(rng, shape):
    """mu ~ N(0, 1) and log_var in [-2.5, 2.5], away from 0 (where sigma and the variance meet)."""
    lv = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.5, shape)
    return rng.standard_normal(shape), lv


def _sampling(rng):
    # each call sets self.rng to a fresh generator from its own seed (as a model sets a layer's
    # before a training forward), so eps is replayed by the grader and a draw too many in one
    # call cannot shift the next call's noise
    calls = []
    for shape in ((5, 3), (2, 4), (6, 3)):
        mu, lv = _mu_lv(rng, shape)
        calls.append({**_call([mu, lv], rng.standard_normal(shape)), "rng": _seed(rng)})
    n = MOMENT_DRAWS
    moments = {**_call([np.tile(MOMENT_MU, (n, 1)), np.tile(MOMENT_LOG_VAR, (n, 1))], role="moments"),
               "rng": _seed(rng), "forward_only": True}
    # sigma = [[1, 2], [0.5, 1]], eps given: worked in rubric.py
    hand = {**_call([np.array([[1.0, 0.0], [-1.0, 2.0]]), np.array([[0.0, 2 * LN2], [-2 * LN2, 0.0]])],
                    np.array([[1.0, 1.0], [2.0, -1.0]]), role="hand"),
            "rng": {"fixed": [np.array([[1.0, -1.0], [2.0, 0.5]])]}}
    return [_piece("calls", _roles(calls)), _piece("moments", [moments]), _piece("by hand", [hand])]


def _gaussian_kl(rng):
    calls = [_call(list(_mu_lv(rng, s))) for s in ((5, 3), (2, 4), (6, 2))]
    hand = _call([np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[0.0, LN2], [0.0, 0.0]])], role="hand")
    return [_piece("calls", _roles(calls)), _piece("by hand", [hand])]


def _conv2d(rng):
    # stride 1, 'valid', C_in = 3 and C_out = 2 (unequal, so a sum over the wrong channel axis
    # shows), the kernel moved between calls as an optimizer moves it
    def params():
        return {"kernel": rng.uniform(-1, 1, (3, 3, 3, 2)), "bias": rng.uniform(-0.5, 0.5, 2)}

    calls = []
    for n, h, w in ((2, 5, 5), (1, 6, 4), (3, 4, 5)):
        calls.append(_call([rng.standard_normal((n, h, w, 3))], rng.standard_normal((n, h - 2, w - 2, 2)), params()))
    accumulate = []
    for n in (2, 1):
        x, dy, ps = rng.standard_normal((n, 4, 4, 3)), rng.standard_normal((n, 2, 2, 2)), params()
        g0 = {"kernel": rng.standard_normal((3, 3, 3, 2)), "bias": rng.standard_normal(2)}
        accumulate.append(_call([x], dy, ps, role="zeroed"))
        accumulate.append({**_call([x.copy()], dy.copy(), {k: v.copy() for k, v in ps.items()},
                                   role="prefilled"), "grads": g0})
    # x (1, 3, 3, 1), kernel (2, 2, 1, 2), dy (1, 2, 2, 2): worked in rubric_conv.py
    hand = _call([np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [2.0, 0.0, 1.0]]).reshape(1, 3, 3, 1)],
                 np.stack([[[1.0, 0.0], [2.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]], axis=-1)[None],
                 {"kernel": np.stack([[[1.0, 0.0], [0.0, -1.0]], [[0.0, 2.0], [1.0, 0.0]]], axis=-1)[:, :, None, :],
                  "bias": np.array([0.5, -1.0])}, role="hand")
    return [_piece("calls", _roles(calls), (3, 2), {"seed": 0}), _piece("by hand", [hand], (1, 2, 2), {"seed": 0}),
            _piece("accumulate", accumulate, (3, 2), {"seed": 0})]


def _distinct(rng, shape):
    """Values all different from each other (a shuffled grid, jittered less than its step): no
    window has a tie, by construction."""
    size = int(np.prod(shape))
    grid = np.linspace(-2.0, 2.0, size)
    step = 4.0 / max(size - 1, 1)
    return rng.permutation(grid + rng.uniform(0, 0.4 * step, size)).reshape(shape)


def _maxpool(rng):
    calls = [_call([x], rng.standard_normal((x.shape[0], x.shape[1] // 2, x.shape[2] // 2, x.shape[3])))
             for x in (_distinct(rng, (2, 4, 4, 3)), _distinct(rng, (3, 6, 5, 2)), _distinct(rng, (1, 5, 7, 2)))]
    # x (1, 2, 5, 2) with ties in three windows, the fifth column in no window: worked in rubric_conv.py
    x = np.stack([[[3.0, 3.0, 0.0, -1.0, 9.0], [2.0, 0.0, 5.0, 5.0, -9.0]],
                  [[-1.0, -2.0, 7.0, 1.0, 8.0], [-3.0, -0.5, 2.0, 7.0, 10.0]]], axis=-1)[None]
    hand = _call([x], np.array([[[[2.0, 0.5], [-1.0, 3.0]]]]), role="hand")
    return [_piece("calls", _roles(calls)), _piece("by hand", [hand])]


PLANS = {"dense": _dense, "relu": _relu, "sigmoid": _sigmoid, "bce": _bce, "mse": _mse, "l1": _l1,
         "kl": _kl, "bce-logits": _bce_logits, "adam": _adam, "model": _model, "sampling": _sampling,
         "gaussian-kl": _gaussian_kl, "conv2d": _conv2d, "maxpool": _maxpool}


def plan(piece: str, rng: np.random.Generator) -> list[dict]:
    """The parts of the request for `piece`, drawn from `rng`."""
    return PLANS[piece](rng)


def calls_of(part: dict) -> int:
    """How many records a part of this plan owes (its calls or steps)."""
    return len(part.get("calls") or part.get("steps") or [])

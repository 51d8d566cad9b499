"""Optimizers: small update rules with named state, keyed by parameter path.

    optimizer.apply(parameters)      parameters: iterable of (path, param, grad) triples

The optimizer updates each `param` array *in place* (layers keep their arrays) and never
reaches into a layer. Its state (Keras's slot names: `momentums`, `velocities`) is a dict
keyed by the path it was given: a model hands it one triple per parameter keyed
'dense/kernel', 'dense/bias', ... when compiled with `pack_parameters=False`, and by
default one triple for all its parameters packed in one vector, keyed 'packed/*'
(in `get_weights()` order). `iterations` counts the steps taken. All scalar
factors are Python floats, so a float32 parameter stays float32 (a NumPy float64 scalar
would silently upcast the update under NumPy 2's promotion rules).

    >>> import numpy as np
    >>> w, g = np.array([1.0, -1.0]), np.array([0.3, -20.0])
    >>> opt = Adam(learning_rate=0.1)
    >>> opt.apply([("w", w, g)])          # Adam's first step moves each weight ~lr against sign(g)
    >>> w.round(4)
    array([ 0.9, -0.9])
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ._registry import from_config as _from_config, lookup
from ._validate import finite_float

Triple = tuple[str, np.ndarray, np.ndarray]


class Optimizer:
    """Base class: learning rate, step counter, state as path-keyed dicts of arrays."""

    _slots: tuple[str, ...] = ()

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = finite_float("learning_rate", learning_rate, strictly_positive=True)
        self.iterations = 0
        for slot in self._slots:
            setattr(self, slot, {})
        self._scratch: dict[str, np.ndarray] = {}

    def apply(self, parameters: Iterable[Triple]) -> None:
        """One step: update every (path, param, grad) in place, then count the iteration."""
        self.iterations += 1
        for path, param, grad in parameters:
            if param.shape != grad.shape:
                raise ValueError(f"{path}: gradient shape {grad.shape} != parameter shape {param.shape}")
            self._update(path, param, grad)

    def _update(self, path: str, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def _slot(self, slot: str, path: str, like: np.ndarray) -> np.ndarray:
        state = getattr(self, slot)
        arr = state.get(path)
        if arr is None or arr.shape != like.shape or arr.dtype != like.dtype:
            arr = state[path] = np.zeros_like(like)
        return arr

    def _buffer(self, path: str, like: np.ndarray) -> np.ndarray:
        """One scratch array per parameter, reused every step (not state; never saved)."""
        buf = self._scratch.get(path)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = self._scratch[path] = np.empty_like(like)
        return buf

    # -- state, for save/load --------------------------------------------------------------
    def get_config(self) -> dict:
        return {"class_name": type(self).__name__, "learning_rate": self.learning_rate}

    def get_state(self) -> dict[str, np.ndarray]:
        """All state as flat name -> array ('iterations', 'momentums/<path>', ...)."""
        out = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for slot in self._slots:
            for path, arr in getattr(self, slot).items():
                out[f"{slot}/{path}"] = arr
        return out

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Inverse of get_state (checked: known slots, finite arrays, non-negative count)."""
        slots: dict[str, dict] = {s: {} for s in self._slots}
        iterations = None
        for key, arr in state.items():
            if key == "iterations":
                iterations = int(arr)
                if iterations < 0:
                    raise ValueError(f"optimizer iterations must be >= 0, got {iterations}")
                continue
            slot, _, path = key.partition("/")
            if slot not in slots or not path:
                raise ValueError(f"unknown optimizer state entry {key!r} for {type(self).__name__}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"optimizer state {key!r} holds non-finite values")
            slots[slot][path] = np.array(arr)
        if iterations is None:
            raise ValueError("optimizer state has no 'iterations'")
        self.iterations = iterations
        for slot, d in slots.items():
            setattr(self, slot, d)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "class_name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum (Keras's form).

        momentum == 0:  param <- param - learning_rate * grad
        momentum  > 0:  velocity <- momentum * velocity - learning_rate * grad
                        param    <- param + velocity

    Unrolled, velocity_t = -learning_rate * sum_k momentum^(t-k) grad_k: a decaying sum of all
    past gradients. Explained in docs/backprop.md#sgd.
    """

    _slots = ("momentums",)

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0) -> None:
        super().__init__(learning_rate)
        self.momentum = finite_float("momentum", momentum, minimum=0.0, maximum=1.0)

    def _update(self, path, param, grad):
        lr = self.learning_rate
        tmp = self._buffer(path, param)
        if self.momentum == 0.0:
            np.multiply(grad, lr, out=tmp)
            param -= tmp
            return
        velocity = self._slot("momentums", path, param)
        velocity *= self.momentum
        np.multiply(grad, lr, out=tmp)
        velocity -= tmp
        param += velocity

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum}


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) in Keras's form and defaults.

    At step t = 1, 2, ...:

        m     <- m + (1 - beta_1) * (grad - m)          ( = beta_1 m + (1 - beta_1) grad )
        v     <- v + (1 - beta_2) * (grad^2 - v)        ( = beta_2 v + (1 - beta_2) grad^2 )
        a_t   =  learning_rate * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        param <- param - a_t * m / (sqrt(v) + epsilon)

    Keras folds the bias corrections into the step size a_t and adds epsilon to sqrt(v) itself
    (the paper's "epsilon hat"), which is why its default epsilon, 1e-7, is not the paper's 1e-8.
    Because m/sqrt(v) is +-1 for a constant gradient, the first step moves each parameter by
    about learning_rate against the sign of its gradient, whatever the gradient's size.

    The paper's step is learning_rate * m_hat / (sqrt(v_hat) + eps) with m_hat = m / (1 - beta_1^t)
    and v_hat = v / (1 - beta_2^t). Multiply top and bottom by sqrt(1 - beta_2^t): it is
    a_t * m / (sqrt(v) + eps * sqrt(1 - beta_2^t)), the form above with epsilon = eps *
    sqrt(1 - beta_2^t). Derived in docs/backprop.md#adam.
    """

    _slots = ("momentums", "velocities")

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7) -> None:
        super().__init__(learning_rate)
        self.beta_1 = finite_float("beta_1", beta_1, minimum=0.0, maximum=1.0)
        self.beta_2 = finite_float("beta_2", beta_2, minimum=0.0, maximum=1.0)
        if self.beta_1 == 1.0 or self.beta_2 == 1.0:
            raise ValueError("beta_1 and beta_2 must be < 1 (the bias correction divides by 1 - beta^t)")
        self.epsilon = finite_float("epsilon", epsilon, strictly_positive=True)

    def step_size(self, t: int) -> float:
        """a_t, as a Python float (so a float32 update stays float32)."""
        return self.learning_rate * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)

    def apply(self, parameters: Iterable[Triple]) -> None:
        self._alpha = self.step_size(self.iterations + 1)
        super().apply(parameters)

    def _update(self, path, param, grad):
        m = self._slot("momentums", path, param)
        v = self._slot("velocities", path, param)
        # Twelve in-place passes through one scratch array: the whole update touches
        # param, grad, m, v and that array, nothing more.
        a = self._buffer(path, param)
        np.subtract(grad, m, out=a)           # m += (1 - beta_1) (g - m)
        a *= 1.0 - self.beta_1
        m += a
        np.multiply(grad, grad, out=a)        # v += (1 - beta_2) (g^2 - v)
        a -= v
        a *= 1.0 - self.beta_2
        v += a
        np.sqrt(v, out=a)                     # param -= a_t m / (sqrt(v) + eps)
        a += self.epsilon
        np.divide(m, a, out=a)
        a *= self._alpha
        param -= a

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


_NAMES = {"adam": Adam, "sgd": SGD}


def get(identifier: str | Optimizer) -> Optimizer:
    """An optimizer from its name ('adam', 'sgd', with Keras's defaults) or an instance."""
    return lookup("optimizer", identifier, _NAMES, Optimizer)


def from_config(config: dict) -> Optimizer:
    """The inverse of `Optimizer.get_config()` (used by load_model)."""
    return _from_config("optimizer", config, {"Adam": Adam, "SGD": SGD})

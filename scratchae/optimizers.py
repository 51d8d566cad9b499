"""Optimizers: small update rules with named state, keyed by parameter path.

    optimizer.apply(parameters)      parameters: iterable of (path, param, grad) triples

The optimizer updates each `param` array *in place* (layers keep their arrays) and never
reaches into a layer. Its state (Keras's slot names: `momentums`, `velocities`) is kept per
path it was given: a model hands it one triple per parameter keyed
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
from typing import Iterable, Mapping

import numpy as np

from ._registry import from_config as _from_config, lookup
from ._validate import finite_float

Triple = tuple[str, np.ndarray, np.ndarray]


class Optimizer:
    """Base class: learning rate, step counter, state as path-keyed arrays per slot.

    Each slot's arrays are in `_state[slot][path]`, in Keras's units; `slot(name)` (and the
    slot-named properties of the subclasses, `momentums` and `velocities`) gives them, the
    arrays themselves.
    """

    _slots: tuple[str, ...] = ()

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = finite_float("learning_rate", learning_rate, strictly_positive=True)
        self.reset()

    def reset(self) -> None:
        """Forget all state: step count 0, no moments (as if just created)."""
        self.iterations = 0
        self._state: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self._slots}
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
        state = self._state[slot]
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

    def slot(self, slot: str) -> dict[str, np.ndarray]:
        """One slot's state by path: the arrays themselves."""
        return dict(self._state[slot])

    # -- state, for save/load and checkpoints ----------------------------------------------
    def get_config(self) -> dict:
        return {"class_name": type(self).__name__, "learning_rate": self.learning_rate}

    def get_state(self, kept_only: bool = False) -> dict[str, np.ndarray]:
        """All state as flat name -> array: 'iterations' and '<slot>/<path>' for each slot
        ('momentums/dense/kernel', ...), the arrays themselves.

        `kept_only` is accepted for the callers of the release whose Adam kept its state in
        other units (it chose those arrays alone, for checkpoints); the state now has one
        form, so it changes nothing."""
        out = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for slot in self._slots:
            for path, arr in self._state[slot].items():
                out[f"{slot}/{path}"] = arr
        return out

    def set_state(self, state: Mapping[str, np.ndarray], kept_only: bool = False) -> None:
        """Inverse of get_state, from copies (checked: known slots, finite arrays, a
        non-negative count). `kept_only` changes nothing, as in `get_state`."""
        given: dict[str, dict[str, np.ndarray]] = {s: {} for s in self._slots}
        iterations = None
        for key, arr in state.items():
            if key == "iterations":
                iterations = int(arr)
                if iterations < 0:
                    raise ValueError(f"optimizer iterations must be >= 0, got {iterations}")
                continue
            slot, _, path = key.partition("/")
            if slot not in given or not path:
                raise ValueError(f"unknown optimizer state entry {key!r} for {type(self).__name__}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"optimizer state {key!r} holds non-finite values")
            given[slot][path] = np.array(arr)
        if iterations is None:
            raise ValueError("optimizer state has no 'iterations'")
        self.iterations = iterations
        self._state = given

    def state_slots(self) -> tuple[str, ...]:
        """The slots every parameter has state in once a step has been taken."""
        return self._slots

    def _entry_slot(self, name: str) -> str:
        """The slot a saved entry named '<name>/<path>' is state of (a subclass may read
        the names of an older release)."""
        return name

    def check_saved_state(self, state: Mapping[str, np.ndarray], paths: Iterable[str]) -> None:
        """That a saved state (`get_state()`'s names) is whole for the parameters `paths`.

        After a step (iterations > 0) every path must have each of `state_slots()`: without
        them a resumed run takes other steps than the one saved. Before one, no slot may hold
        anything; a slot this optimizer does not keep never may. A ValueError names the
        entries missing or unexpected.
        """
        if "iterations" not in state:
            raise ValueError("optimizer state has no 'iterations'")
        steps = int(state["iterations"])
        wanted = self.state_slots()
        present, unexpected = set(), []
        for key in state:
            if key == "iterations":
                continue
            name, _, path = key.partition("/")
            slot = self._entry_slot(name)
            (present.add((slot, path)) if slot in wanted else unexpected.append(key))
        if unexpected:
            raise ValueError(f"optimizer state {', '.join(sorted(unexpected))} is not kept by "
                             f"{self!r} (it keeps {', '.join(wanted) or 'no slot'})")
        if steps == 0 and present:
            raise ValueError(f"optimizer state holds {', '.join(sorted(k for k in state if k != 'iterations'))} "
                             "after 0 iterations: moments exist only once a step was taken")
        missing = [f"{slot}/{path}" for path in paths for slot in wanted if (slot, path) not in present]
        if steps > 0 and missing:
            raise ValueError(f"optimizer state after {steps} iterations has no {', '.join(missing)}: "
                             "a resumed run would take other steps than the one saved")

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

    @property
    def momentums(self) -> dict[str, np.ndarray]:
        """The velocity of each parameter, by path (Keras's slot name; the arrays themselves)."""
        return self.slot("momentums")

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

    def state_slots(self) -> tuple[str, ...]:
        return self._slots if self.momentum > 0.0 else ()

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum}


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) in Keras's form and defaults.

    State, per parameter: m and v (Keras's slots `momentums` and `velocities`), 0 at first,
    and the step count t (`iterations`). At step t = 1, 2, ...:

        m     <- beta_1 m + (1 - beta_1) grad
        v     <- beta_2 v + (1 - beta_2) grad^2
        a_t   =  learning_rate * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        param <- param - a_t * m / (sqrt(v) + epsilon)

    The paper's step is learning_rate * m_hat / (sqrt(v_hat) + eps), with the bias-corrected
    m_hat = m / (1 - beta_1^t) and v_hat = v / (1 - beta_2^t). Multiply its top and bottom by
    sqrt(1 - beta_2^t): it is a_t * m / (sqrt(v) + eps * sqrt(1 - beta_2^t)), the step above
    with epsilon = eps * sqrt(1 - beta_2^t). Keras adds its epsilon to sqrt(v) itself, with no
    such factor: its epsilon is the paper's "epsilon hat" (the formula before its section 2.1),
    not the eps of its Algorithm 1. A constant added in another place, so it has another
    default: 1e-7, not the paper's 1e-8. Keras's step is the paper's with eps = epsilon /
    sqrt(1 - beta_2^t), 31.6 epsilon at t = 1 (beta_2 = 0.999) and tending to epsilon; the two
    differ only where sqrt(v_hat) is near eps. Because m / sqrt(v) is +-1 for a constant
    gradient, the first step moves each parameter by about learning_rate against the sign of
    its gradient, whatever the gradient's size. Derived in docs/backprop.md#adam.

    The update runs in place through one scratch array per parameter, and every scalar is a
    Python float, so a float32 parameter's update is float32 throughout.

    Files of the previous release hold, beside m and v or instead of them, the sums it kept,
    M = m / (1 - beta_1) and V = v / (1 - beta_2), as 'momentums_kept/<path>' and
    'velocities_kept/<path>'. `set_state` reads them: m and v where given (they must agree
    with (1 - beta_1) M and (1 - beta_2) V to float rounding), else (1 - beta_1) M and
    (1 - beta_2) V. Keeping the sums saved two of the update's twelve passes, 1-2% of a
    batch-256 training step of the vanilla model: not worth a second form of the state
    (measured in docs/backprop.md#adam-in-place, by benchmarks/adam_forms.py).
    """

    _slots = ("momentums", "velocities")
    #: the previous release's names for the sums it kept, and the slot each one is the sum of
    _KEPT_SUMS = {"momentums_kept": "momentums", "velocities_kept": "velocities"}

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7) -> None:
        super().__init__(learning_rate)
        self.beta_1 = finite_float("beta_1", beta_1, minimum=0.0, maximum=1.0)
        self.beta_2 = finite_float("beta_2", beta_2, minimum=0.0, maximum=1.0)
        if self.beta_1 == 1.0 or self.beta_2 == 1.0:
            raise ValueError("beta_1 and beta_2 must be < 1 (the bias correction divides by 1 - beta^t)")
        self.epsilon = finite_float("epsilon", epsilon, strictly_positive=True)

    @property
    def momentums(self) -> dict[str, np.ndarray]:
        """m of each parameter, by path (Keras's slot name; the arrays themselves)."""
        return self.slot("momentums")

    @property
    def velocities(self) -> dict[str, np.ndarray]:
        """v of each parameter, by path (Keras's slot name; the arrays themselves)."""
        return self.slot("velocities")

    def step_size(self, t: int) -> float:
        """a_t, as a Python float (so a float32 update stays float32)."""
        return self.learning_rate * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)

    def apply(self, parameters: Iterable[Triple]) -> None:
        self._a_t = self.step_size(self.iterations + 1)
        super().apply(parameters)

    def _update(self, path, param, grad):
        m = self._slot("momentums", path, param)
        v = self._slot("velocities", path, param)
        a = self._buffer(path, param)           # the one scratch array: no temporaries
        b1, b2 = self.beta_1, self.beta_2
        m *= b1                                  # m = beta_1 m + (1 - beta_1) g
        np.multiply(grad, 1.0 - b1, out=a)
        m += a
        np.multiply(grad, grad, out=a)           # v = beta_2 v + (1 - beta_2) g^2
        a *= 1.0 - b2
        v *= b2
        v += a
        np.sqrt(v, out=a)                        # param -= a_t m / (sqrt(v) + epsilon)
        a += self.epsilon
        np.divide(m, a, out=a)
        a *= self._a_t
        param -= a

    # -- the previous release's state ---------------------------------------------------------
    def _without_kept_sums(self, state: Mapping[str, np.ndarray]) -> dict:
        """`state` with the previous release's kept sums turned into m and v.

        A '<slot>_kept/<path>' entry gives '<slot>/<path>' = (1 - beta) * sum when that entry
        is absent, and must agree with it to float rounding when present (the entry given is
        taken).
        """
        out = {k: a for k, a in state.items() if k.partition("/")[0] not in self._KEPT_SUMS}
        for key, kept in state.items():
            name, _, path = key.partition("/")
            slot = self._KEPT_SUMS.get(name)
            if slot is None:
                continue
            if not path:
                out[key] = kept                  # refused by name, as any unknown entry
                continue
            plain = f"{slot}/{path}"
            kept = np.asarray(kept)
            if not np.all(np.isfinite(kept)):
                raise ValueError(f"optimizer state {key!r} holds non-finite values")
            beta = self.beta_1 if slot == "momentums" else self.beta_2
            converted = kept * (1.0 - beta)      # a Python float: float32 stays float32
            given = out.get(plain)
            if given is None:
                out[plain] = converted
                continue
            given = np.asarray(given)
            tiny = np.finfo(converted.dtype).tiny if converted.dtype.kind == "f" else 0.0
            if given.shape != converted.shape or not np.allclose(given, converted, rtol=1e-6, atol=tiny):
                raise ValueError(f"optimizer state {key} does not match {plain}")
        return out

    def set_state(self, state: Mapping[str, np.ndarray], kept_only: bool = False) -> None:
        """Optimizer.set_state; also reads the previous release's kept sums (see the class)."""
        super().set_state(self._without_kept_sums(state), kept_only)

    def _entry_slot(self, name: str) -> str:
        return self._KEPT_SUMS.get(name, name)    # a kept sum stands for its m or v

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

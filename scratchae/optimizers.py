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

    Each slot's arrays are kept in `_kept[slot][path]`. A subclass may keep a slot in other
    units than Keras's (Adam keeps sums without their (1 - beta) factors); `_units(slot)` is
    then the factor that turns a kept array into Keras's units, and the state it gives for
    saving holds both, so a restore is exact. `slot(name)` (and the slot-named properties of
    the subclasses, `momentums` and `velocities`) gives a slot in Keras's units.
    """

    _slots: tuple[str, ...] = ()

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = finite_float("learning_rate", learning_rate, strictly_positive=True)
        self.reset()

    def reset(self) -> None:
        """Forget all state: step count 0, no moments (as if just created)."""
        self.iterations = 0
        self._kept: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self._slots}
        self._scratch: dict[str, np.ndarray] = {}

    def _units(self, slot: str) -> float:
        """The factor from a kept array of `slot` to Keras's units (1.0: kept in them)."""
        return 1.0

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
        state = self._kept[slot]
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
        """One slot's state in Keras's units, by path: the kept arrays themselves where they
        are in those units, else copies converted to them."""
        factor = self._units(slot)
        kept = self._kept[slot]
        return dict(kept) if factor == 1.0 else {p: a * factor for p, a in kept.items()}

    # -- state, for save/load and checkpoints ----------------------------------------------
    def get_config(self) -> dict:
        return {"class_name": type(self).__name__, "learning_rate": self.learning_rate}

    def get_state(self, kept_only: bool = False) -> dict[str, np.ndarray]:
        """All state as flat name -> array: 'iterations', each slot in Keras's units
        ('momentums/<path>', ...) and, for a slot kept in other units, the kept arrays
        ('momentums_kept/<path>'), which make a restore exact. kept_only=True gives the kept
        arrays alone under the plain names (what a checkpoint copies; no conversion)."""
        out = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for slot in self._slots:
            factor = self._units(slot)
            for path, arr in self._kept[slot].items():
                if kept_only or factor == 1.0:
                    out[f"{slot}/{path}"] = arr
                else:
                    out[f"{slot}/{path}"] = arr * factor
                    out[f"{slot}_kept/{path}"] = arr
        return out

    def set_state(self, state: dict[str, np.ndarray], kept_only: bool = False) -> None:
        """Inverse of get_state (checked: known slots, finite arrays, non-negative count).

        The kept arrays are used when present; each must give exactly its Keras-unit entry.
        Keras-unit entries alone (a file written before Adam kept sums) are converted, which
        is exact to the dtype's rounding. kept_only=True: the plain names hold kept arrays.
        """
        given: dict[str, dict[str, np.ndarray]] = {s: {} for s in self._slots}
        kept: dict[str, dict[str, np.ndarray]] = {s: {} for s in self._slots}
        iterations = None
        for key, arr in state.items():
            if key == "iterations":
                iterations = int(arr)
                if iterations < 0:
                    raise ValueError(f"optimizer iterations must be >= 0, got {iterations}")
                continue
            name, _, path = key.partition("/")
            slot = name[:-len("_kept")] if name.endswith("_kept") else name
            if slot not in given or not path or (slot != name and self._units(slot) == 1.0):
                raise ValueError(f"unknown optimizer state entry {key!r} for {type(self).__name__}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"optimizer state {key!r} holds non-finite values")
            (kept if slot != name or kept_only else given)[slot][path] = np.array(arr)
        if iterations is None:
            raise ValueError("optimizer state has no 'iterations'")
        for slot in self._slots:
            factor = self._units(slot)
            if factor == 1.0 or kept_only:
                kept[slot].update(given[slot])
                continue
            for path, arr in given[slot].items():
                if path not in kept[slot]:
                    kept[slot][path] = arr / factor
                elif not np.array_equal(kept[slot][path] * factor, arr):
                    raise ValueError(f"optimizer state {slot}_kept/{path} does not match {slot}/{path}")
        self.iterations = iterations
        self._kept = kept

    def state_slots(self) -> tuple[str, ...]:
        """The slots every parameter has state in once a step has been taken."""
        return self._slots

    def check_saved_state(self, state: Mapping[str, np.ndarray], paths: Iterable[str]) -> None:
        """That a saved state (`get_state()`'s names) is whole for the parameters `paths`.

        After a step (iterations > 0) every path must have each of `state_slots()`, in Keras's
        units or kept: without them a resumed run takes other steps than the one saved. Before
        one, no slot may hold anything; a slot this optimizer does not keep never may. A
        ValueError names the entries missing or unexpected.
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
            slot = name[:-len("_kept")] if name.endswith("_kept") else name
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

    At step t = 1, 2, ...:

        m     <- beta_1 m + (1 - beta_1) grad
        v     <- beta_2 v + (1 - beta_2) grad^2
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

    What it keeps: the sums without their (1 - beta) factors, M = m / (1 - beta_1) and
    V = v / (1 - beta_2), so that

        M     <- beta_1 M + grad                 (m = (1 - beta_1) M: the same recurrence)
        V     <- beta_2 V + grad^2
        param <- param - a_t (1 - beta_1) / sqrt(1 - beta_2) * M / (sqrt(V) + epsilon / sqrt(1 - beta_2))

    (substitute m and v into Keras's step and divide top and bottom by sqrt(1 - beta_2)). The
    same numbers to float32 rounding, in ten passes over the parameters instead of twelve: no
    pass multiplies by a (1 - beta) factor. `momentums` and `velocities` give m and v in
    Keras's units, and so does a saved file (beside M and V, for an exact resume).
    docs/backprop.md#adam-in-ten-passes measures it.
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

    def _units(self, slot: str) -> float:
        return 1.0 - (self.beta_1 if slot == "momentums" else self.beta_2)

    @property
    def momentums(self) -> dict[str, np.ndarray]:
        """m of each parameter, by path, in Keras's units (copies: (1 - beta_1) M)."""
        return self.slot("momentums")

    @property
    def velocities(self) -> dict[str, np.ndarray]:
        """v of each parameter, by path, in Keras's units (copies: (1 - beta_2) V)."""
        return self.slot("velocities")

    def step_size(self, t: int) -> float:
        """a_t, as a Python float (so a float32 update stays float32)."""
        return self.learning_rate * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)

    def apply(self, parameters: Iterable[Triple]) -> None:
        root = math.sqrt(1.0 - self.beta_2)
        self._alpha = self.step_size(self.iterations + 1) * (1.0 - self.beta_1) / root
        self._eps = self.epsilon / root
        super().apply(parameters)

    def _update(self, path, param, grad):
        M = self._slot("momentums", path, param)
        V = self._slot("velocities", path, param)
        # Ten in-place passes through one scratch array: the whole update touches
        # param, grad, M, V and that array, nothing more.
        a = self._buffer(path, param)
        M *= self.beta_1                      # M = beta_1 M + g
        M += grad
        np.multiply(grad, grad, out=a)        # V = beta_2 V + g^2
        V *= self.beta_2
        V += a
        np.sqrt(V, out=a)                     # param -= alpha M / (sqrt(V) + eps')
        a += self._eps
        np.divide(M, a, out=a)
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

"""The judged side of grading: run a submission's class through the calls the grader asks for,
and hand back what it returned, raw. Nothing here compares, scores or decides.

The grader (the parent, `grading.py`) starts this file as a plain script in a process of its
own (`sandbox.py`): `python -I -B runner.py FD`. On stdin comes one JSON request: the
submission's source, its class name, and the *parts* to run, each a list of calls with the
inputs drawn for this run. Each call's record goes out as one JSON line on the file descriptor
FD as soon as the call is done: what forward returned, what backward returned, the piece's
`grads` after it, the inputs as they are after the call (were they changed?), how many times
backward called forward, and any exception with the submission's line. The parent checks
every record against what it asked, and makes every comparison itself: a submission that
patches this file, NumPy or anything else in its own interpreter can only change the raw
arrays it hands back, never a verdict.

This file imports the standard library and NumPy only, never scratchae: the submission runs
without the library (`_Blocked`), so a "backward" that calls scratchae's own backward or its
finite differences cannot load. The same functions run trusted classes in the grader's own
process (`run_parts`: the shipped wrong pieces of `scratchae gradcheck --broken`).

The three kinds of part:

    piece   an instance of the learner's class; per call: params written in place (as an
            optimizer would), its generator set (`self.rng`, as a model sets a stochastic
            layer's before a training forward: a fresh generator from the seed the call
            carries, or `FixedNoise` handing out the draws of a case worked by hand),
            forward(*inputs), then the piece's grads set in place (to zeros, as a model zeroes
            them at the start of each step, or to the array the call carries: the check that
            backward adds into them), then backward(dy) or backward() (not for a call marked
            forward_only: the draws of a moment test)
    adam    an instance of the learner's Adam; per step: apply([(path, param, grad), ...]);
            each param is a watched array, so a value bound to a new array instead of written
            into the caller's one is still seen (`_Watched`) and only "in place" is lost
    model   the learner's Model over pieces made here (`ChainDense`, `HandPiece`), which add
            into their grads as scratchae's layers do; per call: each piece's grads set to a
            stale array (a step before's gradients: the model must zero them), forward(x),
            backward(dy); each piece logs what it was handed, what it returned, and what its
            grads held when its backward was called
"""
from __future__ import annotations

import base64
import json
import linecache
import os
import signal
import sys
import threading
import types
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

MAX_ELEMENTS = 1_000_000          # per array handed back; more is described, not sent
MAX_ITEMS = 64                    # per dict, list or tuple handed back
BLOCKED = ("scratchae", "torch", "jax", "jaxlib", "tensorflow", "autograd", "mygrad", "micrograd")


# -- what goes over the channel -----------------------------------------------------------------
def encode(value: Any, depth: int = 0) -> Any:
    """A JSON-able description of `value`, as the learner's code returned it: arrays as bytes
    (dtype, shape, base64), numbers as numbers, tuples and dicts item by item, anything else
    by its type's name."""
    if value is None:
        return {"none": True}
    if isinstance(value, np.ndarray):
        a = np.asarray(value).view(np.ndarray)
        if a.dtype.kind in "biuf" and a.dtype.itemsize <= 8 and a.size <= MAX_ELEMENTS:
            a = np.ascontiguousarray(a)
            return {"array": a.dtype.str, "shape": list(a.shape),
                    "data": base64.b64encode(a.tobytes()).decode("ascii")}
        return {"other": f"an array of dtype {a.dtype} and shape {a.shape}"}
    if isinstance(value, (bool, np.bool_)):
        return {"other": f"the bool {bool(value)}"}
    if isinstance(value, (int, float, np.integer, np.floating)):
        return {"number": float(value)}
    if depth < 2 and isinstance(value, tuple) and len(value) <= MAX_ITEMS:
        return {"tuple": [encode(v, depth + 1) for v in value]}
    if depth < 2 and isinstance(value, dict) and len(value) <= MAX_ITEMS:
        return {"dict": [[k if isinstance(k, str) else repr(k)[:100], encode(v, depth + 1)]
                         for k, v in value.items()]}
    return {"other": type(value).__name__}


def decode_trusted(obj: Any) -> Any:
    """The request's arrays back from `encode` (the grader wrote them: not validated here)."""
    if isinstance(obj, dict) and "array" in obj:
        raw = base64.b64decode(obj["data"])
        return np.frombuffer(raw, dtype=np.dtype(obj["array"])).reshape(obj["shape"]).copy()
    if isinstance(obj, dict):
        return {k: decode_trusted(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_trusted(v) for v in obj]
    return obj


def describe(exc: BaseException, filename: str) -> dict:
    """An exception as the learner should see it: its type, message, and the submission's own
    line where it was raised (the innermost frame in their file)."""
    line = code = frame = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line, frame = tb.tb_lineno, tb.tb_frame
        tb = tb.tb_next
    if line is not None:
        code = linecache.getline(filename, line).strip()[:200] or None
    if isinstance(exc, SystemExit):
        message = f"the submission called sys.exit({exc.code!r})"
    elif type(exc).__name__ == "PartTimeout":
        message = "this part took more than its time limit, stopped here (an endless loop, or a sleep?)"
    else:
        message = str(exc)
    kind = "a time limit" if type(exc).__name__ == "PartTimeout" else type(exc).__name__
    return {"type": kind, "message": message[:500], "line": line, "code": code,
            "arrays": _arrays_at(frame) if frame is not None else []}


def _arrays_at(frame) -> list[str]:
    """'dy (5, 4)', 'self.x (5, 3)', "self.params['kernel'] (3, 4)": the arrays where it was raised."""
    out = []
    try:
        for name, v in list(frame.f_locals.items()):
            if isinstance(v, np.ndarray):
                out.append(f"{name} {v.shape}")
            elif name == "self":
                for attr, a in list(vars(v).items())[:16]:
                    if isinstance(a, np.ndarray):
                        out.append(f"self.{attr} {a.shape}")
                    elif isinstance(a, dict):
                        out += [f"self.{attr}[{k!r}] {b.shape}" for k, b in list(a.items())[:8]
                                if isinstance(b, np.ndarray)]
    except Exception:
        pass
    return out[:12]


# -- loading the submission -----------------------------------------------------------------------
class _Blocked:
    """An import hook that refuses scratchae and the autodiff libraries to the submission."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"the grader runs your file without {name.split('.')[0]}: a backward "
                              "of your own needs NumPy only (import numpy as np)")
        return None


def load(source: str, filename: str, class_name: str) -> type:
    """Run the submission's source as a module (scratchae and autodiff libraries refused) and
    return its class `class_name`; ImportError/SyntaxError/any exception propagates."""
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            del sys.modules[name]
    sys.meta_path.insert(0, _Blocked)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType("submission")
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)
    cls = module.__dict__.get(class_name)
    if not isinstance(cls, type):
        raise LookupError(f"the file defines no class {class_name!r} (the template's class name)")
    return cls


# -- instruments ----------------------------------------------------------------------------------
@contextmanager
def counting_calls(classes: list[type], method: str = "forward") -> Iterator[list[int]]:
    """Count the calls of `method` on these classes while inside (the count in a 1-list)."""
    count = [0]
    saved = []
    for cls in dict.fromkeys(classes):
        original = getattr(cls, method, None)
        if original is None:
            continue

        def counted(self, *args, _original=original, **kwargs):
            count[0] += 1
            return _original(self, *args, **kwargs)

        saved.append((cls, method in cls.__dict__, cls.__dict__.get(method)))
        setattr(cls, method, counted)
    try:
        yield count
    finally:
        for cls, own, value in saved:
            if own:
                setattr(cls, method, value)
            else:
                delattr(cls, method)


class _Watched(np.ndarray):
    """A parameter handed to the learner's Adam: remembers the last array computed from it
    (`param - step`), so a value bound to a new name instead of written into this array can
    still be graded; only "in place" is lost."""

    last: dict[int, np.ndarray] = {}

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = [x.view(np.ndarray) if isinstance(x, _Watched) else x for x in inputs]
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, _Watched) else o for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if method == "__call__" and isinstance(result, np.ndarray):
            for x in inputs:
                if isinstance(x, _Watched) and id(x) in _Watched.last and result.shape == x.shape:
                    _Watched.last[id(x)] = np.array(result, copy=True)
        return result


def watched(a: np.ndarray) -> _Watched:
    w = np.array(a, dtype=np.float64, copy=True).view(_Watched)
    _Watched.last[id(w)] = None
    return w


# -- the pieces a learner's Model is run over ---------------------------------------------------------
class ChainDense:
    """y = act(x . kernel + bias), act relu or sigmoid; adds into its grads at every backward
    (the contract's +=: the model zeroes them)."""

    def __init__(self, name: str, kernel: np.ndarray, bias: np.ndarray, activation: str, log: list):
        self.name, self.activation, self.log = name, activation, log
        self.params = {"kernel": np.array(kernel, dtype=np.float64), "bias": np.array(bias, dtype=np.float64)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        self.x = x
        z = x @ self.params["kernel"] + self.params["bias"]
        self.y = np.maximum(z, 0) if self.activation == "relu" else 1.0 / (1.0 + np.exp(-z))
        return self.y

    def backward(self, dy):
        handed = np.array(dy, dtype=np.float64, copy=True)
        held = _held(self.grads)
        local = (self.y > 0) if self.activation == "relu" else self.y * (1 - self.y)
        dz = dy * local
        self.grads["kernel"] += self.x.T @ dz
        self.grads["bias"] += dz.sum(axis=0)
        dx = dz @ self.params["kernel"].T
        self.log.append((self.name, handed, dx.copy(), held))
        return dx


class HandPiece:
    """y = scale * w * x + c, with w and c parameters where given; adds into its grads and logs
    every backward call."""

    def __init__(self, name: str, log: list, scale: float = 1.0, w: float | None = None,
                 c: float | None = None) -> None:
        self.name, self.log, self.scale = name, log, scale
        self.params = {k: np.array([v], dtype=np.float64) for k, v in (("w", w), ("c", c)) if v is not None}
        self.grads = {k: np.zeros(1) for k in self.params}

    def _w(self) -> float:
        return float(self.params["w"][0]) if "w" in self.params else 1.0

    def forward(self, x):
        self.x = x
        return self.scale * self._w() * x + (self.params["c"][0] if "c" in self.params else 0.0)

    def backward(self, dy):
        handed = np.array(dy, dtype=np.float64, copy=True)
        held = _held(self.grads)
        if "w" in self.params:
            self.grads["w"] += (self.scale * self.x * dy).sum()
        if "c" in self.params:
            self.grads["c"] += np.sum(dy)
        dx = self.scale * self._w() * dy
        self.log.append((self.name, handed, np.array(dx, dtype=np.float64, copy=True), held))
        return dx


class FixedNoise:
    """A stand-in for a generator whose `standard_normal` hands out given arrays in turn (the
    by-hand case of the sampling exercise); a draw beyond them is an error that says why."""

    def __init__(self, draws: list) -> None:
        self.draws = [np.array(d, dtype=np.float64) for d in draws]

    def standard_normal(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> np.ndarray:
        if not self.draws:
            raise RuntimeError("standard_normal was called once more than this case draws (one draw per "
                               "forward): is new noise drawn in backward, or twice in forward? reuse self.eps")
        a = self.draws.pop(0)
        if size is not None and tuple(np.atleast_1d(size)) != a.shape:
            raise ValueError(f"this case draws eps of shape {a.shape}, standard_normal was asked for {size}")
        return a.astype(dtype)


def noise(spec: Any) -> Any:
    """The generator a call sets as `self.rng`: a fresh one from an int seed, or FixedNoise."""
    if isinstance(spec, dict):
        return FixedNoise(spec["fixed"])
    return np.random.default_rng(int(spec))


def _held(grads: Any) -> dict:
    """Copies of what a piece's grads hold as its backward starts (zeros, if the model zeroed them)."""
    if not isinstance(grads, dict):
        return {}
    return {k: np.array(v, dtype=np.float64, copy=True) for k, v in grads.items()
            if isinstance(v, np.ndarray)}


def make_pieces(specs: list[dict], log: list) -> list:
    out = []
    for s in specs:
        if s["kind"] == "dense":
            out.append(ChainDense(s["name"], s["kernel"], s["bias"], s["activation"], log))
        else:
            out.append(HandPiece(s["name"], log, s.get("scale", 1.0), s.get("w"), s.get("c")))
    return out


# -- the parts ---------------------------------------------------------------------------------------
Emit = Callable[[dict], None]


def _write_params(obj: Any, params: dict[str, np.ndarray]) -> None:
    have = getattr(obj, "params", None)
    for key, value in params.items():
        arr = have.get(key) if isinstance(have, dict) else None
        if not isinstance(arr, np.ndarray) or arr.shape != value.shape:
            got = getattr(arr, "shape", type(arr).__name__)
            raise ValueError(f"self.params[{key!r}] should be an array of shape {value.shape} (as the "
                             f"template makes it), got {got}")
        arr[...] = value


def _set_grads(obj: Any, given: dict[str, np.ndarray] | None) -> list[str]:
    """Before a backward: every array in the piece's grads set in place to zeros (as a model
    zeroes them at the start of a step), or to `given[key]` where the call carries one. An
    entry that is not an array of its given shape is left as it is (the rubric reports it).
    Returns the keys that were set."""
    grads = getattr(obj, "grads", None)
    if not isinstance(grads, dict):
        return []
    done = []
    for key, arr in list(grads.items()):
        if not isinstance(arr, np.ndarray):
            continue
        value = (given or {}).get(key)
        if value is None:
            arr[...] = 0
        elif arr.shape == value.shape:
            arr[...] = value
        else:
            continue
        done.append(key)
    return done


def run_piece(cls: type, part: dict, emit: Emit, filename: str) -> None:
    obj = cls(*part.get("init", []), **part.get("init_kw", {}))
    for i, call in enumerate(part["calls"]):
        rec: dict[str, Any] = {"call": i}
        try:
            if call.get("params"):
                _write_params(obj, call["params"])
            inputs = [np.array(a, copy=True) for a in call["inputs"]]
            if call.get("rng") is not None:
                obj.rng = noise(call["rng"])
            rec["forward"] = encode(obj.forward(*inputs))
            if call.get("forward_only"):
                rec["inputs_after"] = [encode(a) for a in inputs]
                emit(rec)
                continue
            dy = None if call.get("dy") is None else np.array(call["dy"], copy=True)
            grads = getattr(obj, "grads", None)
            filled = {k: grads[k] for k in _set_grads(obj, call.get("grads"))}
            with counting_calls([cls]) as n:
                try:
                    result = obj.backward() if dy is None else obj.backward(dy)
                    rec["backward"] = encode(result)
                except Exception as exc:
                    rec["error"] = {**describe(exc, filename), "phase": "backward"}
            rec["forward_calls"] = n[0]
            grads = getattr(obj, "grads", None)
            if isinstance(grads, dict):
                rec["grads"] = encode(grads)
                # an entry bound to a new array: the array the grader set (and a model holds) is not it
                rec["grads_replaced"] = [k for k, a in filled.items() if grads.get(k) is not a][:MAX_ITEMS]
            rec["inputs_after"] = [encode(a) for a in inputs]
            if dy is not None:
                rec["dy_after"] = encode(dy)
        except Exception as exc:
            rec.setdefault("error", {**describe(exc, filename), "phase": "forward" if "forward" not in rec
                                     else "backward"})
        except BaseException as exc:      # a time limit or an exit mid-call: what was done, then stop
            rec.setdefault("error", {**describe(exc, filename), "phase": "backward" if "forward" in rec
                                     else "forward"})
            emit(rec)
            raise
        emit(rec)


def run_adam(cls: type, part: dict, emit: Emit, filename: str) -> None:
    opt = cls(**part.get("init_kw", {}))
    params: dict[str, _Watched] = {}
    for i, step in enumerate(part["steps"]):
        rec: dict[str, Any] = {"call": i}
        triples = []
        for path, p0, g in step:
            if path not in params:
                params[path] = watched(p0)
            _Watched.last[id(params[path])] = None
            triples.append((path, params[path], np.array(g, copy=True)))
        try:
            opt.apply(triples)
        except Exception as exc:
            rec["error"] = {**describe(exc, filename), "phase": "apply"}
        rec["params"] = {path: encode(p) for path, p in params.items()}
        rec["rebound"] = {path: encode(_Watched.last.get(id(p))) for path, p in params.items()
                          if _Watched.last.get(id(p)) is not None}
        rec["grads_after"] = {path: encode(g) for path, _, g in triples}
        emit(rec)


def run_model(cls: type, part: dict, emit: Emit, filename: str) -> None:
    log: list = []
    pieces = make_pieces(part["pieces"], log)
    model = cls(pieces)
    first = None
    for i, call in enumerate(part["calls"]):
        rec: dict[str, Any] = {"call": i}
        for piece in pieces:
            for key, value in call.get("params", {}).get(piece.name, {}).items():
                piece.params[key][...] = value
            _set_grads(piece, call.get("stale", {}).get(piece.name))   # a step before's: the model zeroes them
        x, dy = np.array(call["x"], copy=True), np.array(call["dy"], copy=True)
        del log[:]
        try:
            rec["forward"] = encode(model.forward(x))
            with counting_calls([type(p) for p in pieces] + [cls]) as n:
                try:
                    result = model.backward(dy)
                    rec["backward"] = encode(result)
                    if i == 0:
                        first = result
                except Exception as exc:
                    rec["error"] = {**describe(exc, filename), "phase": "backward"}
            rec["forward_calls"] = n[0]
        except Exception as exc:
            rec.setdefault("error", {**describe(exc, filename), "phase": "forward"})
        rec["log"] = [[name, encode(handed), encode(back), encode(held)]
                      for name, handed, back, held in log[:MAX_ITEMS]]
        rec["inputs_after"] = [encode(x)]
        rec["dy_after"] = encode(dy)
        emit(rec)
    if first is not None:           # call 0's result as it is now: copies stay, live arrays moved
        emit({"later": encode(first)})


RUNNERS = {"piece": run_piece, "adam": run_adam, "model": run_model}


# -- one part at a time, under an alarm -------------------------------------------------------------
class PartTimeout(BaseException):
    """Raised by the alarm in a part that runs too long (not an Exception: a submission's
    `except Exception` does not swallow it)."""


@contextmanager
def alarm(seconds: float | None) -> Iterator[None]:
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def ring(signum, frame):
        raise PartTimeout()

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)   # and every 50 ms until the part ends
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_parts(cls: type, parts: list[dict], emit: Emit, *, filename: str = "",
              part_timeout: float | None = None) -> None:
    """Run every part on `cls`, each on instances of its own, emitting each record tagged with
    its part's name; {"part", "error"} when a part stops early (an exception outside a call, a
    time limit), {"part", "end": True} when it ran to its end."""
    for part in parts:
        name = part["name"]
        tag = lambda rec, name=name: emit({"part": name, **rec})
        try:
            with alarm(part_timeout):
                RUNNERS[part["kind"]](cls, part, tag, filename)
            emit({"part": name, "end": True})
        except PartTimeout:
            emit({"part": name, "error": {"type": "timeout", "message": f"this part took more than "
                  f"{part_timeout:g} s (an endless loop, or a sleep?)", "line": None, "code": None}})
        except BaseException as exc:
            emit({"part": name, "error": describe(exc, filename)})


def main(fd: int) -> None:
    request = decode_trusted(json.loads(sys.stdin.readline()))
    sys.stdin.close()
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    channel = os.fdopen(fd, "w", encoding="utf-8")
    token = request["token"]

    def emit(message: dict) -> None:
        channel.write(json.dumps({**message, "token": token}) + "\n")
        channel.flush()

    filename = request["filename"]
    timeout = request.get("part_timeout")
    try:
        try:
            with alarm(timeout):
                cls = load(request["source"], filename, request["class"])
        except PartTimeout:
            emit({"load": {"type": "timeout", "message": f"importing the file took more than "
                           f"{timeout:g} s (a loop at module level?)", "line": None, "code": None}})
        except BaseException as exc:        # SyntaxError, ImportError, SystemExit ...
            info = describe(exc, filename)
            if isinstance(exc, SyntaxError):
                info["line"], info["message"] = exc.lineno, exc.msg
            emit({"load": info})
        else:
            run_parts(cls, request["parts"], emit, filename=filename, part_timeout=timeout)
            emit({"done": True})
    except BaseException:        # the channel closed by the submission, or worse: nothing more
        os._exit(3)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
    os._exit(0)


if __name__ == "__main__":
    main(int(sys.argv[1]))

"""Saving and loading models: one .npz file with the architecture, weights and optimizer state.

File layout (a NumPy .npz archive, read with allow_pickle=False):

    __scratchae__              JSON: format name and version, the layer list, compile settings
                               (optimizer and loss configs), the shuffling generator's state
    weights/<layer>/<param>    each parameter, e.g. weights/dense/kernel
    optimizer/<slot>/<path>    the optimizer's state (Adam's momentums and velocities), and
    optimizer/iterations       its step count

So a model saved in the middle of training resumes exactly where it stopped: same weights, same
Adam moments and step count, same order of the next epochs' batches.
"""
from __future__ import annotations

import json
import os

import numpy as np

from . import losses as _losses
from . import optimizers as _optimizers
from ._files import atomic_write
from .layers import Dense, InputLayer, SymbolicTensor
from .models import Model, Sequential

FORMAT_NAME = "scratchae-model"
FORMAT_VERSION = 1


def save_model(model: Model, path: str | os.PathLike) -> None:
    """Write architecture, weights and optimizer state to one .npz file, atomically.

    The file is written under a temporary name in the same folder and renamed over `path`
    only when complete, so an interrupted or failed save leaves any existing file intact.
    """
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built: it has no weights to save yet")
    path = os.fspath(path)
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "model": model.get_config(),
            "compile": None, "rng_state": None}
    arrays: dict[str, np.ndarray] = {}
    for p, param, _ in model.parameters():
        arrays[f"weights/{p}"] = param
    if model.optimizer is not None:
        meta["compile"] = {"optimizer": model.optimizer.get_config(), "loss": model.loss.get_config(),
                           "fuse_sigmoid_bce": model.fuse_sigmoid_bce,
                           "pack_parameters": model.pack_parameters}
        for k, v in model.optimizer.get_state().items():
            arrays[f"optimizer/{k}"] = v
    if model.rng is not None:
        meta["rng_state"] = _rng_state_to_json(model.rng)
    arrays["__scratchae__"] = np.array(json.dumps(meta))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _rng_state_to_json(rng: np.random.Generator) -> dict:
    state = rng.bit_generator.state
    return {"bit_generator": state["bit_generator"], "state": {k: int(v) for k, v in state["state"].items()},
            "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}


def _rng_from_json(d: dict) -> np.random.Generator:
    if d.get("bit_generator") != "PCG64":
        raise ValueError(f"unsupported random generator in model file: {d.get('bit_generator')!r}")
    bg = np.random.PCG64()
    bg.state = d
    return np.random.Generator(bg)


# -- loading ------------------------------------------------------------------------------------
def load_model(path: str | os.PathLike) -> Model:
    """Read a model written by `Model.save`: architecture, weights, optimizer state.

    The file is opened without pickle and checked completely (format, version, layer list,
    every array's shape, dtype and finiteness) before a model is returned; a corrupted,
    truncated or foreign file raises ValueError and nothing is half-loaded.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:            # zipfile, zlib, format and EOF errors all land here
        raise ValueError(f"{path!r} is not a readable scratchae model file ({type(exc).__name__}: {exc})") from None
    try:
        meta = json.loads(str(arrays.pop("__scratchae__")))
    except KeyError:
        raise ValueError(f"{path!r} is an .npz file but not a scratchae model (no '__scratchae__' entry)") from None
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path!r}: model description is damaged ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path!r} is not a scratchae model file (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path!r} has model format version {meta.get('version')!r}; "
                         f"this scratchae reads version {FORMAT_VERSION}")
    try:
        model = _build_from_config(meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: invalid architecture ({exc})") from None

    weights = {k[len("weights/"):]: v for k, v in arrays.items() if k.startswith("weights/")}
    expected = {p: param for p, param, _ in model.parameters()}
    if set(weights) != set(expected):
        raise ValueError(f"{path!r}: weights {sorted(weights)} do not match the layers' {sorted(expected)}")
    for p, param in expected.items():
        w = weights[p]
        if w.shape != param.shape or w.dtype != param.dtype:
            raise ValueError(f"{path!r}: {p} is {w.dtype}{w.shape}, expected {param.dtype}{param.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{path!r}: {p} holds non-finite values")
    for p, param in expected.items():
        param[...] = weights[p]

    if meta.get("rng_state") is not None:
        try:
            model.rng = _rng_from_json(meta["rng_state"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path!r}: invalid generator state ({exc})") from None
    comp = meta.get("compile")
    if comp is not None:
        try:
            flags = {k: comp[k] for k in ("fuse_sigmoid_bce", "pack_parameters") if k in comp}
            model.compile(_optimizers.from_config(comp["optimizer"]), _losses.from_config(comp["loss"]),
                          **flags)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path!r}: invalid compile settings ({exc})") from None
        state = {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}
        model.optimizer.set_state(state)
        # the state must fit the arrays the optimizer will update (one packed vector, or one
        # array per parameter path)
        like = {path: param for path, param, _ in model.optimizer_parameters()}
        for key, arr in model.optimizer.get_state().items():
            slot, _, ppath = key.partition("/")
            if not ppath:
                continue
            want = like.get(ppath)
            if want is None or arr.shape != want.shape or arr.dtype != want.dtype:
                expected = f"{want.dtype}{want.shape}" if want is not None else f"one of {sorted(like)}"
                raise ValueError(f"{path!r}: optimizer state {key} is {arr.dtype}{arr.shape}, "
                                 f"expected {expected}")
    return model


def _build_from_config(cfg: dict) -> Model:
    layers = []
    for entry in cfg["layers"]:
        kind, lc = entry["class_name"], entry["config"]
        if kind == "InputLayer":
            layers.append(InputLayer(tuple(lc["shape"]), name=lc["name"], dtype=lc["dtype"]))
        elif kind == "Dense":
            layers.append(Dense.from_config(lc))
        else:
            raise ValueError(f"unknown layer type {kind!r}")
    if cfg["class_name"] not in ("Model", "Sequential"):
        raise ValueError(f"unknown model type {cfg['class_name']!r}")
    model = Sequential(layers, name=cfg["name"]) if cfg["class_name"] == "Sequential" else None
    if model is None:
        if not layers or not isinstance(layers[0], InputLayer):
            raise ValueError("a functional model must start with an InputLayer")
        t = SymbolicTensor(layers[0].output_shape, layers[0], None)
        inp = t
        for layer in layers[1:]:
            t = layer(t)
        model = Model(inp, t, name=cfg["name"])
    return model

"""Saving and loading models: one .npz file with the architecture, weights and optimizer state.

File layout (a NumPy .npz archive, read with allow_pickle=False):

    __scratchae__              JSON: format name and version, the layers (each with its class,
                               config and the layers it reads, in the order they run), the
                               model's inputs and outputs, compile settings (optimizer and
                               loss configs), the shuffling generator's state
    weights/<layer>/<param>    each distinct parameter array once, e.g. weights/dense/kernel
                               (a tied kernel under its first holder's name)
    optimizer/<slot>/<path>    the optimizer's state (Adam's momentums and velocities, SGD's
                               momentums); files of the previous release may also hold
                               <slot>_kept entries, which load too
    optimizer/iterations       its step count

Version 1 files (a chain of Dense layers, the previous release) load unchanged. A layer class
of your own is found through `load_model(path, custom_objects={"Name": cls})` or
`scratchae.layers.register_layer(cls)`.

So a model saved in the middle of training resumes exactly where it stopped: same weights, same
Adam moments and step count, same order of the next epochs' batches.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from . import config
from . import losses as _losses
from . import optimizers as _optimizers
from ._files import atomic_write, open_regular
from ._validate import all_finite, positive_int
from .graph import SymbolicTensor
from .layers import (LAYERS, Conv2D, Dense, Flatten, InputLayer, Layer, MaxPooling2D, Reshape,
                     UpSampling2D)
from .models import PACKED, Model
from .sequential import Sequential

#: The layers whose output shape `_parameter_shapes` reads from the JSON (their own
#: compute_output_shape, on a layer made from the config: no parameters are allocated).
_SHAPED = (Conv2D, MaxPooling2D, UpSampling2D, Flatten, Reshape)

FORMAT_NAME = "scratchae-model"
FORMAT_VERSION = 2
READS = (1, 2)             # version 1: the previous release's chains of Dense layers


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
    for p, param, _ in model.parameters():            # each distinct array once
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


def _rng_from_json(d: Any) -> np.random.Generator:
    """The shuffling generator from the state `_rng_state_to_json` wrote, every field checked:
    a ValueError naming the field otherwise (NumPy's own setter raises OverflowError,
    TypeError or KeyError, or silently takes a float)."""
    fields = ["bit_generator", "has_uint32", "state", "uinteger"]
    if not isinstance(d, dict) or sorted(d) != fields:
        raise ValueError(f"rng_state must be an object with {fields}, got {_shown(d)}")
    if d["bit_generator"] != "PCG64":
        raise ValueError(f"rng_state.bit_generator {d['bit_generator']!r} is not supported, "
                         "expected 'PCG64'")
    inner = d["state"]
    if not isinstance(inner, dict) or sorted(inner) != ["inc", "state"]:
        raise ValueError(f"rng_state.state must be an object with ['inc', 'state'], got {_shown(inner)}")
    _uint("rng_state.state.state", inner["state"], 128)
    _uint("rng_state.state.inc", inner["inc"], 128)
    if inner["inc"] % 2 == 0:
        raise ValueError(f"rng_state.state.inc must be odd (PCG64's increment), got {inner['inc']}")
    _uint("rng_state.has_uint32", d["has_uint32"], 1)
    _uint("rng_state.uinteger", d["uinteger"], 32)
    bg = np.random.PCG64()
    bg.state = d
    return np.random.Generator(bg)


def _uint(field: str, value: Any, bits: int) -> None:
    if type(value) is not int or not 0 <= value < 2 ** bits:
        span = "0 or 1" if bits == 1 else f"an integer in [0, 2**{bits})"
        raise ValueError(f"{field} must be {span}, got {_shown(value)}")


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{text if len(text) <= 60 else text[:57] + '...'} ({type(value).__name__})"


# -- loading ------------------------------------------------------------------------------------
def load_model(path: str | os.PathLike, custom_objects: dict[str, type] | None = None) -> Model:
    """Read a model written by `Model.save`: architecture, weights, optimizer state.

    The file is opened without pickle and checked completely (format, version, layer list,
    every array's shape, dtype and finiteness) before a model is returned; a corrupted,
    truncated or foreign file raises ValueError and nothing is half-loaded.

    Memory stays bounded by what the file holds: every array's header is read first, the
    layer list is checked against those shapes before any layer is built, and an array is
    read only when its stored bytes are really in the file (`Model.save` stores them
    uncompressed; a compressed entry is refused). Only a regular file is opened, and never read
    past its size (a device such as /dev/zero, a FIFO or a folder is an OSError naming it), and
    the optimizer state and the shuffling generator's are checked whole: a file without Adam's
    moments, or with a generator field out of range, is a ValueError naming the file and the field.

    custom_objects: {class name: Layer subclass} for layers of your own (Keras's argument);
    the library's own, and classes given to `scratchae.layers.register_layer`, are known.
    """
    classes = _layer_classes(custom_objects)
    path = os.fspath(path)
    try:
        archive = _Archive(path)
    except _Unreadable as exc:
        raise ValueError(f"{path!r} is not a readable scratchae model file ({exc})") from None
    with archive:
        meta = _read_meta(archive, path)
        try:
            shapes = _parameter_shapes(meta["model"], classes)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path!r}: invalid architecture ({_reason(exc)})") from None
        _check_stored_weights(archive, shapes, path, partial=True)
        try:
            model = _build_from_config(meta["model"], classes)
        except (KeyError, TypeError, ValueError, NotImplementedError) as exc:
            raise ValueError(f"{path!r}: invalid architecture ({_reason(exc)})") from None
        shapes = {p: (param.shape, param.dtype) for p, param, _ in model.parameters()}
        _check_stored_weights(archive, shapes, path)
        weights = {p: archive.read(f"weights/{p}", path) for p in shapes}
        for p, w in weights.items():
            if not all_finite(w):
                raise ValueError(f"{path!r}: {p} holds non-finite values")
        for p, param, _ in model.parameters():
            param[...] = weights[p]
        state = {name[len("optimizer/"):]: archive.read(name, path)
                 for name in archive.entries if name.startswith("optimizer/")}
    if meta.get("rng_state") is not None:
        try:
            model.rng = _rng_from_json(meta["rng_state"])
        except ValueError as exc:
            raise ValueError(f"{path!r}: invalid generator state ({exc})") from None
    comp = meta.get("compile")
    if comp is not None:
        _compile_from(model, comp, state, path)
    elif state:
        raise ValueError(f"{path!r}: optimizer state {sorted(state)} in a model saved without compile")
    return model


class _Unreadable(Exception):
    """The file is no zip of .npy arrays this module can read."""


class _Archive:
    """The .npz file, opened as a zip: every entry's .npy header read and checked on opening.

    `entries` maps each array's name to (shape, dtype). Each entry must be stored (not
    compressed) with exactly the bytes its header announces, so reading it takes no more
    memory than the file holds; `read` reads one, checking its CRC.
    """

    def __init__(self, path: str) -> None:
        file = open_regular(path, "a model file (.npz)")      # never a device, FIFO or folder
        try:
            self.zip = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            file.close()
            raise _Unreadable(f"{type(exc).__name__}: {exc}") from None
        self._file = file
        try:
            self.entries = self._headers(file.size)
        except BaseException:
            self.close()
            raise

    def _headers(self, size: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        entries = {}
        for info in self.zip.infolist():
            if not info.filename.endswith(".npy"):
                raise _Unreadable(f"entry {info.filename!r} is not a .npy array")
            if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size \
                    or info.header_offset + info.compress_size > size:
                raise _Unreadable(f"entry {info.filename!r} is compressed or larger than the file; "
                                  "Model.save stores every array as it is")
            name = info.filename[:-len(".npy")]
            if name in entries:
                raise _Unreadable(f"entry {info.filename!r} appears twice")
            entries[name] = self._header(info)
        return entries

    def _header(self, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype]:
        try:
            with self.zip.open(info) as f:
                version = npy_format.read_magic(f)
                if version not in ((1, 0), (2, 0)):
                    raise ValueError(f"unsupported .npy version {version}")
                read = (npy_format.read_array_header_1_0 if version == (1, 0)
                        else npy_format.read_array_header_2_0)
                shape, _, dtype = read(f)
                header = f.tell()
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise _Unreadable(f"entry {info.filename!r}: {exc}") from None
        if dtype.hasobject:
            raise _Unreadable(f"entry {info.filename!r} holds Python objects (pickle); refused")
        stored = info.file_size - header
        if math.prod(shape) * dtype.itemsize != stored:
            raise _Unreadable(f"entry {info.filename!r} announces {dtype}{shape} but holds {stored} bytes")
        return tuple(shape), dtype

    def read(self, name: str, path: str) -> np.ndarray:
        try:
            with self.zip.open(name + ".npy") as f:
                array = npy_format.read_array(f, allow_pickle=False)
                if f.read(1):
                    raise ValueError("data after the array")
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise ValueError(f"{path!r} is not a readable scratchae model file "
                             f"(entry {name!r}: {type(exc).__name__}: {exc})") from None
        return array

    def __enter__(self) -> "_Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.zip.close()
        self._file.close()


def _read_meta(archive: _Archive, path: str) -> dict:
    """The JSON description: checked to be a 0-d string, valid JSON, this format and version."""
    if "__scratchae__" not in archive.entries:
        raise ValueError(f"{path!r} is an .npz file but not a scratchae model (no '__scratchae__' entry)")
    shape, dtype = archive.entries["__scratchae__"]
    if shape != () or dtype.kind != "U":
        raise ValueError(f"{path!r}: model description is damaged (expected one string, got "
                         f"{dtype}{shape})")
    try:
        meta = json.loads(str(archive.read("__scratchae__", path)))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path!r}: model description is damaged ({exc})") from None
    except RecursionError:
        raise ValueError(f"{path!r}: model description is damaged (nested too deeply to be "
                         "a scratchae model)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path!r} is not a scratchae model file (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version") not in READS:
        raise ValueError(f"{path!r} has model format version {meta.get('version')!r}; "
                         f"this scratchae reads versions {', '.join(map(str, READS))}")
    if not isinstance(meta.get("model"), dict):
        raise ValueError(f"{path!r}: invalid architecture (no model description)")
    return meta


def _layer_classes(custom_objects: Any) -> dict[str, type]:
    """The layer classes a file may name: the library's, the registered ones, and yours."""
    if custom_objects is None:
        return dict(LAYERS)
    if not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects must be a dict {{class name: Layer subclass}}, got "
                        f"{type(custom_objects).__name__}")
    for name, cls in custom_objects.items():
        if not (isinstance(name, str) and isinstance(cls, type) and issubclass(cls, Layer)):
            raise TypeError(f"custom_objects must map class names to Layer subclasses, got "
                            f"{name!r}: {cls!r}")
    return {**LAYERS, **custom_objects}


def _entries(cfg: dict) -> list[tuple[str, dict, list[str] | None, bool]]:
    """(class name, config, the names of the layers it reads or None in a version-1 chain,
    whether it reads them as a list) for every layer of the description, checked for form."""
    layers = cfg["layers"]
    if not isinstance(layers, list):
        raise TypeError(f"'layers' must be a list, got {type(layers).__name__}")
    out = []
    for i, entry in enumerate(layers):
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict) \
                or not isinstance(entry.get("class_name"), str):
            raise TypeError(f"layer {i} must be {{'class_name': ..., 'config': {{...}}}}, got "
                            f"{type(entry).__name__}")
        inbound = entry.get("inbound")
        if inbound is not None and not (isinstance(inbound, list) and all(isinstance(n, str) for n in inbound)):
            raise TypeError(f"layer {i}: 'inbound' must be a list of layer names, got {inbound!r}")
        if not isinstance(entry["config"].get("name"), str):
            raise TypeError(f"layer {i} has no name")
        out.append((entry["class_name"], entry["config"], inbound, entry.get("many") is True))
    return out


def _parameter_shapes(cfg: dict, classes: dict[str, type]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{'<layer>/<param>': (shape, dtype)} of the Dense and Conv2D layers the description asks
    for, computed from the JSON alone (nothing is allocated), so that a description asking
    for more than the file holds is refused before any layer is built: each layer takes the
    sample shape of the layer it reads (a Dense its width, a Conv2D its channels), and the
    shape flows on through the layers whose output shape the JSON says (`_SHAPED`). Other
    layers are checked once built (`load_model`)."""
    shapes: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    outs: dict[str, tuple[int, ...] | None] = {}
    previous: tuple[int, ...] | None = None
    entries = _entries(cfg)
    chain = "outputs" not in cfg                         # version 1: a chain of layers
    for i, (kind, lc, inbound, _) in enumerate(entries):
        cls = classes.get(kind)
        if cls is None:
            raise ValueError(f"unknown layer type {kind!r}: pass custom_objects={{{kind!r}: "
                             f"{kind}}} to load_model, or scratchae.layers.register_layer({kind})")
        if inbound is None:                      # version 1: a chain
            shape_in = previous
        else:
            shape_in = outs.get(inbound[0]) if len(inbound) == 1 else None
        if cls is InputLayer:
            if chain and i != 0:                         # version 1: a chain starts at its input
                raise ValueError("an InputLayer can only come first")
            shape = lc["shape"]
            if not isinstance(shape, list) or not shape:
                raise ValueError(f"InputLayer shape must be a list of positive ints, got {shape!r}")
            out = tuple(positive_int(f"InputLayer shape[{k}]", d) for k, d in enumerate(shape))
        elif issubclass(cls, Dense):
            units = positive_int(f"{lc['name']} units", lc["units"])
            width_in = shape_in[0] if shape_in is not None and len(shape_in) == 1 else None
            fan_in = lc.get("input_dim") if width_in is None else width_in
            if lc.get("input_dim") is not None and lc["input_dim"] != fan_in:
                raise ValueError(f"{lc['name']} input_dim {lc['input_dim']!r} does not match the "
                                 f"width before it, {fan_in}")
            fan_in = positive_int(f"{lc['name']} input_dim", fan_in)
            dtype = np.dtype(config.standardize_dtype(lc["dtype"]))
            shapes[f"{lc['name']}/kernel"] = ((fan_in, units), dtype)
            if lc["use_bias"]:
                shapes[f"{lc['name']}/bias"] = ((units,), dtype)
            out = (units,)
        elif issubclass(cls, _SHAPED) and shape_in is not None:
            layer = cls.from_config(dict(lc))            # no parameters until built
            out = tuple(layer.compute_output_shape(shape_in))
            if isinstance(layer, Conv2D):
                dtype = np.dtype(config.standardize_dtype(lc["dtype"]))
                shapes[f"{lc['name']}/kernel"] = ((*layer.kernel_size, shape_in[-1], layer.filters), dtype)
                if layer.use_bias:
                    shapes[f"{lc['name']}/bias"] = ((layer.filters,), dtype)
        else:
            out = None
        outs[lc["name"]] = previous = out
    if not any(classes.get(entry[0]) is not InputLayer for entry in entries):
        raise ValueError("no layer that computes: a model file holds at least one")
    return shapes


def _check_stored_weights(archive: _Archive, shapes: dict, path: str, partial: bool = False) -> None:
    """The description's parameters against the stored arrays' headers: names, shapes and
    dtypes must all match and nothing else may be in the file (partial=True: only that the
    arrays `shapes` names are stored as it says, before the layers are built)."""
    stored = {k[len("weights/"):]: v for k, v in archive.entries.items() if k.startswith("weights/")}
    if (not set(shapes) <= set(stored)) if partial else set(stored) != set(shapes):
        raise ValueError(f"{path!r}: weights {sorted(stored)} do not match the layers' {sorted(shapes)}")
    for p, (shape, dtype) in shapes.items():
        got_shape, got_dtype = stored[p]
        if got_shape != shape or got_dtype != dtype:
            raise ValueError(f"{path!r}: {p} is {got_dtype}{got_shape}, expected {dtype}{shape}")
    other = sorted(k for k in archive.entries
                   if k != "__scratchae__" and not k.startswith(("weights/", "optimizer/")))
    if other:
        raise ValueError(f"{path!r}: unexpected entries {other} in a model file")


def _compile_from(model: Model, comp: Any, state: dict[str, np.ndarray], path: str) -> None:
    """Compile `model` as the file says and give its optimizer the stored state, all checked."""
    try:
        flags = {k: comp[k] for k in ("fuse_sigmoid_bce", "pack_parameters") if k in comp}
        model.compile(_optimizers.from_config(comp["optimizer"]), _losses.from_config(comp["loss"]),
                      **flags)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: invalid compile settings ({_reason(exc)})") from None
    # the state must fit the arrays the optimizer will update (one packed vector, or one
    # array per parameter path). Files written before the packed key was 'packed/*' keyed it
    # '<model name>/*': read them as the same thing.
    like = {p: param for p, param, _ in model.optimizer_parameters()}
    if PACKED in like:
        state = {_packed_key(k, model.name): v for k, v in state.items()}
    for key, arr in state.items():
        if key == "iterations":
            if arr.shape != () or arr.dtype.kind not in "iu":
                raise ValueError(f"{path!r}: optimizer state iterations is {arr.dtype}{arr.shape}, "
                                 "expected one integer")
            continue
        slot, _, ppath = key.partition("/")
        want = like.get(ppath)
        if want is None or arr.shape != want.shape or arr.dtype != want.dtype:
            expected = f"{want.dtype}{want.shape}" if want is not None else f"one of {sorted(like)}"
            raise ValueError(f"{path!r}: optimizer state {key} is {arr.dtype}{arr.shape}, "
                             f"expected {expected}")
    try:
        model.optimizer.check_saved_state(state, like)
        model.optimizer.set_state(state)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: invalid optimizer state ({_reason(exc)})") from None


def _packed_key(key: str, name: str) -> str:
    """'momentums/<model name>/*' (older files) -> 'momentums/packed/*'; other keys unchanged."""
    slot, _, path = key.partition("/")
    return f"{slot}/{PACKED}" if path == f"{name}/*" else key


def _reason(exc: BaseException) -> str:
    """A KeyError's message is only the key: say it is a missing entry."""
    return f"missing entry {exc}" if isinstance(exc, KeyError) else str(exc)


def _build_from_config(cfg: dict, classes: dict[str, type]) -> Model:
    """The model the description says: every layer from its config, linked to the layers it
    names, then called on the tensors of the layers it reads, in the saved order."""
    if cfg["class_name"] not in ("Model", "Sequential"):
        raise ValueError(f"unknown model type {cfg['class_name']!r}")
    entries = _entries(cfg)
    made = [(classes[kind].from_config(dict(lc)), inbound, many) for kind, lc, inbound, many in entries]
    by_name = {layer.name: layer for layer, _, _ in made}
    if len(by_name) != len(made):
        raise ValueError("all layer names in a model must be unique")
    for layer, _, _ in made:
        layer.link(by_name)
    if cfg["class_name"] == "Sequential":
        return Sequential([layer for layer, _, _ in made], name=cfg["name"])
    if not made or not isinstance(made[0][0], InputLayer):
        raise ValueError("a functional model must start with an InputLayer")
    tensors: dict[str, Any] = {}
    previous = None
    for layer, inbound, many in made:
        if isinstance(layer, InputLayer) and not inbound:
            tensors[layer.name] = SymbolicTensor(layer.output_shape, layer)
        else:
            if inbound is None:                                   # version 1: a chain
                args: Any = previous
            else:
                missing = [n for n in inbound if n not in tensors]
                if missing or not inbound:
                    raise ValueError(f"{layer.name} reads {missing or 'nothing'}: not a layer before it")
                args = [tensors[n] for n in inbound]
                args = args if many else args[0]
            tensors[layer.name] = layer(args)
        previous = tensors[layer.name]
    names = lambda key, default: cfg.get(key, default)
    inputs = [tensors[n] for n in names("inputs", [made[0][0].name])]
    outputs = [tensors[n] for n in names("outputs", [made[-1][0].name])]
    return Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                 name=cfg["name"])

"""One lookup for every argument that is "a name or an object": activation="relu",
loss="binary_crossentropy", optimizer="adam", kernel_initializer="glorot_uniform",
activity_regularizer="l1", and the rebuilding of saved objects from their configs.

    >>> lookup("optimizer", "ADAM", {"adam": dict}, dict)
    {}
    >>> lookup("optimizer", "adamw", {"adam": dict}, dict)
    Traceback (most recent call last):
    ...
    ValueError: unknown optimizer 'adamw': expected one of ['adam']
"""
from __future__ import annotations

from typing import Any, Callable


def lookup(kind: str, identifier: Any, names: dict[str, Callable], accepts: type | tuple,
           *, call: bool = True) -> Any:
    """`identifier` itself if it is an `accepts` instance; for a name, `names[name.lower()]`,
    called (a fresh object) unless call=False; else a ValueError listing the names, or a
    TypeError saying what was expected."""
    if isinstance(identifier, accepts):
        return identifier
    if isinstance(identifier, str):
        try:
            found = names[identifier.lower()]
        except KeyError:
            raise ValueError(f"unknown {kind} {identifier!r}: expected one of {sorted(names)}") from None
        return found() if call else found
    expected = "a name or a callable" if not call else f"a name or a scratchae {_names(accepts)}"
    raise TypeError(f"{kind} must be {expected}, got {type(identifier).__name__}")


def from_config(kind: str, config: Any, classes: dict[str, type]) -> Any:
    """`classes[config["class_name"]](**the other entries)`: the inverse of `get_config()`."""
    try:
        cls = classes[config["class_name"]]
        return cls(**{k: v for k, v in config.items() if k != "class_name"})
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a {kind} config: {config!r}") from exc


def _names(accepts: type | tuple) -> str:
    types = accepts if isinstance(accepts, tuple) else (accepts,)
    return " or ".join(t.__name__ for t in types)

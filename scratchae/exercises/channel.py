"""The grader's side of the result channel: what the child wrote, read as data and validated.

The child (`runner.py`) writes one JSON line per record, each carrying the run's random token.
`read` keeps the lines with the token, and `value` turns an encoded value back into what the
submission returned, refusing anything that is not plain data: an array only of a numeric or
boolean dtype of at most 8 bytes, at most 4 dimensions and `MAX_ELEMENTS` elements, whose
bytes match its shape; a number; a tuple or dict of those. Nothing is unpickled or evaluated.
A record the child was not asked for, or a second record for one call, marks the run as
tampered with (`Records.tampered`): the submission wrote to the grader's channel itself.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._text import clean

MAX_ELEMENTS = 1_000_000
MAX_DIMS = 4


class Other:
    """A value that is not an array or a number: described, never rebuilt."""

    def __init__(self, what: str) -> None:
        self.what = clean(what, 200)

    def __repr__(self) -> str:
        return self.what


def value(obj: Any, depth: int = 0) -> Any:
    """An encoded value as data: ndarray, float, tuple, dict, or Other (what it was)."""
    if not isinstance(obj, dict) or depth > 3:
        return Other("something the grader cannot read")
    if "array" in obj:
        try:
            dtype = np.dtype(str(obj["array"]))
            shape = tuple(int(s) for s in obj["shape"])
            if dtype.kind not in "biuf" or dtype.itemsize > 8 or len(shape) > MAX_DIMS \
                    or any(s < 0 for s in shape) or math.prod(shape) > MAX_ELEMENTS:
                return Other(f"an array the grader does not read ({dtype}, shape {shape})")
            raw = base64.b64decode(str(obj["data"]), validate=True)
            if len(raw) != dtype.itemsize * math.prod(shape):
                return Other("an array whose bytes do not match its shape")
            return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        except (TypeError, ValueError, binascii.Error, KeyError):
            return Other("an array the grader cannot read")
    if obj.get("none") is True:
        return None
    if "number" in obj:
        x = obj["number"]
        return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else Other("a number")
    if "tuple" in obj and isinstance(obj["tuple"], list):
        return tuple(value(v, depth + 1) for v in obj["tuple"][:64])
    if "dict" in obj and isinstance(obj["dict"], list):
        out = {}
        for item in obj["dict"][:64]:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
                out[clean(item[0], 100)] = value(item[1], depth + 1)
        return out
    if "other" in obj:
        return Other(str(obj["other"]))
    return Other("something the grader cannot read")


def error(obj: Any) -> dict | None:
    """An exception's description from the child, every field cleaned, or None."""
    if not isinstance(obj, dict):
        return None
    line = obj.get("line")
    return {"type": clean(obj.get("type", "Exception"), 60), "message": clean(obj.get("message", ""), 500),
            "line": line if isinstance(line, int) and not isinstance(line, bool) else None,
            "code": clean(obj["code"], 200) if isinstance(obj.get("code"), str) else None,
            "phase": clean(obj.get("phase", ""), 20),
            "arrays": [clean(a, 80) for a in obj.get("arrays", [])[:12] if isinstance(a, str)]
            if isinstance(obj.get("arrays"), list) else []}


def say(err: dict | None, filename: str) -> str:
    """'ValueError at my_dense.py line 12 (`return ...`): shapes ...' for a learner."""
    if err is None:
        return "no result"
    where = f" at {filename} line {err['line']}" if err.get("line") else ""
    code = f" (`{err['code']}`)" if err.get("code") else ""
    message = f": {err['message']}" if err.get("message") else ""
    arrays = f" (the arrays there: {', '.join(err['arrays'])})" if err.get("arrays") else ""
    return f"{err['type']}{where}{code}{message}{arrays}"


@dataclass
class Part:
    """What one part reported: its calls' records by index, how it ended."""

    calls: dict[int, dict] = field(default_factory=dict)
    error: dict | None = None           # the part stopped early (a time limit, an exception)
    end: bool = False                   # it ran to its end
    later: Any = None                   # the model part: call 0's result, read again at the end


@dataclass
class Records:
    """Everything one run reported, by part."""

    parts: dict[str, Part] = field(default_factory=dict)
    load: dict | None = None            # the file could not be loaded, and why
    done: bool = False
    tampered: list[str] = field(default_factory=list)


def read(data: bytes, token: str, expected: dict[str, int]) -> Records:
    """The records with `token` in `data`; `expected` maps each part's name to its number of
    calls. Lines without the token are ignored (a printed line, a stray write); a line with the
    token that the child was not asked for, or repeats a record, is noted in `tampered`."""
    rec = Records()
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if not isinstance(msg, dict) or msg.get("token") != token:
            continue
        if "load" in msg:
            if rec.load is None:
                rec.load = error(msg["load"])
            continue
        if msg.get("done") is True:
            rec.done = True
            continue
        name = msg.get("part")
        if name not in expected:
            rec.tampered.append(f"a record for a part the grader did not ask for ({clean(name, 40)!r})")
            continue
        part = rec.parts.setdefault(name, Part())
        call = msg.get("call")
        if "call" in msg:
            if not (isinstance(call, int) and 0 <= call < expected[name]) or call in part.calls:
                rec.tampered.append(f"part {name!r}: a repeated or unknown call {clean(call, 20)}")
            else:
                part.calls[call] = msg
        elif "error" in msg:
            part.error = part.error or error(msg["error"])
        elif msg.get("end") is True:
            part.end = True
        elif "later" in msg:
            if part.later is not None:
                rec.tampered.append(f"part {name!r}: a repeated record")
            part.later = value(msg["later"])
    return rec

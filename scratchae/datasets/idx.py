"""Reading and writing the IDX file format used by MNIST and Fashion-MNIST.

An IDX file is a tiny header followed by raw array data, everything big-endian:

    bytes 0-1   always zero
    byte  2     element type code (see ``TYPE_CODES``)
    byte  3     number of dimensions d
    4*d bytes   each dimension as an unsigned 32-bit integer
    the rest    the elements, row-major (C order)

So MNIST images start with the magic number 0x00000803 (= 2051: uint8, 3 dimensions, then
N, 28, 28) and labels with 0x00000801 (= 2049: uint8, 1 dimension, then N).  The files are
usually distributed gzip-compressed; ``read_idx`` recognises gzip by its first two bytes
(1f 8b), whatever the file is called.

Every malformed input raises ``ValueError`` naming the file, what was expected and what was
found; nothing here ever unpickles.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from .._files import atomic_write

__all__ = ["TYPE_CODES", "IMAGES_MAGIC", "LABELS_MAGIC", "read_idx", "write_idx"]

# IDX element type code -> big-endian NumPy dtype.
TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND: dict[tuple[str, int], int] = {
    (dt.kind, dt.itemsize): code for code, dt in TYPE_CODES.items()
}

IMAGES_MAGIC = 0x00000803  # 2051: uint8, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 0x00000801  # 2049: uint8, 1 dimension (N,)

_EXPECT: dict[str, tuple[int, str]] = {
    "images": (IMAGES_MAGIC, "images (magic 2051: uint8, 3 dimensions)"),
    "labels": (LABELS_MAGIC, "labels (magic 2049: uint8, 1 dimension)"),
}
_GZIP_MAGIC = b"\x1f\x8b"

Expect = Literal["images", "labels"] | None


def _describe_magic(magic: int) -> str:
    code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic == IMAGES_MAGIC:
        return "images (magic 2051)"
    if magic == LABELS_MAGIC:
        return "labels (magic 2049)"
    if magic >> 16 == 0 and code in TYPE_CODES:
        return f"magic {magic} ({TYPE_CODES[code].name}, {ndim} dimensions)"
    return f"magic 0x{magic:08X}"


def _read_bytes(source: str | os.PathLike | BinaryIO) -> tuple[bytes, str]:
    """Return the raw bytes of ``source`` and a name to use in error messages."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        with open(name, "rb") as fh:
            return fh.read(), name
    if not hasattr(source, "read"):
        raise TypeError(
            f"read_idx expects a path or a binary file object; got {type(source).__name__}"
        )
    name = str(getattr(source, "name", "<file object>"))
    data = source.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name}: file object must be opened in binary mode ('rb')")
    return bytes(data), name


def _gunzip(data: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(data)
    except EOFError as exc:
        raise ValueError(
            f"{name}: gzip data is truncated (expected a complete gzip stream; "
            f"found {len(data)} bytes ending early: {exc})"
        ) from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise ValueError(
            f"{name}: gzip data is corrupt (expected a valid gzip stream; found: {exc})"
        ) from None


def read_idx(source: str | os.PathLike | BinaryIO, expect: Expect = None) -> np.ndarray:
    """Read one IDX file (gzipped or raw) into a native-byte-order NumPy array.

    Parameters
    ----------
    source:
        A path, or a file object opened in binary mode.  Gzip is detected from the content.
    expect:
        ``"images"`` to require magic 2051 (uint8, 3-D), ``"labels"`` to require magic 2049
        (uint8, 1-D), or ``None`` to accept any valid IDX type.

    Returns
    -------
    A new, writable array with the dtype of the type code (uint8 for MNIST) and the shape
    from the header.

    Raises
    ------
    ValueError
        Truncated or corrupt gzip, wrong magic, a header that does not fit, a data size that
        disagrees with the header, or a file of the other kind than ``expect``.
    """
    if expect is not None and expect not in _EXPECT:
        raise ValueError(f"expect must be None, 'images' or 'labels'; got {expect!r}")
    raw, name = _read_bytes(source)
    data = _gunzip(raw, name) if raw[:2] == _GZIP_MAGIC else raw

    if len(data) < 4:
        raise ValueError(
            f"{name}: too short for an IDX header (expected at least 4 bytes; found {len(data)})"
        )
    magic = int.from_bytes(data[:4], "big")
    zero, code, ndim = magic >> 16, data[2], data[3]
    if zero != 0 or code not in TYPE_CODES or ndim == 0:
        known = ", ".join(f"0x{c:02X}" for c in TYPE_CODES)
        raise ValueError(
            f"{name}: not an IDX file (expected two zero bytes, a type code in {{{known}}} "
            f"and at least one dimension; found magic 0x{magic:08X})"
        )
    if expect is not None:
        want, label = _EXPECT[expect]
        if magic != want:
            raise ValueError(f"{name}: expected {label}; found {_describe_magic(magic)}")

    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{name}: header is truncated (expected {header_len} bytes for {ndim} dimensions; "
            f"found {len(data)})"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = TYPE_CODES[code]
    count = 1
    for d in shape:
        count *= d
    want_bytes = count * dtype.itemsize
    have_bytes = len(data) - header_len
    if have_bytes != want_bytes:
        what = "truncated" if have_bytes < want_bytes else "longer than its header says"
        raise ValueError(
            f"{name}: data is {what} (expected {want_bytes} bytes for shape {shape} of "
            f"{dtype.name}; found {have_bytes})"
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header_len).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _encode(array: np.ndarray) -> bytes:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"write_idx expects a NumPy array; got {type(array).__name__}")
    code = _CODE_OF_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        allowed = ", ".join(dt.name for dt in TYPE_CODES.values())
        raise TypeError(f"IDX cannot store dtype {array.dtype}; expected one of {allowed}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions; got an array with {array.ndim}")
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"IDX dimensions must fit in 32 bits; got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        d.to_bytes(4, "big") for d in array.shape
    )
    body = np.ascontiguousarray(array, dtype=TYPE_CODES[code]).tobytes()
    return header + body


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` to ``path`` as an IDX file, atomically.

    ``compress=None`` gzips when the file name ends in ``.gz``; ``True``/``False`` force it.
    The gzip header carries no timestamp, so the same array always gives the same bytes.
    The data goes to a temporary file in the same folder, which then replaces ``path``
    (``os.replace``); on any error the temporary file is removed and ``path`` is untouched.
    Returns the path written.
    """
    path = Path(path)
    payload = _encode(array)
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    write_atomic(path, payload)
    return path


def write_atomic(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file and ``os.replace``."""
    atomic_write(path, lambda fh: fh.write(payload))

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
found; nothing here ever unpickles. A path is read only if it names a regular file, and never
past the size it had when opened (a FIFO, a device such as /dev/zero or a folder is an
``OSError`` naming it, see ``scratchae._files.open_regular``).
"""

from __future__ import annotations

import gzip
import io
import math
import os
import sys
import zlib
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from .._files import atomic_write, open_regular

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


#: Deflate cannot expand data more than about 1032 times; a header announcing more than
#: this many bytes per byte of gzip file cannot be telling the truth.
MAX_GZIP_RATIO = 1040
_CHUNK = 1 << 20


class _Source:
    """The bytes of an IDX file, read as a stream: gunzipped on the fly when the file starts
    with the gzip magic, so no more is ever decompressed than is asked for."""

    def __init__(self, source: str | os.PathLike | BinaryIO) -> None:
        if isinstance(source, (str, os.PathLike)):
            self.name = os.fspath(source)
            reader = open_regular(self.name, "an IDX file")   # never a device, FIFO or folder
            raw: BinaryIO = reader
            self.size = reader.size
        elif hasattr(source, "read"):
            self.name = str(getattr(source, "name", "<file object>"))
            data = source.read()
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"{self.name}: file object must be opened in binary mode ('rb')")
            raw, self.size = io.BytesIO(bytes(data)), len(data)
        else:
            raise TypeError(
                f"read_idx expects a path or a binary file object; got {type(source).__name__}"
            )
        self._raw = raw
        self.gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        self.stream: BinaryIO | _Gunzip = _Gunzip(raw) if self.gzipped else raw

    def read(self, n: int) -> bytearray:
        """Up to `n` bytes (fewer only at the end of the data), in 1 MiB steps."""
        out = bytearray()
        try:
            while len(out) < n:
                chunk = self.stream.read(min(_CHUNK, n - len(out)))
                if not chunk:
                    break
                out += chunk
        except EOFError as exc:
            raise ValueError(
                f"{self.name}: gzip data is truncated (expected a complete gzip stream; "
                f"found {self.size} bytes ending early: {exc})"
            ) from None
        except (zlib.error, OSError) as exc:
            raise ValueError(
                f"{self.name}: gzip data is corrupt (expected a valid gzip stream; found: {exc})"
            ) from None
        return out

    def close(self) -> None:
        self._raw.close()


class _Gunzip:
    """Gzip decompression that produces exactly the bytes asked for, never more (Python's
    GzipFile reads ahead a buffer's worth). Members follow one another as in `gzip`; zero
    bytes after the last one are ignored, anything else is an error. zlib checks each
    member's CRC and length when it reaches the member's end."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._unzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._input = b""

    def read(self, n: int) -> bytes:
        out, got = [], 0
        while got < n:
            if self._unzip.eof and not self._next_member():
                break
            data = self._input or self._unzip.unconsumed_tail or self._raw.read(_CHUNK)
            self._input = b""
            if not data:
                raise EOFError("compressed file ended before the end-of-stream marker was reached")
            chunk = self._unzip.decompress(data, n - got)
            out.append(chunk)
            got += len(chunk)
        return b"".join(out)

    def _next_member(self) -> bool:
        """After a member's end: start the next member, or say the data has ended."""
        rest = self._unzip.unused_data
        while len(rest) < 2 and (more := self._raw.read(_CHUNK)):
            rest += more
        if rest[:2] == _GZIP_MAGIC:
            self._unzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._input = rest
            return True
        while rest:
            if rest.strip(b"\0"):
                raise OSError("trailing garbage after the gzip data")
            rest = self._raw.read(_CHUNK)
        return False


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

    The header is read and checked first; then exactly the bytes it announces are read, plus
    one to detect trailing data: a gzip file is never decompressed further (a small file that
    would decompress to gigabytes costs only what its header announces), and a header that
    announces more than a gzip file of its size can hold is refused before any data is read.
    (A gzip file whose first bytes are no IDX header is read on at most 1 MiB, to tell
    damaged gzip data from a foreign file.)

    Raises
    ------
    ValueError
        Truncated or corrupt gzip, wrong magic, a header that does not fit, a data size that
        disagrees with the header, or a file of the other kind than ``expect``.
    """
    if expect is not None and expect not in _EXPECT:
        raise ValueError(f"expect must be None, 'images' or 'labels'; got {expect!r}")
    src = _Source(source)
    try:
        shape, dtype, header_len = _read_header(src, expect)
        return _read_data(src, shape, dtype, header_len)
    finally:
        src.close()


def _read_header(src: _Source, expect: Expect) -> tuple[tuple[int, ...], np.dtype, int]:
    name = src.name
    head = src.read(4)
    if len(head) < 4:
        raise ValueError(
            f"{name}: too short for an IDX header (expected at least 4 bytes; found {len(head)})"
        )
    magic = int.from_bytes(head, "big")
    zero, code, ndim = magic >> 16, head[2], head[3]
    if zero != 0 or code not in TYPE_CODES or ndim == 0:
        if src.gzipped:          # damaged gzip often decodes to garbage before zlib notices:
            src.read(_CHUNK)     # read on a little (at most 1 MiB) to report that instead
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
    dims = src.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(
            f"{name}: header is truncated (expected {header_len} bytes for {ndim} dimensions; "
            f"found {4 + len(dims)})"
        )
    shape = tuple(int.from_bytes(dims[4 * i : 4 + 4 * i], "big") for i in range(ndim))
    return shape, TYPE_CODES[code], header_len


def _read_data(src: _Source, shape: tuple[int, ...], dtype: np.dtype, header_len: int) -> np.ndarray:
    want_bytes = math.prod(shape) * dtype.itemsize
    described = f"{want_bytes} bytes for shape {shape} of {dtype.name}"
    if src.gzipped and want_bytes > MAX_GZIP_RATIO * src.size:
        raise ValueError(
            f"{src.name}: header announces {described}, more than a gzip file of {src.size} "
            f"bytes can hold (at most {MAX_GZIP_RATIO} times its size); the file is damaged"
        )
    if not src.gzipped and want_bytes != src.size - header_len:
        have = src.size - header_len
        what = "truncated" if have < want_bytes else "longer than its header says"
        raise ValueError(f"{src.name}: data is {what} (expected {described}; found {have})")
    data = src.read(want_bytes)
    if len(data) < want_bytes:
        raise ValueError(
            f"{src.name}: data is truncated (expected {described}; found {len(data)})"
        )
    if src.read(1):
        raise ValueError(
            f"{src.name}: data is longer than its header says (expected {described}; found "
            "more, not decompressed further)"
        )
    arr = np.frombuffer(data, dtype=dtype.newbyteorder("="))   # a view of our own bytearray
    if dtype.itemsize > 1 and sys.byteorder == "little":         # IDX is big-endian
        arr.byteswap(inplace=True)
    return arr.reshape(shape)


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

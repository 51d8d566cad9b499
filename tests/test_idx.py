"""Tests for scratchae.datasets.idx: round trips, known bytes, and every malformed case."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scratchae.datasets.idx import read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@st.composite
def idx_arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    if dtype.kind == "f":
        elements = st.floats(width=8 * dtype.itemsize, allow_nan=False)
    else:
        elements = None
    return draw(hnp.arrays(dtype, shape, elements=elements))


@settings(max_examples=60, deadline=None)
@given(arr=idx_arrays(), compress=st.booleans())
def test_round_trip_any_type_and_shape(tmp_path_factory, arr, compress):
    path = tmp_path_factory.mktemp("rt") / "a.idx"
    write_idx(path, arr, compress=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.dtype == arr.dtype.newbyteorder("=")
    assert back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    assert back.flags.writeable


@settings(max_examples=30, deadline=None)
@given(arr=idx_arrays())
def test_round_trip_through_file_objects(arr):
    """Bytes built independently of write_idx (the spec's layout) read back equal."""
    buf = io.BytesIO(_raw_idx(arr))
    np.testing.assert_array_equal(read_idx(buf), arr)
    buf = io.BytesIO(gzip.compress(_raw_idx(arr)))
    np.testing.assert_array_equal(read_idx(buf), arr)


def _raw_idx(arr: np.ndarray) -> bytes:
    code = {np.uint8: 8, np.int8: 9, np.int16: 11, np.int32: 12, np.float32: 13, np.float64: 14}
    header = bytes([0, 0, code[arr.dtype.type], arr.ndim])
    header += b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def test_known_bytes_for_mnist_style_files(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "img", images, compress=False)
    raw = (tmp_path / "img").read_bytes()
    assert raw[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c")
    assert raw[16:] == images.tobytes()
    labels = np.array([7, 2, 1], dtype=np.uint8)
    write_idx(tmp_path / "lab", labels, compress=False)
    assert (tmp_path / "lab").read_bytes() == bytes.fromhex("00000801 00000003 070201")


def test_multibyte_values_are_big_endian(tmp_path):
    write_idx(tmp_path / "i", np.array([1, -2], dtype=np.int32), compress=False)
    assert (tmp_path / "i").read_bytes()[8:] == bytes.fromhex("00000001 fffffffe")
    back = read_idx(tmp_path / "i")
    assert back.dtype == np.dtype("int32") and back.dtype.isnative
    np.testing.assert_array_equal(back, [1, -2])


def test_gzip_is_detected_by_content_not_name(tmp_path):
    arr = np.arange(6, dtype=np.uint8)
    write_idx(tmp_path / "plain.gz", arr, compress=False)  # .gz name, raw content
    write_idx(tmp_path / "packed.idx", arr, compress=True)  # plain name, gzip content
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed.idx"), arr)
    write_idx(tmp_path / "auto.gz", arr)  # compress=None follows the extension
    assert (tmp_path / "auto.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_write_is_deterministic(tmp_path):
    arr = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", arr)
    write_idx(tmp_path / "b.gz", arr)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


# --- malformed input -------------------------------------------------------------------------


def _images_file(tmp_path: Path, n: int = 3, name: str = "images") -> Path:
    return write_idx(tmp_path / name, np.ones((n, 28, 28), np.uint8), compress=False)


def test_truncated_data_names_file_and_sizes(tmp_path):
    path = _images_file(tmp_path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"images: data is truncated .*expected 2352 bytes.*found 2342"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes.fromhex("00000803 00000002"))
    with pytest.raises(ValueError, match=r"short: header is truncated .*expected 16 bytes.*found 8"):
        read_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match=r"too short for an IDX header"):
        read_idx(path)


def test_extra_bytes_after_data(tmp_path):
    path = _images_file(tmp_path)
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match=r"longer than its header says"):
        read_idx(path)


@pytest.mark.parametrize(
    "head", ["504b0304", "00000703", "01000803", "00000800"], ids=["zip", "badtype", "nonzero", "0-dim"]
)
def test_wrong_magic(tmp_path, head):
    path = tmp_path / "bad"
    path.write_bytes(bytes.fromhex(head) + bytes(20))
    with pytest.raises(ValueError, match=r"bad: not an IDX file .*found magic 0x"):
        read_idx(path)


def test_labels_where_images_expected_and_vice_versa(tmp_path):
    labels = write_idx(tmp_path / "labels.gz", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match=r"labels.gz: expected images \(magic 2051.*found labels \(magic 2049\)"):
        read_idx(labels, expect="images")
    images = _images_file(tmp_path)
    with pytest.raises(ValueError, match=r"expected labels \(magic 2049.*found images \(magic 2051\)"):
        read_idx(images, expect="labels")
    floats = write_idx(tmp_path / "f", np.zeros((1, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"expected images.*found magic 3331 \(float32, 3 dimensions\)"):
        read_idx(floats, expect="images")
    assert read_idx(images, expect="images").shape == (3, 28, 28)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "c.gz"
    good = gzip.compress(_raw_idx(np.arange(1000, dtype=np.int32)))
    path.write_bytes(good[:10] + bytes(b ^ 0xFF for b in good[10:30]) + good[30:])
    with pytest.raises(ValueError, match=r"c.gz: gzip data is corrupt"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(_raw_idx(np.arange(1000, dtype=np.int32)))[:-40])
    with pytest.raises(ValueError, match=r"t.gz: gzip data is truncated"):
        read_idx(path)


def test_file_object_name_in_errors():
    buf = io.BytesIO(b"\x00\x00\x08")
    with pytest.raises(ValueError, match=r"<file object>: too short"):
        read_idx(buf)
    with pytest.raises(TypeError, match=r"binary mode"):
        read_idx(io.StringIO("abc"))
    with pytest.raises(TypeError, match=r"path or a binary file object"):
        read_idx(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"expect must be"):
        read_idx(io.BytesIO(b""), expect="pixels")  # type: ignore[arg-type]


def test_write_rejects_unsupported_arrays(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
    with pytest.raises(TypeError, match=r"cannot store dtype bool"):
        write_idx(tmp_path / "x", np.zeros(3, bool))
    with pytest.raises(ValueError, match=r"1 to 255 dimensions; got an array with 0"):
        write_idx(tmp_path / "x", np.array(3, np.uint8))
    with pytest.raises(TypeError, match=r"NumPy array"):
        write_idx(tmp_path / "x", [1, 2, 3])  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "keep.gz", np.arange(5, dtype=np.uint8))
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr("scratchae.datasets.idx.os.replace", boom)
    with pytest.raises(OSError, match="simulated"):
        write_idx(path, np.arange(9, dtype=np.uint8))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.gz"]


# --- a small file that would unpack to a huge one ---------------------------------------------
def test_gzip_is_not_decompressed_past_the_announced_data(tmp_path):
    """Announced data, then a tail whose deflate stream is garbage: a reader that stops after
    the announced bytes plus one reports trailing data; one that unpacks everything first
    (as before) reports corruption. The memory side: tests/test_memory_bounds.py."""
    good = _raw_idx(np.arange(784, dtype=np.uint8).reshape(1, 28, 28))
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = deflate.compress(good + bytes(4096)) + deflate.flush(zlib.Z_FULL_FLUSH)
    path = tmp_path / "bomb.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + b"\xff" * 64)
    with pytest.raises(ValueError, match=r"bomb.gz: data is longer than its header says .*not decompressed further"):
        read_idx(path)


def test_header_announcing_more_than_a_gzip_file_can_hold(tmp_path):
    path = tmp_path / "liar.gz"
    header = bytes([0, 0, 8, 3]) + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    path.write_bytes(gzip.compress(header + bytes(100)))
    with pytest.raises(ValueError, match=r"announces 47040000 bytes .* more than a gzip file of \d+ bytes can hold"):
        read_idx(path)


def test_raw_file_size_is_checked_before_reading(tmp_path):
    path = tmp_path / "raw"
    header = bytes([0, 0, 8, 1]) + (2**31).to_bytes(4, "big")
    path.write_bytes(header + bytes(10))
    with pytest.raises(ValueError, match=r"data is truncated \(expected 2147483648 bytes .*found 10\)"):
        read_idx(path)


def test_big_endian_values_survive_the_in_place_byte_swap(tmp_path):
    values = np.array([[1.5, -2.25], [1e300, -0.0]], dtype=np.float64)
    for compress in (False, True):
        back = read_idx(write_idx(tmp_path / f"v{compress}", values, compress=compress))
        assert back.dtype == np.float64 and back.flags.writeable and back.tobytes() == values.tobytes()

"""What a tiny file can make scratchae allocate, measured under a lowered address-space limit.

Each case runs in a fresh interpreter that lowers its own RLIMIT_AS to what it uses after
importing scratchae plus BUDGET, then opens the file: an allocation of the size the file only
*announces* (1.7 GB for a model description asking 12,000 units, 2.1 GB for a gzip bomb)
fails there with MemoryError, where reading only what the file holds passes. The child
reports the peak of the allocations it traced, which must stay small.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from scratchae.layers import Dense, Input
from scratchae.models import Model

REPO = Path(__file__).resolve().parents[1]
BUDGET = 200 << 20          # bytes the child may add to its address space after its imports

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="RLIMIT_AS and /proc/self/status are Linux's")

CHILD = """
import json, resource, sys, tracemalloc
import numpy as np
from scratchae.models import load_model
from scratchae.datasets import read_idx

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

what, path, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (status("VmSize") + budget, resource.RLIM_INFINITY))
rss = status("VmRSS")
tracemalloc.start()
try:
    (load_model if what == "model" else read_idx)(path)
    result = "loaded"
except MemoryError as exc:
    result = f"MemoryError: {exc}"
except ValueError as exc:
    result = f"ValueError: {exc}"
print(json.dumps({"result": result, "traced_peak": tracemalloc.get_traced_memory()[1],
                  "rss_growth": status("VmHWM") - rss}))
"""


def run_bounded(what: str, path: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", CHILD, what, str(path), str(BUDGET)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def small_model_file(path: Path, units: int) -> Path:
    """A 24-10-4-10-24 model file (about 10 KB) whose description asks `units` in the hidden
    layers: the arrays it holds are the small model's."""
    inp = Input(shape=(24,))
    out = Dense(24, activation="sigmoid")(Dense(10)(Dense(4)(Dense(10, activation="relu")(inp))))
    Model(inp, out, name="tiny").save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["__scratchae__"]))
    width = 24
    for layer in meta["model"]["layers"][1:]:
        c = layer["config"]
        c["input_dim"], c["units"] = width, c["units"] if c["units"] == 24 else units
        width = c["units"]
    arrays["__scratchae__"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


@pytest.mark.parametrize("units", [12_000, 10**6])
def test_load_model_memory_is_bounded_by_what_the_file_holds(tmp_path, units):
    path = small_model_file(tmp_path / "tiny.npz", units)
    assert path.stat().st_size < 12_000
    report = run_bounded("model", path)
    assert report["result"].startswith("ValueError: ") and f"expected float32(24, {units})" in report["result"]
    assert report["traced_peak"] < 2 << 20, report


def gzip_bomb(path: Path, mib: int) -> Path:
    """A gzip file of a valid one-image IDX file followed by `mib` MiB of zeros: about 1 KB of
    gzip per MiB. The gzip trailer's CRC is left wrong: a reader that decompresses everything
    runs out of memory long before it could notice."""
    header = bytes([0, 0, 8, 3]) + (1).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(header + bytes(784)) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(bytes(1 << 20)) + deflate.flush(zlib.Z_FULL_FLUSH)   # repeatable
    end = deflate.flush(zlib.Z_FINISH)
    size = (len(header) + 784 + mib * (1 << 20)) & 0xFFFFFFFF
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first + block * mib + end
                     + struct.pack("<II", 0, size))
    return path


def test_idx_reader_never_decompresses_more_than_the_header_announces(tmp_path):
    path = gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", 2048)      # 2.1 GB unpacked
    assert path.stat().st_size < 2_500_000
    report = run_bounded("idx", path)
    assert report["result"].startswith("ValueError: ") and "longer than its header says" in report["result"]
    assert report["traced_peak"] < 4 << 20, report

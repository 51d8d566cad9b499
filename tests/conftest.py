"""Shared test settings: a small hypothesis profile so the whole suite stays fast on 2 cores,
and one BLAS thread for every fit (inherited by the commands tests start).

The suite runs on busy cores (two workers on two CPUs), where more BLAS threads only cost
time, and it compares numbers between runs, which a fixed thread count keeps identical bit
for bit. The "auto" policy itself is tested in tests/test_blas.py, which clears the setting.
"""
import os

from hypothesis import settings

settings.register_profile("ci", max_examples=25, deadline=None)
settings.load_profile("ci")
os.environ.setdefault("SCRATCHAE_BLAS_THREADS", "1")


import pytest


@pytest.fixture(autouse=True)
def _no_tsne_map_by_default(request, monkeypatch):
    """`scratchae train` maps 1,000 test images with t-SNE by default (about 12 s): the suite's
    many short in-process runs skip it unless they pass --tsne themselves (test_code_maps.py
    does, and checks the real default under the mark `real_tsne_default`)."""
    if request.node.get_closest_marker("real_tsne_default") is None:
        import scratchae.cli.train

        monkeypatch.setattr(scratchae.cli.train, "TSNE_IMAGES", 0)

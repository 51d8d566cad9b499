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

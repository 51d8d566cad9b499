"""Shared test settings: a small hypothesis profile so the whole suite stays fast on 2 cores."""
from hypothesis import settings

settings.register_profile("ci", max_examples=25, deadline=None)
settings.load_profile("ci")

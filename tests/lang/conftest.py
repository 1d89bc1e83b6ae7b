"""Typed-Lua tests run their programs in a real engine (the engine fixtures, reused)."""
from tests.engine.conftest import app, make_app  # noqa: F401 - fixtures shared with the engine tests

"""Module tests run Lua inside a real engine (the engine fixtures, reused)."""
from tests.engine.conftest import app, make_app  # noqa: F401 - fixtures shared with the engine tests

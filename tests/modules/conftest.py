"""Module tests run Lua inside a real engine (the engine fixtures, reused)."""
from __future__ import annotations

import pytest

from tests.engine.conftest import LuaApp


@pytest.fixture
async def app() -> LuaApp:
    return LuaApp()


@pytest.fixture
def make_app():
    return LuaApp

"""Data tests: the engine `app` fixture, plus session fixtures that start PostgreSQL,
MariaDB and Redis (scripts/services.sh) for tests marked `databases`."""
from __future__ import annotations

import pytest

from tests.engine.conftest import FakeEntry, LuaApp, app, make_app  # noqa: F401


@pytest.fixture
async def data_app():
    a = LuaApp()
    yield a
    from wippy.data import Resources
    Resources.of(a.node).close_all()


def add_entry(a: LuaApp, entry_id: str, kind: str, **data) -> None:
    a.entries[entry_id] = FakeEntry(entry_id, kind, data)


@pytest.fixture
async def runtime():
    """A Runtime without an app folder; tests apply entries with `rt.put(...)`."""
    from wippy.registry import Entry, Op
    from wippy.runtime import Runtime

    rt = Runtime(None, node_name="test", persist_history=False)
    await rt.start()

    async def put(*entries, action=None):
        ops = []
        for eid, kind, data in entries:
            e = Entry(eid, kind, {}, data)
            op = action or ("update" if rt.registry.get(eid) is not None else "create")
            ops.append(Op.update(e) if op == "update" else Op.create(e))
        return await rt.registry.apply(ops)

    async def delete(*ids):
        return await rt.registry.apply([Op.delete(i) for i in ids])

    rt.put, rt.delete = put, delete
    yield rt
    await rt.stop()
    from wippy.data import Resources
    Resources.of(rt.node).close_all()


@pytest.fixture(scope="session")
def services():
    """Start PostgreSQL, MariaDB and Redis (scripts/services.sh) once; their settings."""
    import subprocess
    from pathlib import Path
    script = Path(__file__).resolve().parents[2] / "scripts" / "services.sh"
    p = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        pytest.fail(f"scripts/services.sh failed:\n{p.stderr[-3000:]}")
    return dict(line.split("=", 1) for line in p.stdout.split() if "=" in line)


def pg_entry(s: dict) -> dict:
    return {"host": s["WIPPY_PG_HOST"], "port": int(s["WIPPY_PG_PORT"]), "database": s["WIPPY_PG_DATABASE"],
            "username": s["WIPPY_PG_USER"], "password": s["WIPPY_PG_PASSWORD"]}


def mysql_entry(s: dict) -> dict:
    return {"host": s["WIPPY_MYSQL_HOST"], "port": int(s["WIPPY_MYSQL_PORT"]), "database": s["WIPPY_MYSQL_DATABASE"],
            "username": s["WIPPY_MYSQL_USER"], "password": s["WIPPY_MYSQL_PASSWORD"]}

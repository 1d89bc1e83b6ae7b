"""Fields the documentation defines on resource entries, each doing what it says: `lifecycle` on
databases, stores, queues and env storages; per-driver `driver_options`; `codec`; numeric file modes;
`read_only` on env variables."""
from __future__ import annotations

import asyncio
import os
import socket
import stat

import pytest

from tests.data.conftest import runtime  # noqa: F401
from wippy.data import Resources
from wippy.engine.errors import WippyError
from wippy.kinds.models import EntryInvalid, validate_entry
from wippy.registry import ApplyError, Entry


def model(kind: str, data: dict):
    return validate_entry(Entry("app:x", kind, {}, data))


@pytest.mark.parametrize("kind,data", [
    ("db.sql.sqlite", {"file": ":memory:"}),
    ("db.sql.postgres", {"database": "d"}),
    ("db.sql.mysql", {"database": "d"}),
    ("store.memory", {}),
    ("store.sql", {"database": "db"}),
    ("queue.driver.memory", {}),
    ("queue.queue", {"driver": "d"}),
    ("env.storage.memory", {}),
    ("env.storage.os", {}),
    ("env.storage.file", {"file_path": ".env"}),
    ("env.storage.static", {"values": {}}),
    ("env.storage.router", {"storages": ["a"]}),
])
def test_resource_kinds_take_a_lifecycle(kind, data):
    lc = model(kind, {**data, "lifecycle": {"auto_start": True, "start_timeout": "2s", "stop_timeout": "3s",
                                            "depends_on": ["app:other"]}}).lifecycle
    assert (lc.auto_start, lc.start_timeout, lc.stop_timeout, lc.requires) == (True, 2.0, 3.0, ["app:other"])
    assert "app:other" in model(kind, {**data, "lifecycle": {"requires": ["other"]}}).references("app")


def test_a_resource_refuses_service_only_lifecycle_fields():
    for field, value in [("restart", {"max_attempts": 3}), ("stable_threshold", "5s"), ("security", {"groups": ["g"]})]:
        with pytest.raises(EntryInvalid, match=f"lifecycle.{field} is for supervised services"):
            model("db.sql.sqlite", {"lifecycle": {field: value}})


async def test_auto_start_opens_a_database_at_once_and_refuses_one_that_cannot_open(runtime):
    rt = runtime
    refused = {"host": "127.0.0.1", "port": _closed_port(), "database": "d"}
    # without auto_start a database opens on first use: the entry loads, the use fails
    await rt.put(("app:lazy", "db.sql.postgres", refused))
    with pytest.raises(WippyError):
        await Resources.of(rt.node).database("app:lazy").query("SELECT 1", [])
    with pytest.raises(ApplyError, match="entry app:bad: db.sql.postgres: could not start: "):
        await rt.put(("app:bad", "db.sql.postgres", {**refused, "lifecycle": {"auto_start": True}}))
    assert rt.registry.get("app:bad") is None
    # startup: optional keeps the entry; it opens on first use
    await rt.put(("app:bad", "db.sql.postgres", {**refused, "lifecycle": {"auto_start": True, "startup": "optional"}}))
    assert rt.registry.get("app:bad") is not None


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_auto_start_is_bounded_by_start_timeout(runtime):
    # a server that accepts and never answers: the connect neither succeeds nor fails by itself
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    data = {"host": "127.0.0.1", "port": port, "database": "d", "connect_timeout": "30s",
            "lifecycle": {"auto_start": True, "start_timeout": "300ms"}}
    started = asyncio.get_running_loop().time()
    try:
        with pytest.raises(ApplyError, match="could not start: did not open within start_timeout 0.3s"):
            await runtime.put(("app:pg", "db.sql.postgres", data))
    finally:
        server.close()
    assert asyncio.get_running_loop().time() - started < 5


async def test_stop_timeout_bounds_how_long_a_replaced_database_waits_for_work_in_flight(runtime, tmp_path):
    rt = runtime
    path = str(tmp_path / "a.db")
    await rt.put(("app:db", "db.sql.sqlite", {"file": path, "lifecycle": {"stop_timeout": "200ms"}}))
    old = Resources.of(rt.node).database("app:db")
    old.busy += 1                      # a query that never returns
    await rt.put(("app:db", "db.sql.sqlite", {"file": path, "busy_timeout": "1s"}))
    assert not old.closed
    await asyncio.sleep(0.5)
    assert old.closed


async def test_driver_options_memory_max_length_bounds_that_queue_only(runtime):
    rt = runtime
    await rt.put(("app:mem", "queue.driver.memory", {}),
                 ("app:small", "queue.queue", {"driver": "app:mem", "driver_options": {"memory": {"max_length": 2},
                                                                                      "amqp": {"durable": True}}}),
                 ("app:big", "queue.queue", {"driver": "app:mem"}))
    res = Resources.of(rt.node)
    small, big = res.queue("app:small"), res.queue("app:big")
    await small.publish({"n": 1})
    await small.publish({"n": 2})
    with pytest.raises(WippyError, match="queue app:small is full \\(2 messages\\)"):
        await small.publish({"n": 3})
    for n in range(5):
        await big.publish({"n": n})


def test_driver_options_and_codec_are_checked():
    with pytest.raises(EntryInvalid, match=r"driver_options.memroy': unknown field \(did you mean 'memory'\?\)"):
        model("queue.queue", {"driver": "d", "driver_options": {"memroy": {"max_length": 1}}})
    with pytest.raises(EntryInvalid, match=r"driver_options.amqp.durible': unknown field \(did you mean 'durable'\?\)"):
        model("queue.queue", {"driver": "d", "driver_options": {"amqp": {"durible": True}}})
    with pytest.raises(EntryInvalid, match="field 'codec'"):
        model("queue.queue", {"driver": "d", "codec": "application/xml"})
    assert model("queue.queue", {"driver": "d", "codec": "json/plain"}).codec == "json/plain"
    opts = model("queue.consumer", {"queue": "q", "func": "f",
                                    "driver_options": {"amqp": {"consumer_tag": "w1", "exclusive": True}}}).driver_options
    assert (opts.amqp.consumer_tag, opts.amqp.exclusive) == ("w1", True)


async def test_file_modes_may_be_yaml_octal_numbers_or_strings(runtime, tmp_path):
    assert model("env.storage.file", {"file_path": "x", "file_mode": 0o640}).file_mode == 0o640   # YAML 0640
    assert model("env.storage.file", {"file_path": "x", "file_mode": "0640"}).file_mode == 0o640
    assert model("fs.directory", {"directory": "d", "mode": 0o750}).mode == 0o750
    with pytest.raises(EntryInvalid, match="file mode '0689' is not octal"):
        model("env.storage.file", {"file_path": "x", "file_mode": "0689"})
    env_file = tmp_path / "sub" / ".env"
    await runtime.put(("app:envs", "env.storage.file", {"file_path": str(env_file), "auto_create": True,
                                                        "file_mode": 0o640, "dir_mode": 0o750}))
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o640 & ~_umask()
    assert stat.S_IMODE(env_file.parent.stat().st_mode) == 0o750 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_env_variable_read_only_is_readonly():
    assert model("env.variable", {"read_only": True}).readonly is True
    assert model("env.variable", {"readonly": True}).readonly is True


async def test_sqlite_options_are_pragmas_on_every_connection(runtime, tmp_path):
    await runtime.put(("app:db", "db.sql.sqlite", {"file": str(tmp_path / "o.db"),
                                                   "options": {"foreign_keys": False, "synchronous": "FULL"}}))
    db = Resources.of(runtime.node).database("app:db")
    assert (await db.query("PRAGMA foreign_keys", []))[0]["foreign_keys"] == 0
    assert (await db.query("PRAGMA synchronous", []))[0]["synchronous"] == 2    # FULL
    with pytest.raises(EntryInvalid, match="unknown SQLite option 'foreign_key' \\(did you mean 'foreign_keys'\\?\\)"):
        model("db.sql.sqlite", {"options": {"foreign_key": True}})
    with pytest.raises(EntryInvalid, match="must be a word or a number"):
        model("db.sql.sqlite", {"options": {"journal_mode": "WAL; DROP TABLE x"}})


def test_store_sql_table_is_table_name():
    assert model("store.sql", {"database": "db", "table": "kv"}).table_name == "kv"
    assert model("store.sql", {"database": "db", "table_name": "kv2"}).table_name == "kv2"


async def test_placeholders_in_resource_entries_are_resolved(runtime, monkeypatch, tmp_path):
    # a database, store or queue entry is built from its resolved fields (the registry keeps ${env:...})
    monkeypatch.setenv("WIPPY_TEST_DB_FILE", str(tmp_path / "from-env.db"))
    await runtime.put(("app:db", "db.sql.sqlite", {"file": "${env:WIPPY_TEST_DB_FILE}",
                                                   "lifecycle": {"auto_start": True}}))
    assert (tmp_path / "from-env.db").exists()
    assert runtime.registry.get("app:db").data["file"] == "${env:WIPPY_TEST_DB_FILE}"


async def test_queue_codec_decides_what_a_body_may_hold(runtime):
    # bytes have no JSON form; MessagePack carries them (on the memory driver too: no option is ignored)
    await runtime.put(("app:mem", "queue.driver.memory", {}),
                      ("app:text", "queue.queue", {"driver": "app:mem", "codec": "json"}),
                      ("app:packed", "queue.queue", {"driver": "app:mem", "codec": "application/msgpack"}))
    res = Resources.of(runtime.node)
    with pytest.raises(WippyError, match="body cannot be encoded as application/json"):
        await res.queue("app:text").publish({"bin": b"\x00\xff"})
    await res.queue("app:packed").publish({"bin": b"\x00\xff"})
    [msg] = await res.queue("app:packed").driver.receive("app:packed", 1, 1.0, "c")
    assert msg.body == {"bin": b"\x00\xff"} and msg.codec == "application/msgpack"

"""The same modules against real servers (scripts/services.sh): PostgreSQL (asyncpg),
MariaDB (aiomysql), Redis store and Redis Streams queue driver."""
from __future__ import annotations

import uuid

import pytest

from tests.data.conftest import add_entry, mysql_entry, pg_entry
from tests.data.test_data_queue import HANDLER, PUBLISH, seen
from tests.data.test_data_store import SCRIPT as STORE_SCRIPT, VERSIONED
from tests.runtime.test_live_change import eventually
from wippy.data import Resources

pytestmark = pytest.mark.databases

SQL_SCRIPT = """
local sql = require("sql")
return function(id, tbl)
  local db = assert(sql.get(id))
  db:execute("DROP TABLE IF EXISTS " .. tbl)
  db:execute("CREATE TABLE " .. tbl .. " (id INTEGER PRIMARY KEY, name VARCHAR(50), score FLOAT)")
  local r = db:execute("INSERT INTO " .. tbl .. " (id, name, score) VALUES (?, ?, ?)", {1, "ann", 1.5})
  db:execute("INSERT INTO " .. tbl .. " (id, name, score) VALUES (?, ?, ?)", {2, "bob", sql.as.null()})
  local tx = db:begin()
  tx:execute("INSERT INTO " .. tbl .. " (id, name) VALUES (?, ?)", {3, "cy"})
  tx:savepoint("sp")
  tx:execute("INSERT INTO " .. tbl .. " (id, name) VALUES (?, ?)", {4, "dee"})
  tx:rollback_to("sp")
  tx:commit()
  local rows = db:query("SELECT id, name, score FROM " .. tbl .. " WHERE id >= ? ORDER BY id", {sql.as.int(1)})
  local _, bad = db:query("SELEC 1")
  local _, missing = db:query("SELECT * FROM no_such_table_here")
  local ids = {}
  for i, row in ipairs(rows) do ids[i] = row.id end
  db:execute("DROP TABLE " .. tbl)
  return {db:type(), r.rows_affected, ids, rows[1].name, rows[1].score, rows[2].score == nil,
          tostring(bad), tostring(missing)}
end
"""


@pytest.mark.parametrize("kind", ["db.sql.postgres", "db.sql.mysql"])
async def test_sql_on_real_servers(data_app, services, kind):
    add_entry(data_app, "app:db", kind, **(pg_entry(services) if kind.endswith("postgres") else mysql_entry(services)))
    tbl = "t_" + uuid.uuid4().hex[:8]
    out = await data_app.run(SQL_SCRIPT, "app:db", tbl, modules=["sql"], method=None)
    assert out[:6] == [kind.rsplit(".", 1)[1], 1, [1, 2, 3], "ann", 1.5, True]
    assert "syntax" in out[6].lower()
    assert "no_such_table_here" in out[7]


async def test_unreachable_database_gives_clear_error(data_app):
    add_entry(data_app, "app:db", "db.sql.postgres", host="127.0.0.1", port=1, database="x", connect_timeout="2s")
    out = await data_app.run("""
        local sql = require("sql")
        return function() local _, err = sql.get("app:db"):query("SELECT 1"); return {err:kind(), tostring(err)} end
    """, modules=["sql"], method=None)
    assert out[0] == "Unavailable" and "cannot connect" in out[1]


@pytest.mark.parametrize("kind", ["store.redis", "store.sql"])
async def test_store_on_real_servers(data_app, services, kind):
    if kind == "store.redis":
        add_entry(data_app, "app:s", kind, url=services["WIPPY_REDIS_URL"], key_prefix=f"t{uuid.uuid4().hex[:6]}:")
    else:
        add_entry(data_app, "app:db", "db.sql.postgres", **pg_entry(services))
        add_entry(data_app, "app:s", kind, database="app:db", table_name="kv_" + uuid.uuid4().hex[:6])
    out = await data_app.run(STORE_SCRIPT, "app:s", modules=["store", "time"], method=None)
    assert out[:9] == [1, 2, "text", True, True, "NotFound", False, True, False]


async def run_queue_scenario(runtime, driver: dict, name: str, *, queue_options: dict | None = None,
                             consumer_options: dict | None = None, timeout: float) -> None:
    """Publish ten jobs (every third fails twice) and one refused job through `driver` to a consumer
    that is replaced mid-way; every job is handled, its headers arrive, the refused one is dead-lettered."""
    ((driver_kind, driver_config),) = driver.items()
    await runtime.put(
        ("app:driver", driver_kind, driver_config),
        ("app:dead", "queue.queue", {"driver": "app:driver", "queue_name": name + "-dead"}),
        ("app:jobs", "queue.queue", {"driver": "app:driver", "queue_name": name, **(queue_options or {}),
                                     "dead_letter": {"queue": "app:dead", "max_attempts": 2}}),
        ("app:seen", "store.memory", {}),
        ("app:publish", "function.lua", {"source": PUBLISH, "method": "main", "modules": ["queue"]}),
        ("app:handle", "function.lua", {"source": HANDLER, "method": "main", "modules": ["store", "queue", "time"]}),
        ("app:consumer", "queue.consumer", {"queue": "app:jobs", "func": "app:handle", "concurrency": 3,
                                            "lifecycle": {"auto_start": True}, **(consumer_options or {})}))
    for i in range(10):
        body = {"n": i, "sleep": "10ms"}
        if i % 3 == 0:
            body["fail_until"] = 2
        await runtime.call("app:publish", "app:jobs", body, {"trace": f"t{i}"})
    await runtime.call("app:publish", "app:jobs", {"n": 99, "refuse": True})
    # kill the consumer mid-way and bring it back
    await runtime.put(("app:consumer", "queue.consumer", {"queue": "app:jobs", "func": "app:handle", "concurrency": 2,
                                                              "lifecycle": {"auto_start": True}}))

    async def done():
        for i in range(10):
            if not await seen(runtime, str(i)):
                return False
        dead = await Resources.of(runtime.node).queue("app:dead").info()
        return dead["depth"] == 1
    await eventually(done, timeout=timeout)
    assert await seen(runtime, "hdr:4") == "t4"
    assert await seen(runtime, "99") == 2               # refused twice, then dead-lettered


async def test_redis_streams_queue(runtime, services):
    driver = {"queue.driver.redis": {"url": services["WIPPY_REDIS_URL"], "claim_idle": "1s"}}
    await run_queue_scenario(runtime, driver, "jobs-" + uuid.uuid4().hex[:8], timeout=20)


async def test_amqp_queue_on_rabbitmq(runtime, services):
    """queue.driver.amqp against a real RabbitMQ: publish with headers, consumers with retries and a dead
    letter, a consumer replaced mid-way, the queue's amqp options as declare arguments."""
    name = "jobs-" + uuid.uuid4().hex[:8]
    url = services["WIPPY_AMQP_URL"]
    driver = {"queue.driver.amqp": {"url": url, "connection_name": "wippy-test", "heartbeat": "10s",
                                    "lifecycle": {"auto_start": True}}}
    await run_queue_scenario(
        runtime, driver, name, timeout=30,
        queue_options={"driver_options": {"amqp": {"durable": False, "auto_delete": False,
                                                   "max_length": 1000, "message_ttl": "10m"}}},
        consumer_options={"driver_options": {"amqp": {"consumer_tag": name + "-c"}}})
    assert await seen(runtime, "att:3") >= 2            # failed once, redelivered with its count
    # the queue was declared with its options: redeclaring it otherwise is refused by the broker
    import aio_pika
    conn = await aio_pika.connect(url)
    try:
        channel = await conn.channel()
        with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
            await channel.declare_queue(name, durable=True)
    finally:
        await conn.close()


async def test_amqp_driver_that_cannot_connect_refuses_its_entry_with_auto_start(runtime):
    from wippy.registry import ApplyError
    with pytest.raises(ApplyError, match="app:amqp: queue.driver.amqp: could not start: "):
        await runtime.put(("app:amqp", "queue.driver.amqp", {"url": "amqp://guest:guest@127.0.0.1:1/",
                                                             "connection_timeout": "2s",
                                                             "lifecycle": {"auto_start": True}}))


@pytest.mark.parametrize("kind,db", [("store.redis", None), ("store.sql", "postgres"), ("store.sql", "mysql")])
async def test_store_entries_and_lists_on_real_servers(data_app, services, kind, db):
    if kind == "store.redis":
        add_entry(data_app, "app:s", kind, url=services["WIPPY_REDIS_URL"], key_prefix=f"t{uuid.uuid4().hex[:6]}:")
    else:
        entry = pg_entry(services) if db == "postgres" else mysql_entry(services)
        add_entry(data_app, "app:db", f"db.sql.{db}", **entry)
        add_entry(data_app, "app:s", kind, database="app:db", table_name="kv_" + uuid.uuid4().hex[:6])
    out = await data_app.run(VERSIONED, "app:s", modules=["store", "time"], method=None)
    assert out["info"]["conditional_put"] is False and out["info"]["durable"] is True
    assert out["e1"] == ["user:1", "Ann", True, "Ann"] and out["changed"] is True
    assert out["p1"] == ["user:%_!", "user:1"] and out["p1_more"] is True
    assert out["p2"] == ["user:2", "user:3"] and out["p2_more"] is False
    assert out["all"] == ["other", "user:%_!", "user:1", "user:2", "user:3"]
    assert out["odd"] == ["user:%_!"]


@pytest.mark.parametrize("kind", ["db.sql.postgres", "db.sql.mysql"])
async def test_transaction_options_on_real_servers(data_app, services, kind):
    add_entry(data_app, "app:db", kind, **(pg_entry(services) if kind.endswith("postgres") else mysql_entry(services)))
    tbl = "t_" + uuid.uuid4().hex[:8]
    out = await data_app.run("""
    local sql = require("sql")
    return function(tbl)
      local db = assert(sql.get("app:db"))
      db:execute("CREATE TABLE " .. tbl .. " (n INTEGER)")
      local ro = assert(db:begin({isolation = sql.isolation.REPEATABLE_READ, read_only = true}))
      local _, write_err = ro:execute("INSERT INTO " .. tbl .. " VALUES (1)")
      ro:rollback()
      local rw = assert(db:begin({isolation = sql.isolation.SERIALIZABLE}))
      assert(rw:execute("INSERT INTO " .. tbl .. " VALUES (2)"))
      assert(rw:commit())
      local rc = assert(db:begin({isolation = sql.isolation.READ_COMMITTED, read_only = false}))
      assert(rc:execute("INSERT INTO " .. tbl .. " VALUES (3)"))
      assert(rc:commit())
      local n = db:query("SELECT COUNT(*) AS c FROM " .. tbl)[1].c
      local _, wc = db:begin({isolation = sql.isolation.WRITE_COMMITTED})
      db:execute("DROP TABLE " .. tbl)
      return {write_err ~= nil, tostring(write_err), n, wc:kind()}
    end""", tbl, modules=["sql"], method=None)
    assert out[0] is True and "read" in out[1].lower()
    assert out[2:] == [2, "Invalid"]


@pytest.mark.parametrize("driver_kind", ["queue.driver.amqp", "queue.driver.redis"])
async def test_msgpack_codec_on_the_wire(runtime, services, driver_kind):
    """codec: application/msgpack: the scenario's jobs (retries, headers, dead letter) travel as
    MessagePack, which the broker shows (content type, or the stream's fields)."""
    name = "mp-" + uuid.uuid4().hex[:8]
    url = services["WIPPY_AMQP_URL"] if driver_kind.endswith("amqp") else services["WIPPY_REDIS_URL"]
    await run_queue_scenario(runtime, {driver_kind: {"url": url}}, name, timeout=30,
                             queue_options={"codec": "application/msgpack"})
    await runtime.put(("app:raw", "queue.queue", {"driver": "app:driver", "queue_name": name + "-raw",
                                                  "codec": "application/msgpack"}))
    from wippy.data import Resources
    await Resources.of(runtime.node).queue("app:raw").publish({"bin": b"\x00\xff", "n": 1})
    import msgpack
    if driver_kind.endswith("amqp"):
        import aio_pika
        conn = await aio_pika.connect(url)
        try:
            channel = await conn.channel()
            queue = await channel.declare_queue(name + "-raw", durable=True)
            msg = await queue.get(timeout=5)
            assert msg.content_type == "application/msgpack"
            assert msgpack.unpackb(msg.body) == {"bin": b"\x00\xff", "n": 1}
        finally:
            await conn.close()
    else:
        import base64
        import redis.asyncio as aioredis
        client = aioredis.from_url(url, decode_responses=True)
        try:
            [(_, fields)] = await client.xrange(name + "-raw")
            assert fields["codec"] == "application/msgpack"
            assert msgpack.unpackb(base64.b64decode(fields["body"])) == {"bin": b"\x00\xff", "n": 1}
        finally:
            await client.aclose()


async def test_amqp_driver_defaults_become_the_declared_queues_arguments(runtime, services):
    # default_queue_ttl (RabbitMQ's queue TTL: x-expires) and default_message_ttl reach the broker
    name = "ttl-" + uuid.uuid4().hex[:8]
    url = services["WIPPY_AMQP_URL"]
    await runtime.put(("app:driver", "queue.driver.amqp", {"url": url, "default_queue_ttl": "1h",
                                                           "default_message_ttl": "10m"}),
                      ("app:q", "queue.queue", {"driver": "app:driver", "queue_name": name}))
    from wippy.data import Resources
    await Resources.of(runtime.node).queue("app:q").publish({"n": 1})
    import aio_pika
    conn = await aio_pika.connect(url)
    try:
        channel = await conn.channel()
        same = await channel.declare_queue(name, durable=True, arguments={"x-expires": 3600000, "x-message-ttl": 600000})
        assert same.declaration_result.message_count == 1
        with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
            await (await conn.channel()).declare_queue(name, durable=True, arguments={"x-expires": 60000,
                                                                                        "x-message-ttl": 600000})
    finally:
        await conn.close()


@pytest.mark.parametrize("driver_kind", ["queue.driver.redis", "queue.driver.amqp"])
async def test_queue_depth_and_lag_of_a_real_broker_are_served(runtime, services, driver_kind, unused_tcp_port):
    """/metrics asks the broker at scrape time: messages no consumer reads are counted as waiting
    (Redis also says how long the oldest has waited; AMQP cannot tell ages), a queue whose
    consumer keeps up shows none, and a broker gone quiet drops its figures instead of serving old ones."""
    import asyncio

    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    from wippy import metrics

    url = services["WIPPY_REDIS_URL" if driver_kind.endswith("redis") else "WIPPY_AMQP_URL"]
    name = "m-" + uuid.uuid4().hex[:8]
    await runtime.put(
        ("app:driver", driver_kind, {"url": url}),
        ("app:idle", "queue.queue", {"driver": "app:driver", "queue_name": name + "-idle"}),
        ("app:jobs", "queue.queue", {"driver": "app:driver", "queue_name": name}),
        ("app:seen", "store.memory", {}),
        ("app:publish", "function.lua", {"source": PUBLISH, "method": "main", "modules": ["queue"]}),
        ("app:handle", "function.lua", {"source": HANDLER, "method": "main", "modules": ["store", "queue", "time"]}),
        ("app:consumer", "queue.consumer", {"queue": "app:jobs", "func": "app:handle",
                                            "lifecycle": {"auto_start": True}}))
    for i in range(3):
        await runtime.call("app:publish", "app:idle", {"n": i})
    await runtime.call("app:publish", "app:jobs", {"n": 7})
    await eventually(lambda: seen(runtime, "7"))
    await asyncio.sleep(1.2)

    async def scrape() -> dict:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{unused_tcp_port}/metrics") as r:
                text = await r.text()
        return {(s.name, s.labels.get("queue")): s.value
                for f in text_string_to_metric_families(text) for s in f.samples}

    runner = await metrics.serve(runtime, "127.0.0.1", unused_tcp_port)
    try:
        value = await scrape()
        assert value[("wippy_queue_depth", "app:idle")] == 3
        assert value[("wippy_queue_depth", "app:jobs")] == 0
        assert value[("wippy_queue_consumers", "app:jobs")] == 1 and value[("wippy_queue_consumers", "app:idle")] == 0
        if driver_kind.endswith("redis"):
            assert 1.0 <= value[("wippy_queue_consumer_lag_seconds", "app:idle")] < 60
            assert value[("wippy_queue_consumer_lag_seconds", "app:jobs")] == 0
            assert value[("wippy_queue_inflight", "app:jobs")] == 0
        else:
            assert ("wippy_queue_consumer_lag_seconds", "app:idle") not in value
        # the broker does not answer in time: no figure rather than a stale one
        driver = Resources.of(runtime.node).objects["app:driver"]
        slow = asyncio.Event()

        async def silent(_name):
            await slow.wait()
        driver.depth = silent
        started = asyncio.get_running_loop().time()
        value = await scrape()
        assert asyncio.get_running_loop().time() - started < metrics.BROKER_TIMEOUT + 1
        assert ("wippy_queue_depth", "app:idle") not in value and ("wippy_queue_consumers", "app:idle") in value
    finally:
        await runner.cleanup()
        metrics.detach(runtime)

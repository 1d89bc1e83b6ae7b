"""Queues in a running Runtime: publish with headers, consumers with concurrency and
prefetch, ack on success, redelivery on error, dead letters, queue.message(), and the
no-loss guarantee when consumers are killed mid-message."""
from __future__ import annotations

import asyncio
import random

import pytest

from tests.runtime.test_live_change import eventually
from wippy.data import Resources
from wippy.engine.errors import WippyError

PUBLISH = """
local queue = require("queue")
return function(qid, body, headers)
  local ok, err = queue.publish(qid, body, headers)
  if not ok then return nil, err end
  return true
end
"""

# records every delivery in a store (key = task id) and fails on demand
HANDLER = """
local store = require("store")
local queue = require("queue")
local time = require("time")
return function(body)
  local s = store.get("app:seen")
  local msg = queue.message()
  local key = tostring(body.n)
  local count = s:has(key) and s:get(key) or 0
  s:set(key, count + 1)
  s:set("hdr:" .. key, msg:header("trace") or "")
  s:set("att:" .. key, msg:attempts())
  if body.sleep then time.sleep(body.sleep) end
  if body.fail_until and msg:attempts() < body.fail_until then error("boom " .. key) end
  if body.refuse then return false end
  return true
end
"""


def base_entries(**consumer):
    c = {"queue": "app:jobs", "func": "app:handle", "concurrency": 4, "prefetch": 8, "lifecycle": {"auto_start": True}}
    c.update(consumer)
    return [
        ("app:mem", "queue.driver.memory", {}),
        ("app:dead", "queue.queue", {"driver": "app:mem"}),
        ("app:jobs", "queue.queue", {"driver": "app:mem", "dead_letter": {"queue": "app:dead", "max_attempts": 3}}),
        ("app:seen", "store.memory", {}),
        ("app:publish", "function.lua", {"source": PUBLISH, "method": "main", "modules": ["queue"]}),
        ("app:handle", "function.lua", {"source": HANDLER, "method": "main", "modules": ["store", "queue", "time"]}),
        ("app:consumer", "queue.consumer", c),
    ]


async def seen(rt, key):
    st = Resources.of(rt.node).objects["app:seen"]
    try:
        return await st.get(key)
    except WippyError:
        return None


async def test_publish_consume_ack_headers_and_redelivery(runtime):
    await runtime.put(*base_entries())
    await runtime.call("app:publish", "app:jobs", {"n": 1}, {"trace": "t-1"})
    await runtime.call("app:publish", "app:jobs", {"n": 2, "fail_until": 2})
    await eventually(lambda: _both(runtime))
    assert await seen(runtime, "hdr:1") == "t-1"
    assert await seen(runtime, "2") == 2            # failed once, redelivered, acked
    assert await seen(runtime, "att:2") == 2
    info = await Resources.of(runtime.node).queue("app:jobs").info()
    assert info["depth"] == 0 and info["inflight"] == 0


async def _both(rt):
    return await seen(rt, "1") == 1 and await seen(rt, "2") == 2


async def test_dead_letter_after_max_attempts(runtime):
    await runtime.put(*base_entries())
    await runtime.call("app:publish", "app:jobs", {"n": 7, "refuse": True}, {"trace": "x"})
    dead = Resources.of(runtime.node).queue("app:dead")

    async def dead_lettered():
        return (await dead.info())["depth"] == 1
    await eventually(dead_lettered)
    assert await seen(runtime, "7") == 3
    drv = Resources.of(runtime.node).driver("app:mem")
    msg = drv.queues["app:dead"].ready[0]
    assert msg.body == {"n": 7, "refuse": True}
    assert msg.headers["trace"] == "x" and msg.headers["x-attempts"] == "3"


async def test_bad_publishes_get_clear_errors(runtime):
    await runtime.put(*base_entries())
    with pytest.raises(WippyError, match="queue app:nope not found"):
        await runtime.call("app:publish", "app:nope", {"n": 1})
    with pytest.raises(WippyError, match="is a store.memory, not a queue"):
        await runtime.call("app:publish", "app:seen", {"n": 1})
    with pytest.raises(WippyError, match="must not be nil"):
        await runtime.call("app:publish", "app:jobs", None)
    out = await runtime.call("app:handle_outside") if False else None
    assert out is None


async def test_queue_message_outside_consumer(runtime):
    await runtime.put(("app:f", "function.lua", {"source": """
        local queue = require("queue")
        return function() local m, err = queue.message(); return tostring(err) end""",
        "method": "main", "modules": ["queue"]}))
    assert "outside of a queue consumer" in await runtime.call("app:f")


async def test_no_message_lost_when_consumers_are_killed_mid_message(runtime):
    """Handlers crash at random and the consumer itself is killed (its entry changed,
    deleted, recreated) while messages are in flight: every message is processed at
    least once and none is lost."""
    rng = random.Random(7)
    await runtime.put(*base_entries(concurrency=5, prefetch=10))
    n = 60
    for i in range(n):
        body = {"n": i, "sleep": "20ms"}
        if rng.random() < 0.3:
            body["fail_until"] = 2                  # crash on the first delivery
        await runtime.call("app:publish", "app:jobs", body)
    res = Resources.of(runtime.node)
    for step in range(4):
        await asyncio.sleep(0.15)
        consumer = res.objects.get("app:consumer")
        assert consumer is None or consumer.handlers or step > 0
        if step % 2 == 0:   # change the consumer: the old one is killed mid-message
            await runtime.put(*[e for e in base_entries(concurrency=3 + step, prefetch=10) if e[0] == "app:consumer"])
        else:               # delete it, then bring it back
            await runtime.delete("app:consumer")
            await asyncio.sleep(0.05)
            await runtime.put(*[e for e in base_entries() if e[0] == "app:consumer"])

    async def all_done():
        for i in range(n):
            if not await seen(runtime, str(i)):
                return False
        info = await res.queue("app:jobs").info()
        return info["depth"] == 0 and info["inflight"] == 0
    await eventually(all_done, timeout=20)
    assert (await res.queue("app:dead").info())["depth"] == 0

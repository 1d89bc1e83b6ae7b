"""Queues behind `queue.*` entries.

Drivers carry messages: `queue.driver.memory` (in-process), `queue.driver.redis`
(Redis Streams with a consumer group) and `queue.driver.amqp` (RabbitMQ, in amqp.py). A `queue.queue` names a queue on a driver, its
codec (codec.py: how bodies travel) and its dead-letter policy. A `queue.consumer` takes messages (up to `prefetch` held at once),
hands each body to its function (up to `concurrency` at once) and acks on success; an
error, a `false` result, or the consumer stopping mid-message puts the message back.
After `dead_letter.max_attempts` failed deliveries a message moves to the dead-letter
queue (or is dropped, with a log line, when none is set). Delivery is at least once.
"""
from __future__ import annotations

import asyncio
import base64
import collections
import itertools
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import codec as codecs
from ..engine.errors import WippyError, INVALID, UNAVAILABLE
from ..registry.entry import resolve_ref

if TYPE_CHECKING:
    from redis.typing import EncodableT, FieldT

log = logging.getLogger("wippy.queue")

CTX_KEY = "@queue.message"


@dataclass
class Message:
    id: str
    body: Any
    headers: dict = field(default_factory=dict)
    attempts: int = 0          # deliveries so far, this one included
    raw_id: Any = None         # driver bookkeeping
    published: float = field(default_factory=time.monotonic)   # for the consumers' lag
    codec: str = codecs.JSON   # how the body travels (a redelivery keeps it)


# --------------------------------------------------------------------------- memory driver
class _MemQueue:
    def __init__(self):
        self.ready: collections.deque[Message] = collections.deque()
        self.inflight: dict[str, Message] = {}
        self.cond = asyncio.Condition()


class MemoryDriver:
    type = "memory"

    def __init__(self, entry_id: str, max_length: int = 0):
        self.entry_id = entry_id
        self.max_length = max_length
        self.limits: dict[str, int] = {}      # per queue, from its driver_options
        self.queues: dict[str, _MemQueue] = {}
        self.closed = False

    def adopt(self, old):
        if isinstance(old, MemoryDriver):
            self.queues = old.queues      # a changed driver entry keeps its messages

    def _q(self, name: str) -> _MemQueue:
        if self.closed:
            raise WippyError(UNAVAILABLE, f"queue driver {self.entry_id} is closed")
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = _MemQueue()
        return q

    def declare(self, name: str, options) -> None:
        """A queue's driver_options.memory: its own max_length."""
        self.limits[name] = options.max_length if options is not None else 0

    async def publish(self, name: str, body: Any, headers: dict, attempts: int = 0, codec: str = codecs.JSON) -> str:
        q = self._q(name)
        limit = self.limits.get(name) or self.max_length
        if limit and len(q.ready) >= limit:
            raise WippyError(UNAVAILABLE, f"queue {name} is full ({limit} messages)")
        msg = Message(uuid.uuid4().hex, body, dict(headers or {}), attempts, codec=codec)   # in process: no wire
        async with q.cond:
            q.ready.append(msg)
            q.cond.notify()
        return msg.id

    async def receive(self, name: str, n: int, timeout: float, consumer: str) -> list[Message]:
        q = self._q(name)
        async with q.cond:
            if not q.ready:
                try:
                    await asyncio.wait_for(q.cond.wait_for(lambda: bool(q.ready) or self.closed), timeout)
                except asyncio.TimeoutError:
                    return []
            out: list[Message] = []
            while q.ready and len(out) < n:
                m = q.ready.popleft()
                m.attempts += 1
                q.inflight[m.id] = m
                out.append(m)
            return out

    async def ack(self, name: str, msg: Message) -> None:
        self._q(name).inflight.pop(msg.id, None)

    async def nack(self, name: str, msg: Message, delay: float = 0.0) -> None:
        q = self._q(name)
        if delay > 0:
            await asyncio.sleep(delay)
        # taken out of flight and put back in one step: a cancel before it leaves it in flight
        async with q.cond:
            if q.inflight.pop(msg.id, None) is not None:
                q.ready.append(msg)
                q.cond.notify()

    async def depth(self, name: str) -> dict:
        q = self._q(name)
        return {"depth": len(q.ready), "inflight": len(q.inflight)}

    def lag(self, name: str) -> float:
        """Seconds the oldest message waiting for a consumer has waited since it was published
        (0 when none waits): how far behind the queue's consumers are."""
        q = self.queues.get(name)
        oldest = min((m.published for m in q.ready), default=None) if q is not None else None
        return 0.0 if oldest is None else max(0.0, time.monotonic() - oldest)

    def close(self):
        self.closed = True

    retire = close


# --------------------------------------------------------------------------- Redis Streams driver
class RedisStreamsDriver:
    type = "redis"

    def __init__(self, entry_id: str, m):
        import redis.asyncio as aioredis
        self.entry_id = entry_id
        kw: dict[str, Any] = dict(socket_connect_timeout=5, decode_responses=True)
        self.client = aioredis.from_url(m.url, **kw) if m.url else aioredis.Redis(
            host=m.host, port=m.port, db=m.db, password=m.password or None, **kw)
        self.group = m.group
        self.claim_idle_ms = int(m.claim_idle * 1000)
        self._groups: set[str] = set()
        self.closed = False

    async def _run(self, coro):
        import redis
        if self.closed:
            coro.close()
            raise WippyError(UNAVAILABLE, f"queue driver {self.entry_id} is closed")
        try:
            return await coro
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            raise WippyError(UNAVAILABLE, f"redis queue driver {self.entry_id}: {e}") from None
        except redis.RedisError as e:
            raise WippyError(INVALID, f"redis queue driver {self.entry_id}: {e}") from None

    async def open(self) -> None:
        """Connect now (lifecycle.auto_start) rather than on first use."""
        await self._run(self.client.ping())

    async def _group(self, stream: str):
        if stream in self._groups:
            return
        try:
            await self._run(self.client.xgroup_create(stream, self.group, id="0", mkstream=True))
        except WippyError as e:
            if "BUSYGROUP" not in e.message:
                raise
        self._groups.add(stream)

    async def publish(self, name: str, body: Any, headers: dict, attempts: int = 0, codec: str = codecs.JSON) -> str:
        await self._group(name)
        data = codecs.encode(codec, body)
        # the stream holds text (decode_responses): MessagePack travels base64-encoded
        fields: dict[FieldT, EncodableT] = {
            "body": data.decode() if codec == codecs.JSON else base64.b64encode(data).decode(),
            "codec": codec, "headers": json.dumps(headers or {}), "attempts": str(attempts)}
        return await self._run(self.client.xadd(name, fields))

    def _msg(self, sid: str, fields: dict, claimed: bool = False) -> Message:
        attempts = int(fields.get("attempts", "0")) + 1
        codec = codecs.MSGPACK if fields.get("codec") == codecs.MSGPACK else codecs.JSON
        raw = fields.get("body", "null")
        body = codecs.decode(codec, base64.b64decode(raw) if codec == codecs.MSGPACK else raw.encode())
        return Message(sid, body, json.loads(fields.get("headers", "{}")), attempts, raw_id=sid, codec=codec)

    async def receive(self, name: str, n: int, timeout: float, consumer: str) -> list[Message]:
        await self._group(name)
        out: list[Message] = []
        # take over messages a dead consumer left unacked for too long
        res = await self._run(self.client.xautoclaim(name, self.group, consumer, self.claim_idle_ms,
                                                     start_id="0-0", count=n))
        for sid, fields in (res[1] if res else []):
            if fields:
                out.append(self._msg(sid, fields, claimed=True))
        if out:
            return out
        res = await self._run(self.client.xreadgroup(self.group, consumer, {name: ">"}, count=n,
                                                     block=max(1, int(timeout * 1000))))
        for _stream, entries in res or []:
            for sid, fields in entries:
                out.append(self._msg(sid, fields))
        return out

    async def ack(self, name: str, msg: Message) -> None:
        await self._run(self.client.xack(name, self.group, msg.raw_id))
        await self._run(self.client.xdel(name, msg.raw_id))

    async def nack(self, name: str, msg: Message, delay: float = 0.0) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        # put it back as a new entry carrying its delivery count, then drop the old one
        await self.publish(name, msg.body, msg.headers, msg.attempts, msg.codec)
        await self.ack(name, msg)

    async def depth(self, name: str) -> dict:
        """Messages waiting and in flight, and the lag: the age of the oldest message the group
        has not been given yet (a stream id starts with its time in milliseconds)."""
        await self._group(name)
        total = await self._run(self.client.xlen(name))
        pending = await self._run(self.client.xpending(name, self.group))
        inflight = int(pending.get("pending", 0)) if isinstance(pending, dict) else 0
        groups = await self._run(self.client.xinfo_groups(name))
        last = next((g.get("last-delivered-id") for g in groups if g.get("name") == self.group), None) or "0-0"
        oldest = await self._run(self.client.xrange(name, min=f"({last}", max="+", count=1))
        lag = max(0.0, time.time() - int(oldest[0][0].split("-")[0]) / 1000) if oldest else 0.0
        return {"depth": max(0, total - inflight), "inflight": inflight, "lag": lag}

    def close(self):
        self.closed = True
        try:
            asyncio.get_running_loop().create_task(self.client.aclose())
        except RuntimeError:
            pass

    retire = close


# --------------------------------------------------------------------------- queue
class Queue:
    def __init__(self, res, entry_id: str, m):
        ns = entry_id.split(":", 1)[0]
        self.res = res
        self.entry_id = entry_id
        self.driver_id = resolve_ref(m.driver, ns)
        self.name = m.queue_name or entry_id
        self.max_attempts = m.dead_letter.max_attempts if m.dead_letter else 0
        self.dead_letter = resolve_ref(m.dead_letter.queue, ns) if m.dead_letter and m.dead_letter.queue else None
        self.options = m.driver_options
        self.codec = codecs.canonical(m.codec)
        self.published = 0
        self.dead = 0
        self._declared_on = None

    @property
    def driver(self):
        """The driver, told once (per driver instance) about this queue's own options."""
        driver = self.res.driver(self.driver_id)
        if self._declared_on is not driver:
            declare = getattr(driver, "declare", None)
            if declare is not None:
                declare(self.name, getattr(self.options, driver.type, None))
            self._declared_on = driver
        return driver

    async def publish(self, body: Any, headers: dict | None = None) -> str:
        if headers is not None and not isinstance(headers, dict):
            raise WippyError(INVALID, "queue: headers must be a table of strings")
        codecs.encode(self.codec, body)    # a body the codec cannot carry is refused here, on every driver
        mid = await self.driver.publish(self.name, body, {str(k): str(v) for k, v in (headers or {}).items()},
                                        codec=self.codec)
        self.published += 1
        return mid

    async def failed(self, msg: Message, reason: str, delay: float = 0.0) -> None:
        """A delivery failed: redeliver, or dead-letter after max_attempts."""
        if self.max_attempts and msg.attempts >= self.max_attempts:
            self.dead += 1
            if self.dead_letter:
                headers = dict(msg.headers, **{"x-dead-letter-from": self.entry_id, "x-attempts": str(msg.attempts),
                                               "x-error": reason[:500]})
                await self.res.queue(self.dead_letter).publish(msg.body, headers)
            else:
                log.warning("queue %s: dropping message %s after %d attempts: %s", self.entry_id, msg.id,
                            msg.attempts, reason)
            await self.driver.ack(self.name, msg)
            return
        await self.driver.nack(self.name, msg, delay)

    async def info(self) -> dict:
        d = await self.driver.depth(self.name)
        return dict(d, id=self.entry_id, queue_name=self.name, driver=self.driver_id,
                    published=self.published, dead_lettered=self.dead)


# --------------------------------------------------------------------------- consumer
_tokens = itertools.count(1)
ACTIVE: dict[int, "Delivery"] = {}


class Delivery:
    """One message held by a consumer: ack/nack are single-shot, and once begun a settle
    runs to its end even if the consumer is stopped meanwhile."""

    def __init__(self, consumer: "Consumer", msg: Message):
        self.consumer, self.msg = consumer, msg
        self.token = next(_tokens)
        self.settled = False
        self.started = False      # handed to the function (a delivery attempt)

    def ctx(self) -> dict:
        return {CTX_KEY: {"token": self.token, "id": self.msg.id, "headers": self.msg.headers,
                          "attempts": self.msg.attempts, "queue": self.consumer.queue_id}}

    async def ack(self) -> bool:
        if self.settled:
            return False
        self.settled = True
        q = self.consumer.queue
        await asyncio.shield(q.driver.ack(q.name, self.msg))
        self.consumer.acked += 1
        return True

    async def nack(self, reason: str = "nack") -> bool:
        if self.settled:
            return False
        self.settled = True
        self.consumer.nacked += 1
        await asyncio.shield(self.consumer.queue.failed(self.msg, reason, self.consumer.retry_delay))
        return True

    async def give_back(self) -> None:
        """The consumer stopped before this message was settled: it goes back to the queue
        for another delivery (not counted as a failure). One taken ahead (prefetch) but never
        handed to the function was not delivered: it goes back without that attempt counted."""
        if self.settled:
            return
        self.settled = True
        if not self.started:
            self.msg.attempts = max(0, self.msg.attempts - 1)
        q = self.consumer.queue
        await asyncio.shield(q.driver.nack(q.name, self.msg))


class Consumer:
    """A supervised service (lifecycle): it runs once the change is committed and when its
    lifecycle lets it; a driver that cannot receive fails it, and the supervisor restarts it
    per lifecycle.restart (giving up after max_attempts). Stopping stops receiving, lets the
    messages in hand finish for lifecycle.stop_timeout, then puts the rest back."""
    needs_commit = True   # started once the change is committed, never for a rejected one

    def __init__(self, res, entry_id: str, m):
        ns = entry_id.split(":", 1)[0]
        self.res = res
        self.entry_id = entry_id
        self.ns = ns
        self.queue_id = resolve_ref(m.queue, ns)
        self.func = resolve_ref(m.func, ns)
        self.concurrency = m.concurrency
        self.prefetch = max(m.prefetch, m.concurrency)
        self.auto_ack = m.auto_ack
        self.retry_delay = m.retry_delay
        self.options = m.driver_options
        self.lifecycle = m.lifecycle
        self.name = f"{getattr(res.node, 'name', 'node')}-{entry_id}-{uuid.uuid4().hex[:8]}"
        self.service = None      # its Service in the runtime's supervisor
        self.identity: tuple = (None, None)   # lifecycle.security: (actor, scope) of handler calls
        self.handlers: set[asyncio.Task] = set()
        self.held: dict[int, Delivery] = {}   # received, not settled yet
        self.acked = self.nacked = self.received = 0
        self.stopping = False

    @property
    def queue(self) -> Queue:
        return self.res.queue(self.queue_id)

    def start(self):
        if self.service is not None or self.stopping:
            return
        from ..security.store import service_identity
        from ..supervisor.supervisor import python_service
        rt = self.res.runtime
        self.identity = service_identity(rt.registry, self.lifecycle.security, self.ns)
        self.service = rt.supervisor.add(python_service(self.entry_id, self.lifecycle, self._serve, *self.identity))

    async def _serve(self, ready) -> None:
        held = asyncio.Semaphore(self.prefetch)
        running = asyncio.Semaphore(self.concurrency)
        try:
            while True:
                await held.acquire()
                free = 1
                while free < self.prefetch and not held.locked():
                    await held.acquire()
                    free += 1
                try:
                    q = self.queue
                    driver = q.driver
                    configure = getattr(driver, "configure_consumer", None)
                    if configure is not None:
                        configure(self.name, getattr(self.options, driver.type, None), self.prefetch)
                    msgs = await driver.receive(q.name, free, 1.0, self.name)
                except asyncio.CancelledError:
                    raise
                except Exception as e:     # the driver failed: so does this run (restart per lifecycle.restart)
                    detail = e.message if isinstance(e, WippyError) else f"{type(e).__name__}: {e}"
                    raise WippyError(UNAVAILABLE, f"consumer {self.entry_id}: receive failed: {detail}") from None
                ready()
                for _ in range(free - len(msgs)):
                    held.release()
                for msg in msgs:
                    self.received += 1
                    # held from here on: the drain gives it back even if its task never got to run
                    d = Delivery(self, msg)
                    self.held[d.token] = d
                    t = asyncio.get_running_loop().create_task(self._handle(d, held, running))
                    self.handlers.add(t)
                    t.add_done_callback(self.handlers.discard)
        finally:
            await asyncio.shield(self._drain())

    async def _drain(self) -> None:
        """Let handlers in flight finish for stop_timeout, cancel the rest, give back what is held."""
        if self.handlers:
            await asyncio.wait(set(self.handlers), timeout=self.lifecycle.stop_timeout)
        tasks = list(self.handlers)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # handler tasks cancelled before they first ran never saw the cancel: their messages
        # (and any whose settle failed) are still in flight on the driver
        for d in list(self.held.values()):
            try:
                await d.give_back()
            except Exception as e:
                log.warning("consumer %s: returning message %s failed: %s", self.entry_id, d.msg.id, e)
        self.held.clear()
        try:
            driver = self.queue.driver
        except WippyError:
            return
        release = getattr(driver, "release_consumer", None)
        if release is not None:      # messages it took ahead go back to the broker
            try:
                await release(self.name)
            except Exception as e:
                log.warning("consumer %s: releasing its prefetched messages failed: %s", self.entry_id, e)

    async def _handle(self, d: Delivery, held: asyncio.Semaphore, running: asyncio.Semaphore):
        msg = d.msg
        ACTIVE[d.token] = d
        try:
            async with running:
                d.started = True
                try:
                    result = await self._call(msg, d)
                except asyncio.CancelledError:
                    raise
                except WippyError as e:
                    await d.nack(f"{e.kind}: {e.message}" if e.kind else e.message)
                    return
                except Exception as e:
                    await d.nack(f"{type(e).__name__}: {e}")
                    return
                if result is False:
                    await d.nack("handler returned false")
                elif self.auto_ack:
                    await d.ack()
        except asyncio.CancelledError:
            # the consumer stopped mid-message: the message goes back for another delivery
            await d.give_back()
            raise
        except Exception:
            log.exception("consumer %s: settling message %s failed", self.entry_id, msg.id)
        finally:
            ACTIVE.pop(d.token, None)
            if d.settled:
                self.held.pop(d.token, None)
            held.release()

    async def _call(self, msg: Message, d: Delivery):
        rt = self.res.runtime
        if rt is not None:
            from ..metrics import observe_call
            t0, ok = time.monotonic(), False
            try:
                r = await rt.call(self.func, msg.body, ctx=d.ctx(), actor=self.identity[0], scope=self.identity[1])
                ok = True
                return r
            finally:
                observe_call(self.func, time.monotonic() - t0, ok)
        from ..runtime import FUNCTIONS_HOST
        return await self.res.node.hosts[FUNCTIONS_HOST].call(self.func, [msg.body], d.ctx())

    async def stop(self):
        self.stopping = True
        if self.service is not None:
            await self.res.runtime.supervisor.discard(self.service)

    def retire(self):
        return self.stop()

    def info(self) -> dict:
        return {"id": self.entry_id, "queue": self.queue_id, "received": self.received, "acked": self.acked,
                "nacked": self.nacked, "in_flight": len(self.handlers)}


def build(res, entry, m):
    if entry.kind == "queue.driver.memory":
        return MemoryDriver(entry.id, m.max_length)
    if entry.kind == "queue.driver.redis":
        return RedisStreamsDriver(entry.id, m)
    if entry.kind == "queue.driver.amqp":
        from .amqp import AmqpDriver
        return AmqpDriver(entry.id, m, res.runtime.env_lookup)
    if entry.kind == "queue.queue":
        return Queue(res, entry.id, m)
    if entry.kind == "queue.consumer":
        return Consumer(res, entry.id, m)
    raise WippyError(INVALID, f"unknown queue kind {entry.kind}")

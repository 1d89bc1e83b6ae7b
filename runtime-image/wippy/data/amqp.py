"""`queue.driver.amqp`: queues on a RabbitMQ (AMQP 0-9-1) broker, through aio-pika.

One robust connection per driver (it reconnects by itself every reconnect_delay), over TLS for an
amqps:// URL or tls.enabled, with the ssl context built from the entry's PEM text; publishing
goes through a channel with publisher confirms, so a publish returns once the broker has the
message. Each consumer subscribes on a channel of its own (basic.consume, with the consumer's
prefetch as QoS) and takes deliveries from a local buffer. A message that fails is published
again with its delivery count in the `x-attempts` header and the failed delivery acked, so
attempts count across consumers and dead-lettering works as on the other drivers.
"""
from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from . import codec as codecs
from .. import redaction
from ..engine.errors import INVALID, UNAVAILABLE, WippyError
from ..pem import load_cert_chain
from .queue import Message


def _ms(seconds: float | None) -> int | None:
    return int(seconds * 1000) if seconds else None


class AmqpDriver:
    type = "amqp"

    def __init__(self, entry_id: str, m, env_lookup: Callable[[str], str | None]):
        self.entry_id = entry_id
        self.m = m
        self.env_lookup = env_lookup     # for the legacy tls.*_env fields
        self._ssl = self._ssl_context()  # a certificate that cannot be used refuses the entry
        self.closed = False
        self._connection: Any = None   # aio_pika's robust connection, made on first use
        self._publisher: Any = None    # its publisher-confirms channel
        self._lock = asyncio.Lock()
        self._queue_args: dict[str, dict] = {}      # queue name -> its declare arguments
        self._declared: set[str] = set()
        self._consumers: dict[str, _Subscription] = {}
        self._consumer_options: dict[str, Any] = {}

    # ------------------------------------------------------------------ connection
    def _url(self) -> str:
        parts = urlsplit(self.m.url)
        path = parts.path
        if self.m.vhost:
            path = "/" + quote(self.m.vhost, safe="")
        query = dict(q.split("=", 1) for q in parts.query.split("&") if "=" in q)
        if self.m.heartbeat is not None:
            query["heartbeat"] = str(int(self.m.heartbeat))
        if self.m.frame_size:
            query["frame_max"] = str(self.m.frame_size)
        if self.m.channel_max:
            query["channel_max"] = str(self.m.channel_max)
        if self.m.connection_name:
            query["name"] = self.m.connection_name
        if self.m.auth_mechanism == "EXTERNAL":
            query["auth"] = "external"
        return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))

    def _pem(self, name: str) -> str:
        tls = self.m.tls
        text = getattr(tls, name)
        env_name = getattr(tls, name + "_env")
        if text or not env_name:
            return text
        value = self.env_lookup(env_name)
        if not value:
            raise WippyError(INVALID, f"amqp driver {self.entry_id}: tls.{name}_env names {env_name}, which is not set")
        redaction.remember(env_name, value)
        return value

    def _ssl_context(self) -> ssl.SSLContext | None:
        """None without TLS; else a client context: the CAs of tls.ca (or the system's), the
        client certificate of tls.cert/key, the broker's name checked unless insecure_skip_verify."""
        if not self.m.use_tls():
            return None
        tls = self.m.tls
        where = f"amqp driver {self.entry_id}: tls"
        ctx = _Context(ssl.PROTOCOL_TLS_CLIENT)
        ctx.server_name = tls.server_name or None
        ca = self._pem("ca")
        try:
            if ca:
                ctx.load_verify_locations(cadata=ca)
            else:
                ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        except ssl.SSLError as e:
            raise WippyError(INVALID, f"{where}.ca cannot be used ({e.reason or e})") from None
        cert = self._pem("cert")
        if cert:
            try:
                load_cert_chain(ctx, cert, self._pem("key"))
            except ValueError as e:
                raise WippyError(INVALID, f"{where}: {e}") from None
        if tls.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    async def _conn(self):
        if self.closed:
            raise WippyError(UNAVAILABLE, f"queue driver {self.entry_id} is closed")
        async with self._lock:
            if self._connection is None or self._connection.is_closed:
                import aio_pika
                try:
                    self._connection = await asyncio.wait_for(
                        aio_pika.connect_robust(self._url(), reconnect_interval=self.m.reconnect_delay,
                                                ssl_context=self._ssl),
                        self.m.connection_timeout)
                except asyncio.TimeoutError:
                    raise WippyError(UNAVAILABLE, f"amqp driver {self.entry_id}: broker did not answer within "
                                                  f"{self.m.connection_timeout:g}s") from None
                except Exception as e:
                    raise WippyError(UNAVAILABLE, f"amqp driver {self.entry_id}: {e or type(e).__name__}") from None
                self._publisher = await self._connection.channel(publisher_confirms=True)
                self._declared.clear()
        return self._connection

    async def open(self) -> None:
        """Connect now (lifecycle.auto_start) rather than on first use."""
        await self._conn()

    async def _run(self, coro):
        import aio_pika.exceptions as x
        try:
            return await coro
        except WippyError:
            raise
        except (x.AMQPConnectionError, ConnectionError, OSError) as e:
            raise WippyError(UNAVAILABLE, f"amqp driver {self.entry_id}: {e or type(e).__name__}") from None
        except x.AMQPError as e:
            raise WippyError(INVALID, f"amqp driver {self.entry_id}: {e}") from None

    # ------------------------------------------------------------------ queues
    def declare(self, name: str, options) -> None:
        """A queue's driver_options.amqp (with the driver's defaults) for when it is declared."""
        o = options
        args = {"x-message-ttl": _ms(o.message_ttl if o and o.message_ttl else self.m.default_message_ttl),
                "x-expires": _ms(o.queue_expiry if o and o.queue_expiry else self.m.default_queue_expiry),
                "x-max-length": o.max_length if o else None}
        self._queue_args[name] = {"durable": o.durable if o else True, "auto_delete": o.auto_delete if o else False,
                                  "arguments": {k: v for k, v in args.items() if v}}
        self._declared.discard(name)

    async def _queue(self, channel, name: str):
        spec = self._queue_args.get(name) or {"durable": True, "auto_delete": False, "arguments": {}}
        queue = await channel.declare_queue(name, durable=spec["durable"], auto_delete=spec["auto_delete"],
                                            arguments=spec["arguments"] or None)
        self._declared.add(name)
        return queue

    async def publish(self, name: str, body: Any, headers: dict, attempts: int = 0, codec: str = codecs.JSON) -> str:
        import aio_pika

        async def go():
            await self._conn()
            if name not in self._declared:
                await self._queue(self._publisher, name)
            mid = uuid.uuid4().hex
            spec = self._queue_args.get(name) or {"durable": True}
            msg = aio_pika.Message(codecs.encode(codec, body), content_type=codecs.CONTENT_TYPES[codec], message_id=mid,
                                   headers={**(headers or {}), "x-attempts": attempts},
                                   delivery_mode=aio_pika.DeliveryMode.PERSISTENT if spec["durable"]
                                   else aio_pika.DeliveryMode.NOT_PERSISTENT)
            await self._publisher.default_exchange.publish(msg, routing_key=name)
            return mid
        return await self._run(go())

    def configure_consumer(self, consumer: str, options, prefetch: int) -> None:
        """A consumer's driver_options.amqp and prefetch, read when it subscribes."""
        self._consumer_options[consumer] = (options, prefetch)

    async def _subscription(self, name: str, consumer: str) -> "_Subscription":
        sub = self._consumers.get(consumer)
        if sub is not None and not sub.channel.is_closed:
            return sub
        conn = await self._conn()
        options, prefetch = self._consumer_options.get(consumer, (None, 10))
        if self.m.prefetch_count:
            prefetch = min(prefetch, self.m.prefetch_count)
        channel = await conn.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await self._queue(channel, name)
        sub = _Subscription(channel)
        await queue.consume(sub.buffer.put, consumer_tag=(options.consumer_tag if options and options.consumer_tag
                                                          else None),
                            exclusive=bool(options and options.exclusive),
                            arguments=None)
        self._consumers[consumer] = sub
        return sub

    async def release_consumer(self, consumer: str) -> None:
        """A stopped consumer: its channel closes, so the broker requeues what it held unacked."""
        self._consumer_options.pop(consumer, None)
        sub = self._consumers.pop(consumer, None)
        if sub is not None and not sub.channel.is_closed:
            try:
                await sub.channel.close()
            except Exception:  # the connection may be gone already; the broker requeues either way
                pass

    async def receive(self, name: str, n: int, timeout: float, consumer: str) -> list[Message]:
        sub = await self._run(self._subscription(name, consumer))
        out: list[Message] = []
        try:
            first = await asyncio.wait_for(sub.buffer.get(), timeout)
        except asyncio.TimeoutError:
            return out
        for raw in [first, *[sub.buffer.get_nowait() for _ in range(min(n - 1, sub.buffer.qsize()))]]:
            headers = dict(raw.headers or {})
            attempts = int(headers.pop("x-attempts", 0) or 0) + 1
            codec = codecs.of_content_type(raw.content_type)
            out.append(Message(raw.message_id or uuid.uuid4().hex, codecs.decode(codec, raw.body),
                               {str(k): str(v) for k, v in headers.items()}, attempts, raw_id=raw, codec=codec))
        return out

    async def ack(self, name: str, msg: Message) -> None:
        await self._run(msg.raw_id.ack())

    async def nack(self, name: str, msg: Message, delay: float = 0.0) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        await self.publish(name, msg.body, msg.headers, msg.attempts, msg.codec)
        await self.ack(name, msg)

    async def depth(self, name: str) -> dict:
        async def go():
            await self._conn()
            channel = await self._connection.channel()
            try:
                queue = await self._queue(channel, name)
                return {"depth": queue.declaration_result.message_count,
                        "consumers": queue.declaration_result.consumer_count}
            finally:
                await channel.close()
        return await self._run(go())

    def close(self):
        self.closed = True
        conn, self._connection = self._connection, None
        if conn is not None:
            try:
                asyncio.get_running_loop().create_task(conn.close())
            except RuntimeError:
                pass

    retire = close


class _Subscription:
    def __init__(self, channel):
        self.channel = channel
        self.buffer: asyncio.Queue = asyncio.Queue()



class _Context(ssl.SSLContext):
    """A client context that may check the broker's certificate against tls.server_name instead
    of the URL's host: asyncio passes the host to wrap_bio, which swaps it (SNI and check alike)."""
    server_name: str | None = None

    def wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None, session=None):
        return super().wrap_bio(incoming, outgoing, server_side=server_side,
                                server_hostname=self.server_name or server_hostname, session=session)

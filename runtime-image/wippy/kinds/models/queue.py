"""Queue kinds: drivers, queues and consumers."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from wippy.kinds.models.base import ConfigModel, KindModel, cel, duration, given
from wippy.kinds.models.lifecycle import ConsumerLifecycle, ResourceModel
from wippy.kinds.models.types import Duration, EntryRef
from wippy.registry.entry import resolve_ref


class MemoryDriver(ResourceModel):
    kind = "queue.driver.memory"

    max_length: int = Field(0, ge=0, description="Most messages waiting per queue (0 = no limit).")


class RedisDriver(ResourceModel):
    kind = "queue.driver.redis"

    url: str = Field("", description="redis:// URL; when set, host/port/db/password are ignored.")
    host: str = Field("localhost", description="Redis host.")
    port: int = Field(6379, ge=1, le=65535, description="Redis port.")
    db: int = Field(0, ge=0, description="Redis database number.")
    password: str = Field("", description="Password.")
    group: str = Field("wippy", description="Consumer group name used on every stream.")
    claim_idle: Duration = Field("30s", validate_default=True,
                                 description="A delivered message unacked this long is taken over by another consumer.")


class AmqpTls(ConfigModel):
    """TLS to the broker. The PEM fields hold the text (inline, file://, or ${env:NAME}); the legacy
    *_env fields name an env variable holding it."""
    model_config = ConfigDict(json_schema_extra=cel(
        *((f"!({given(name)} && {given(name + '_env')})", f"tls.{name} and tls.{name}_env are both given: keep one")
          for name in ("ca", "cert", "key")),
        (f"({given('cert')} || {given('cert_env')}) == ({given('key')} || {given('key_env')})",
         "tls.cert and tls.key go together (a client certificate needs its key)")))

    enabled: bool = Field(False, description="Connect over TLS (an amqps:// URL does too).")
    server_name: str = Field("", description="Name the broker's certificate must carry (default: the URL's host).")
    ca: str = Field("", description="PEM bundle of the CAs trusted for the broker (default: the system's).")
    cert: str = Field("", description="Client certificate, PEM (with key: mutual TLS, or auth_mechanism EXTERNAL).")
    key: str = Field("", description="Client private key, PEM.")
    insecure_skip_verify: bool = Field(False, description="Do not verify the broker's certificate (development only).")
    ca_env: str = Field("", description="Deprecated: env variable holding ca.")
    cert_env: str = Field("", description="Deprecated: env variable holding cert.")
    key_env: str = Field("", description="Deprecated: env variable holding key.")

    @model_validator(mode="after")
    def _pairs(self) -> AmqpTls:
        for name in ("ca", "cert", "key"):
            if getattr(self, name) and getattr(self, name + "_env"):
                raise ValueError(f"tls.{name} and tls.{name}_env are both given: keep one")
        if bool(self.cert or self.cert_env) != bool(self.key or self.key_env):
            raise ValueError("tls.cert and tls.key go together (a client certificate needs its key)")
        return self

    def settings_given(self) -> bool:
        return bool(self.server_name or self.ca or self.cert or self.key or self.insecure_skip_verify
                    or self.ca_env or self.cert_env or self.key_env)


def _tls_given(field: str) -> str:
    return f"(has(self.tls.{field}) && self.tls.{field} != '')"


# CEL: whether the driver connects over TLS (an amqps:// URL, or tls.enabled), and whether any TLS setting is given
_TLS_ON = ("((has(self.url) && self.url.lowerAscii().startsWith('amqps://')) || "
           "(has(self.tls) && has(self.tls.enabled) && self.tls.enabled))")
_TLS_SETTINGS = ("(has(self.tls) && (" + " || ".join(
    [_tls_given(f) for f in ("server_name", "ca", "cert", "key", "ca_env", "cert_env", "key_env")]
    + ["(has(self.tls.insecure_skip_verify) && self.tls.insecure_skip_verify)"]) + "))")
_TTL, _EXPIRY = duration("default_queue_ttl"), duration("default_queue_expiry")


class AmqpDriver(ResourceModel):
    kind = "queue.driver.amqp"
    model_config = ConfigDict(json_schema_extra=cel(
        (f"{_TLS_ON} || !{_TLS_SETTINGS}",
         "tls settings are given but TLS is off: set tls.enabled: true or use an amqps:// URL"),
        (f"!has(self.auth_mechanism) || self.auth_mechanism != 'EXTERNAL' || ({_TLS_ON} && has(self.tls) && "
         f"({_tls_given('cert')} || {_tls_given('cert_env')}))",
         "auth_mechanism EXTERNAL logs in with the TLS client certificate: it needs TLS with tls.cert and tls.key"),
        (f"!has(self.default_queue_ttl) || !has(self.default_queue_expiry) || !({_TTL[0]} && {_EXPIRY[0]}) || "
         f"{_TTL[1]} == {_EXPIRY[1]}",
         "default_queue_ttl and default_queue_expiry both set x-expires: give one")))

    url: str = Field("amqp://guest:guest@localhost:5672/", description="Broker URL (amqp:// or amqps://).")
    vhost: str = Field("", description="Virtual host (overrides the URL's).")
    connection_name: str = Field("", description="Name of the connection shown by the broker.")
    auth_mechanism: Literal["PLAIN", "EXTERNAL"] = Field(
        "PLAIN", description="SASL mechanism: PLAIN (the URL's user and password) or EXTERNAL (the TLS client "
        "certificate; AMQPLAIN is not supported here).")
    heartbeat: Duration | None = Field(None, description="Heartbeat interval asked of the broker.")
    connection_timeout: Duration = Field("30s", validate_default=True, description="Longest a connect may take.")
    reconnect_delay: Duration = Field("1s", validate_default=True, description="Wait between reconnection attempts.")
    default_message_ttl: Duration | None = Field(None, description="x-message-ttl of declared queues (a queue's own wins).")
    default_queue_expiry: Duration | None = Field(None, description="x-expires of declared queues (a queue's own wins).")
    default_queue_ttl: Duration | None = Field(None, description="Same as default_queue_expiry: RabbitMQ's queue TTL "
                                               "is x-expires (an unused queue is deleted after it).")
    prefetch_count: int | None = Field(None, ge=1, description="Ceiling on each consumer's prefetch.")
    frame_size: int | None = Field(None, ge=4096, description="Largest AMQP frame (frame_max).")
    channel_max: int | None = Field(None, ge=1, description="Most channels on the connection.")
    tls: AmqpTls = Field(default_factory=AmqpTls, description="TLS to the broker.")

    @model_validator(mode="before")
    @classmethod
    def _unsupported(cls, data):
        if isinstance(data, dict):
            if data.get("auth_mechanism") == "AMQPLAIN":
                raise ValueError("auth_mechanism AMQPLAIN is not supported here (the AMQP client, aio-pika, speaks "
                                 "PLAIN and EXTERNAL); PLAIN sends the same user and password")
            if data.get("reconnect_max_delay") is not None:
                raise ValueError("reconnect_max_delay is not supported: the AMQP client (aio-pika) reconnects every "
                                 "reconnect_delay, without backoff")
            data = {k: v for k, v in data.items() if k != "reconnect_max_delay"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> AmqpDriver:
        if self.default_queue_ttl is not None:
            if self.default_queue_expiry is not None and self.default_queue_expiry != self.default_queue_ttl:
                raise ValueError("default_queue_ttl and default_queue_expiry both set x-expires: give one")
            self.default_queue_expiry = self.default_queue_ttl
        if self.tls.enabled and self.url.lower().startswith("amqp://"):
            self.url = "amqps" + self.url[len("amqp"):]   # tls.enabled: the same broker address, over TLS
        on = self.use_tls()
        if not on and self.tls.settings_given():
            raise ValueError("tls settings are given but TLS is off: set tls.enabled: true or use an amqps:// URL")
        if self.auth_mechanism == "EXTERNAL" and not (on and (self.tls.cert or self.tls.cert_env)):
            raise ValueError("auth_mechanism EXTERNAL logs in with the TLS client certificate: it needs TLS with "
                             "tls.cert and tls.key")
        return self

    def use_tls(self) -> bool:
        return self.url.lower().startswith("amqps://")


class DeadLetter(ConfigModel):
    queue: EntryRef | None = Field(None, description="queue.queue entry receiving messages that failed too often.")
    max_attempts: int = Field(3, ge=1, description="Deliveries before a message is dead-lettered (or dropped).")


class MemoryQueueOptions(ConfigModel):
    max_length: int = Field(0, ge=0, description="Most messages waiting in this queue (0 = the driver's max_length).")


class AmqpQueueOptions(ConfigModel):
    durable: bool = Field(True, description="The queue survives a broker restart (and messages are persistent).")
    auto_delete: bool = Field(False, description="The broker deletes the queue when its last consumer leaves.")
    message_ttl: Duration | None = Field(None, description="Messages older than this are dropped (x-message-ttl).")
    queue_expiry: Duration | None = Field(None, description="An unused queue is deleted after this (x-expires).")
    max_length: int | None = Field(None, ge=1, description="Most messages the queue keeps (x-max-length).")


class QueueDriverOptions(ConfigModel):
    """Per-driver options: a driver reads only its own; the others stay dormant (one queue entry may
    carry options for several drivers)."""

    memory: MemoryQueueOptions | None = Field(None, description="For queue.driver.memory.")
    amqp: AmqpQueueOptions | None = Field(None, description="For queue.driver.amqp.")


class AmqpConsumerOptions(ConfigModel):
    model_config = ConfigDict(json_schema_extra=cel(
        *((f"!has(self.{name}) || !self.{name}", f"{name}: not supported here (RabbitMQ ignores no_local; aio-pika "
           "always waits for the subscription to be confirmed)") for name in ("no_local", "no_wait"))))
    consumer_tag: str = Field("", description="Identifier of this subscription on the broker (default: generated).")
    exclusive: bool = Field(False, description="Only this consumer may read the queue.")
    no_local: bool = Field(False, description="Not supported (RabbitMQ does not implement it): must stay false.")
    no_wait: bool = Field(False, description="Not supported (the subscription is always confirmed): must stay false.")

    @model_validator(mode="after")
    def _unsupported(self) -> AmqpConsumerOptions:
        for name in ("no_local", "no_wait"):
            if getattr(self, name):
                raise ValueError(f"{name}: not supported here (RabbitMQ ignores no_local; aio-pika always waits for "
                                 "the subscription to be confirmed)")
        return self


class ConsumerDriverOptions(ConfigModel):
    amqp: AmqpConsumerOptions | None = Field(None, description="For queue.driver.amqp.")


class Queue(ResourceModel):
    kind = "queue.queue"

    driver: EntryRef = Field(description="The queue.driver.* entry carrying the messages.")
    queue_name: str = Field("", description="Name on the driver (defaults to the entry id).")
    codec: Literal["json/plain", "json", "application/msgpack"] = Field(
        "json/plain", description="Body encoding on the wire: json/plain (or json) or application/msgpack.")
    dead_letter: DeadLetter | None = Field(None, description="Where messages go after max_attempts failed deliveries.")
    driver_options: QueueDriverOptions = Field(default_factory=QueueDriverOptions,
                                               description="Options by driver name (memory, amqp).")

    def references(self, entry_ns: str) -> set[str]:
        refs = super().references(entry_ns) | {resolve_ref(self.driver, entry_ns)}
        if self.dead_letter and self.dead_letter.queue:
            refs.add(resolve_ref(self.dead_letter.queue, entry_ns))
        return refs


class Consumer(KindModel):
    kind = "queue.consumer"

    queue: EntryRef = Field(description="The queue.queue entry to consume.")
    func: EntryRef = Field(description="function.lua called with each message body; an error or false = nack.")
    concurrency: int = Field(1, ge=1, le=1000, description="Messages handled at once.")
    prefetch: int = Field(10, ge=1, le=10000, description="Messages taken from the driver ahead of handling.")
    auto_ack: bool = Field(True, description="Ack when the handler returns (otherwise the handler calls msg:ack()).")
    retry_delay: Duration = Field("0s", validate_default=True, description="Delay before a nacked message is redelivered.")
    driver_options: ConsumerDriverOptions = Field(default_factory=ConsumerDriverOptions,
                                                  description="Options by driver name (amqp).")
    lifecycle: ConsumerLifecycle = Field(default_factory=ConsumerLifecycle, description="Start, stop and restart policy.")

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(self.queue, entry_ns), resolve_ref(self.func, entry_ns)} | self.lifecycle.references(entry_ns)

"""Queue kinds: drivers, queues and consumers."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from wippy.kinds.models.base import ConfigModel, KindModel
from wippy.kinds.models.lifecycle import Lifecycle
from wippy.kinds.models.types import Duration, EntryRef
from wippy.registry.entry import resolve_ref


class MemoryDriver(KindModel):
    kind = "queue.driver.memory"

    max_length: int = Field(0, ge=0, description="Most messages waiting per queue (0 = no limit).")


class RedisDriver(KindModel):
    kind = "queue.driver.redis"

    url: str = Field("", description="redis:// URL; when set, host/port/db/password are ignored.")
    host: str = Field("localhost", description="Redis host.")
    port: int = Field(6379, ge=1, le=65535, description="Redis port.")
    db: int = Field(0, ge=0, description="Redis database number.")
    password: str = Field("", description="Password.")
    group: str = Field("wippy", description="Consumer group name used on every stream.")
    claim_idle: Duration = Field("30s", validate_default=True,
                                 description="A delivered message unacked this long is taken over by another consumer.")


class DeadLetter(ConfigModel):
    queue: EntryRef | None = Field(None, description="queue.queue entry receiving messages that failed too often.")
    max_attempts: int = Field(3, ge=1, description="Deliveries before a message is dead-lettered (or dropped).")


class Queue(KindModel):
    kind = "queue.queue"

    driver: EntryRef = Field(description="The queue.driver.* entry carrying the messages.")
    queue_name: str = Field("", description="Name on the driver (defaults to the entry id).")
    codec: str = Field("json", description="Body encoding on the wire (json).")
    dead_letter: DeadLetter | None = Field(None, description="Where messages go after max_attempts failed deliveries.")
    driver_options: dict[str, Any] = Field(default_factory=dict, description="Driver-specific options.")

    def references(self, entry_ns: str) -> set[str]:
        refs = {resolve_ref(self.driver, entry_ns)}
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
    driver_options: dict[str, Any] = Field(default_factory=dict, description="Driver-specific options.")
    lifecycle: Lifecycle = Field(default_factory=Lifecycle, description="Start and stop policy.")

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(self.queue, entry_ns), resolve_ref(self.func, entry_ns)} | self.lifecycle.references(entry_ns)

"""Key-value store kinds: store.memory, store.sql, store.redis."""

from __future__ import annotations

from pydantic import Field, model_validator

from wippy.kinds.models.lifecycle import ResourceModel
from wippy.kinds.models.types import Duration, EntryRef
from wippy.registry.entry import resolve_ref


class MemoryStore(ResourceModel):
    kind = "store.memory"

    max_size: int = Field(10000, ge=1, description="Most keys kept; setting a new key beyond it fails.")
    cleanup_interval: Duration = Field("5m", validate_default=True, description="How often expired keys are swept.")


class SqlStore(ResourceModel):
    kind = "store.sql"

    database: EntryRef = Field(description="The db.sql.* entry holding the table.")
    table_name: str = Field("kv_store", pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", description="Table (created if missing).")
    table: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$",
                              description="Same as table_name (the spelling of the entry-kinds guide); wins when set.")
    id_column_name: str = Field("key", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Key column.")
    payload_column_name: str = Field("value", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Value column (JSON text).")
    expire_column_name: str = Field("expires_at", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Expiry column (unix seconds).")
    cleanup_interval: Duration = Field("5m", validate_default=True, description="How often expired rows are deleted.")

    @model_validator(mode="after")
    def _either_spelling(self) -> SqlStore:
        if self.table:
            self.table_name = self.table
        return self

    def references(self, entry_ns: str) -> set[str]:
        return super().references(entry_ns) | {resolve_ref(self.database, entry_ns)}


class RedisStore(ResourceModel):
    kind = "store.redis"

    url: str = Field("", description="redis:// URL; when set, host/port/db/password are ignored.")
    host: str = Field("localhost", description="Redis host.")
    port: int = Field(6379, ge=1, le=65535, description="Redis port.")
    db: int = Field(0, ge=0, description="Redis database number.")
    password: str = Field("", description="Password.")
    key_prefix: str = Field("", description="Prefix added to every key (defaults to the entry id and ':').")

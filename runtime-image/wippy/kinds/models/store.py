"""Key-value store kinds: store.memory, store.sql, store.redis."""

from __future__ import annotations

from pydantic import Field

from wippy.kinds.models.base import KindModel
from wippy.kinds.models.types import Duration, EntryRef
from wippy.registry.entry import resolve_ref


class MemoryStore(KindModel):
    kind = "store.memory"

    max_size: int = Field(10000, ge=1, description="Most keys kept; setting a new key beyond it fails.")
    cleanup_interval: Duration = Field("5m", validate_default=True, description="How often expired keys are swept.")


class SqlStore(KindModel):
    kind = "store.sql"

    database: EntryRef = Field(description="The db.sql.* entry holding the table.")
    table_name: str = Field("kv_store", pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", description="Table (created if missing).")
    id_column_name: str = Field("key", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Key column.")
    payload_column_name: str = Field("value", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Value column (JSON text).")
    expire_column_name: str = Field("expires_at", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Expiry column (unix seconds).")
    cleanup_interval: Duration = Field("5m", validate_default=True, description="How often expired rows are deleted.")

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(self.database, entry_ns)}


class RedisStore(KindModel):
    kind = "store.redis"

    url: str = Field("", description="redis:// URL; when set, host/port/db/password are ignored.")
    host: str = Field("localhost", description="Redis host.")
    port: int = Field(6379, ge=1, le=65535, description="Redis port.")
    db: int = Field(0, ge=0, description="Redis database number.")
    password: str = Field("", description="Password.")
    key_prefix: str = Field("", description="Prefix added to every key (defaults to the entry id and ':').")

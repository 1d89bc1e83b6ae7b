"""SQL database kinds: db.sql.sqlite, db.sql.postgres, db.sql.mysql."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from wippy.kinds.models.base import ConfigModel, KindModel
from wippy.kinds.models.types import Duration


class PoolOptions(ConfigModel):
    max_open: int = Field(10, ge=1, le=1000, description="Most connections open at once.")
    max_idle: int = Field(2, ge=0, le=1000, description="Idle connections kept open.")
    max_lifetime: Duration = Field("1h", validate_default=True, description="Longest a connection is reused.")


class SqliteDatabase(KindModel):
    kind = "db.sql.sqlite"

    file: str = Field(":memory:", description="Database file (relative to the app folder) or ':memory:'.")
    pool: PoolOptions = Field(default_factory=lambda: PoolOptions(max_open=4),
                              description="Connection pool (':memory:' always uses one connection).")
    busy_timeout: Duration = Field("5s", validate_default=True, description="How long a write waits for a lock.")


class _ServerDatabase(KindModel):
    host: str = Field("localhost", description="Server host name or address.")
    port: int = Field(0, ge=0, le=65535, description="Server port (0 = the driver's default).")
    database: str = Field(description="Database name.")
    username: str = Field("", description="User name.")
    password: str = Field("", description="Password (use ${env:NAME} to keep it out of files).")
    options: dict[str, Any] = Field(default_factory=dict, description="Driver options (server settings).")
    pool: PoolOptions = Field(default_factory=PoolOptions, description="Connection pool.")
    connect_timeout: Duration = Field("10s", validate_default=True, description="Time allowed to connect.")


class PostgresDatabase(_ServerDatabase):
    kind = "db.sql.postgres"


class MysqlDatabase(_ServerDatabase):
    kind = "db.sql.mysql"

"""SQL database kinds: db.sql.sqlite, db.sql.postgres, db.sql.mysql."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import Field, field_validator

from wippy.kinds.models.base import ConfigModel
from wippy.kinds.models.lifecycle import ResourceModel
from wippy.kinds.models.types import Duration


class PoolOptions(ConfigModel):
    max_open: int = Field(10, ge=1, le=1000, description="Most connections open at once.")
    max_idle: int = Field(2, ge=0, le=1000, description="Idle connections kept open.")
    max_lifetime: Duration = Field("1h", validate_default=True, description="Longest a connection is reused.")


# PRAGMAs an entry may set (journal_mode is WAL for files, as in Wippy, unless set here).
SQLITE_PRAGMAS = ("foreign_keys", "journal_mode", "synchronous", "cache_size", "temp_store", "mmap_size",
                  "auto_vacuum", "secure_delete", "case_sensitive_like", "recursive_triggers")


class SqliteDatabase(ResourceModel):
    kind = "db.sql.sqlite"

    file: str = Field(":memory:", description="Database file (relative to the app folder) or ':memory:'.")
    pool: PoolOptions = Field(default_factory=lambda: PoolOptions(max_open=4),
                              description="Connection pool (':memory:' always uses one connection).")
    busy_timeout: Duration = Field("5s", validate_default=True, description="How long a write waits for a lock.")
    options: dict[str, str | int | bool] = Field(
        default_factory=dict, description="SQLite PRAGMAs set on every connection (" + ", ".join(SQLITE_PRAGMAS) + ").")

    @field_validator("options")
    @classmethod
    def _known_pragmas(cls, options: dict) -> dict:
        out = {}
        for name, value in options.items():
            if name not in SQLITE_PRAGMAS:
                close = difflib.get_close_matches(name, SQLITE_PRAGMAS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(SQLITE_PRAGMAS)})"
                raise ValueError(f"unknown SQLite option '{name}'{hint}")
            if isinstance(value, bool):
                value = "ON" if value else "OFF"
            if not re.fullmatch(r"-?[A-Za-z0-9_]+", str(value)):
                raise ValueError(f"SQLite option '{name}': value {value!r} must be a word or a number")
            out[name] = value
        return out


class _ServerDatabase(ResourceModel):
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

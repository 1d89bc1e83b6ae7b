"""Filesystem kinds: fs.directory."""

from __future__ import annotations

from pydantic import Field

from wippy.kinds.models.base import KindModel


class Directory(KindModel):
    kind = "fs.directory"

    directory: str = Field(description="Root directory (relative to the app folder); code cannot leave it.")
    auto_init: bool = Field(False, description="Create the directory if it does not exist.")
    mode: str = Field("0755", pattern=r"^0?[0-7]{3,4}$", description="Permissions for created directories (octal).")
    readonly: bool = Field(False, description="Refuse every write.")

"""Filesystem kinds: fs.directory."""

from __future__ import annotations

from pydantic import Field

from wippy.kinds.models.base import KindModel
from wippy.kinds.models.types import FileMode


class Directory(KindModel):
    kind = "fs.directory"

    directory: str = Field(description="Root directory (relative to the app folder); code cannot leave it.")
    auto_init: bool = Field(False, description="Create the directory if it does not exist.")
    mode: FileMode = Field(0o755, description="Permissions for created directories (0755, or \"0755\").")
    readonly: bool = Field(False, description="Refuse every write.")

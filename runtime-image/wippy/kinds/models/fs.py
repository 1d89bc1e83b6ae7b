"""Filesystem kinds: fs.directory, fs.embed."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from wippy.kinds.models.base import ConfigModel, KindModel, cel
from wippy.kinds.models.types import FileMode


class Directory(KindModel):
    kind = "fs.directory"

    directory: str = Field(description="Root directory (relative to the app folder); code cannot leave it.")
    auto_init: bool = Field(False, description="Create the directory if it does not exist.")
    mode: FileMode = Field(0o755, description="Permissions for created directories (0755, or \"0755\").")
    readonly: bool = Field(False, description="Refuse every write.")
    base: Literal["project", "module"] = Field(
        "project", description="What a relative directory is relative to: 'project', the app folder.")

    @field_validator("base")
    @classmethod
    def _no_module_base(cls, base: str) -> str:
        if base == "module":
            raise ValueError("base 'module' needs module packs, which this runtime does not load; use 'project'")
        return base


class EmbeddedFile(ConfigModel):
    base64: str = Field(description="File content, base64-encoded (for content that is not UTF-8 text).")


class Embedded(KindModel):
    """Files carried inside the entry itself (in a folder app, `directory:` is read into `files` when
    the definition loads, so the entry holds them wherever it goes, a custom resource included)."""

    kind = "fs.embed"
    model_config = ConfigDict(json_schema_extra=cel(
        ("!has(self.directory)", "directory is read into files by the definition-file loader; here give files")))

    files: dict[str, str | EmbeddedFile] = Field(
        default_factory=dict, description="Path (relative, '/'-separated) -> UTF-8 text or {base64: ...}.")
    directory: str | None = Field(
        None, description="In a definition file: a folder next to it whose files are embedded when it loads.")

    @field_validator("files")
    @classmethod
    def _paths(cls, files: dict) -> dict:
        for path in files:
            parts = path.split("/")
            if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in path:
                raise ValueError(f"file path {path!r} must be relative, '/'-separated, without '.' or '..'")
        return files

    @model_validator(mode="after")
    def _loaded(self) -> Embedded:
        if self.directory is not None:
            raise ValueError("directory is read into files by the definition-file loader; here give files")
        return self

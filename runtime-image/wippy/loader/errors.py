"""Problems found while reading definition files."""

from __future__ import annotations

from dataclasses import dataclass

from wippy.registry.entry import SourceLocation


@dataclass(frozen=True)
class LoadError:
    file: str
    line: int | None
    entry_id: str | None
    message: str
    # the file as a whole could not be read (YAML syntax, namespace...): none of its entries are known
    whole_file: bool = False

    def __str__(self) -> str:
        where = SourceLocation(self.file, self.line)
        what = f"entry {self.entry_id}: " if self.entry_id else ""
        return f"{where}: {what}{self.message}"

"""Where the public Wippy documentation (the specification) is, for the tests that read it.

It is not part of this repository: it sits in `shared/wippy-docs` beside the checkout (or beside
its parent, for a git worktree), at the workplace's `/work/shared/wippy-docs`, or where
`WIPPY_DOCS` says. Every test that reads it finds it here, so a checkout elsewhere runs the same
docs tests as the main one."""
from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def _find() -> Path | None:
    candidates = [os.environ.get("WIPPY_DOCS"), _REPO.parent / "shared" / "wippy-docs",
                  _REPO.parent.parent / "shared" / "wippy-docs", "/work/shared/wippy-docs"]
    for c in candidates:
        if c and (Path(c) / "guides" / "entry-kinds.md").is_file():
            return Path(c)
    return None


DOCS: Path | None = _find()
ABSENT = "the Wippy documentation is not at hand (shared/wippy-docs beside the checkout, or set WIPPY_DOCS)"

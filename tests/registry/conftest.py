from __future__ import annotations

import pytest
from registry_helpers import Recorder

from wippy.kinds.models import entry_references, validate_entry
from wippy.registry import MemoryHistory, Registry


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def registry(recorder: Recorder) -> Registry:
    reg = Registry(MemoryHistory(), validate=validate_entry, references=entry_references)
    reg.add_handler("**", recorder)
    return reg

"""The Lua modules: which exist, what class each is, and how each is installed.

A module is `<name>.lua` (run inside the engine with the scheduler table) or `<name>.py`
(a Python module exposing `install(engine) -> dict`), or both (the Lua file then receives
the Python part as its third argument).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..engine.convert import lua_type


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    classes: frozenset[str]
    is_global: bool = False
    terminal_only: bool = False


def _spec(name: str, *classes: str, is_global: bool = False, terminal_only: bool = False) -> ModuleSpec:
    return ModuleSpec(name, frozenset(classes), is_global, terminal_only)


# Order matters: globals first (later modules may use them), then requirable modules.
SPECS: list[ModuleSpec] = [
    _spec("binary", "deterministic"),
    _spec("stdlib", "deterministic"),
    _spec("stream", "io"),
    _spec("errors", "deterministic", is_global=True),
    _spec("channel", "deterministic", is_global=True),
    _spec("payload", "deterministic", "encoding", is_global=True),
    _spec("process", "process", "workflow", is_global=True),
    _spec("print", "io", is_global=True),
    _spec("time", "time", "workflow"),
    _spec("time_value", "time", "workflow"),
    _spec("funcs", "process", "workflow"),
    _spec("ctx", "workflow"),
    _spec("json", "deterministic", "encoding"),
    _spec("yaml", "deterministic", "encoding"),
    _spec("base64", "deterministic", "encoding"),
    _spec("hash", "deterministic", "security"),
    _spec("expr", "deterministic"),
    _spec("html", "deterministic", "encoding"),
    _spec("compress", "deterministic", "encoding"),
    _spec("crypto", "nondeterministic", "security"),
    _spec("text", "deterministic"),
    _spec("uuid", "nondeterministic", "workflow"),
    _spec("logger", "io"),
    _spec("env", "nondeterministic", "storage"),
    _spec("registry", "storage", "io"),
    _spec("http", "network", "io"),
    _spec("http_client", "network", "io"),
    _spec("metrics", "io"),
    _spec("sql", "storage", "io"),
    _spec("store", "storage", "io"),
    _spec("queue", "storage", "io"),
    _spec("events", "io"),
    _spec("pubsub", "io"),
    _spec("fs", "storage", "io"),
    _spec("security", "security"),
    _spec("system", "system"),
    _spec("pg", "process"),
    _spec("templates", "deterministic"),
    _spec("exec", "process", "io"),
    _spec("websocket", "network", "io"),
    _spec("contract", "process"),
    _spec("excel", "io"),
    _spec("eval_runner", "process"),
    _spec("archive", "io", "encoding"),
    _spec("io", "io", terminal_only=True),
    _spec("workflow", "workflow"),
]
BY_NAME = {s.name: s for s in SPECS}
# internal helpers that are installed but cannot be required by name
INTERNAL = {"binary", "stdlib", "stream", "time_value", "print", "pubsub"}
# what require() finds without the entry listing it in `modules:` (the globals); the linter's
# undeclared-require check reads this set too, so lint and run time resolve alike
AMBIENT = frozenset(s.name for s in SPECS if s.is_global)


def _has(name: str, suffix: str) -> bool:
    return resources.files(__package__).joinpath(name + suffix).is_file()


def _py_table(engine, value: Any) -> Any:
    if callable(value) and lua_type(value) is None:
        return engine.wrap(value)
    if isinstance(value, dict):
        t = engine.lua.table()
        for k, v in value.items():
            t[k] = _py_table(engine, v)
        return t
    return engine.to_lua(value)


def install_all(engine, only: set[str] | None = None) -> None:
    S = engine.S
    S.ambient = engine.lua.table_from({name: True for name in AMBIENT})
    for spec in SPECS:
        if only is not None and spec.name not in only and not spec.is_global and spec.name not in INTERNAL:
            continue
        if spec.terminal_only and not engine.terminal:
            continue
        py_part = None
        if _has(spec.name, ".py"):
            mod = importlib.import_module(f"{__package__}.{spec.name}")
            py_part = _py_table(engine, mod.install(engine))
        if _has(spec.name, ".lua"):
            src = resources.files(__package__).joinpath(spec.name + ".lua").read_text()
            value = engine.lua.execute(src, S, engine.P, py_part)
        else:
            value = py_part
        if spec.is_global:
            S.base_raw[spec.name] = value
        if spec.name not in INTERNAL:
            S.modules[spec.name] = value

"""The app folder's `.wippy.yaml`: the settings this runtime takes from it.

Only `lua.eval` (the eval_runner compile cache) is read. Every other setting is reported as not
applied, naming the file and line: this runtime is configured by its entries, the command line
and, in Kubernetes, the custom resources."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .durations import parse_duration
from .loader.yaml_source import YamlError, parse

log = logging.getLogger(__name__)

FILE = ".wippy.yaml"


@dataclass(frozen=True)
class EvalCache:
    size: int = 256       # compiled programs kept; 0 or less: none
    ttl: float = 0.0      # seconds a compiled program is kept; 0: no expiry


@dataclass(frozen=True)
class AppConfig:
    eval_cache: EvalCache = field(default_factory=EvalCache)
    problems: tuple[str, ...] = ()    # "file:line: message", also logged


def _lines(node: yaml.Node, prefix: str = "") -> dict[str, int]:
    """Dotted key path -> line (1-based) of each mapping key."""
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            path = f"{prefix}{k.value}"
            out[path] = k.start_mark.line + 1
            out.update(_lines(v, path + "."))
    return out


def load(app_dir: Path | None) -> AppConfig:
    path = app_dir / FILE if app_dir is not None else None
    if path is None or not path.is_file():
        return AppConfig()
    problems: list[str] = []

    def problem(line: int, msg: str) -> None:
        problems.append(f"{path}:{line}: {msg}")

    try:
        parsed = parse(path.read_text())     # the loader's parser: bounded aliases, no duplicate keys
    except (OSError, UnicodeDecodeError) as e:
        return _done(AppConfig(problems=(f"{path}: cannot read: {e}",)))
    except YamlError as e:
        return _done(AppConfig(problems=(f"{path}:{e.line or 1}: {e}",)))
    doc = parsed.data
    if doc is None or parsed.node is None:
        return AppConfig()
    if not isinstance(doc, dict):
        return _done(AppConfig(problems=(f"{path}:1: expected a mapping of settings",)))
    lines = _lines(parsed.node)
    size, ttl = EvalCache.size, EvalCache.ttl
    for key, value in doc.items():
        if key == "version":
            continue
        if key != "lua" or not isinstance(value, dict):
            problem(lines.get(str(key), 1), f"'{key}' is not applied by this runtime (of .wippy.yaml it reads lua.eval only)")
            continue
        for lkey, lvalue in value.items():
            at = lines.get(f"lua.{lkey}", 1)
            if lkey != "eval" or not isinstance(lvalue, dict):
                problem(at, f"'lua.{lkey}' is not applied by this runtime (of .wippy.yaml it reads lua.eval only)")
                continue
            for ekey, evalue in lvalue.items():
                at = lines.get(f"lua.eval.{ekey}", at)
                if ekey == "cache_size":
                    if isinstance(evalue, int) and not isinstance(evalue, bool):
                        size = evalue
                    else:
                        problem(at, f"lua.eval.cache_size must be an integer, got {evalue!r} (the default {size} applies)")
                elif ekey == "cache_ttl":
                    try:
                        ttl = parse_duration(evalue)
                        if ttl < 0:
                            raise ValueError(f"invalid duration {evalue!r}: negative")
                    except ValueError as e:
                        ttl = EvalCache.ttl
                        problem(at, f"lua.eval.cache_ttl: {e} (no expiry applies)")
                else:
                    problem(at, f"unknown setting lua.eval.{ekey} (known: cache_size, cache_ttl)")
    return _done(AppConfig(EvalCache(size, ttl), tuple(problems)))


def _done(cfg: AppConfig) -> AppConfig:
    for p in cfg.problems:
        log.warning("%s", p)
    return cfg


"""Environment storages behind `env.storage.*` entries: memory, os (read-only), file
(.env lines), static (read-only values) and router (first hit reads, first writable
writes)."""
from __future__ import annotations

import os
from pathlib import Path

from ..engine.errors import WippyError, INVALID, PERMISSION_DENIED
from ..registry.entry import resolve_ref


class MemoryEnv:
    writable = True

    def __init__(self):
        self.values: dict[str, str] = {}

    def adopt(self, old):
        if isinstance(old, MemoryEnv):
            self.values = old.values

    def get(self, key):
        return self.values.get(key)

    def set(self, key, value):
        self.values[key] = value

    def all(self):
        return dict(self.values)


class OsEnv:
    writable = False

    def __init__(self, prefix: str = ""):
        self.prefix = prefix

    def get(self, key):
        return os.environ.get(self.prefix + key)

    def set(self, key, value):
        raise WippyError(PERMISSION_DENIED, "env.storage.os is read-only")

    def all(self):
        p = self.prefix
        return {k[len(p):]: v for k, v in os.environ.items() if k.startswith(p)}


class StaticEnv(OsEnv):
    def __init__(self, values: dict):
        self.values = dict(values)

    def get(self, key):
        return self.values.get(key)

    def set(self, key, value):
        raise WippyError(PERMISSION_DENIED, "env.storage.static is read-only")

    def all(self):
        return dict(self.values)


class FileEnv:
    writable = True

    def __init__(self, path: Path, auto_create: bool, file_mode: int, dir_mode: int):
        self.path, self.file_mode = path, file_mode
        if not path.exists():
            if not auto_create:
                raise WippyError(INVALID, f"env file {path} does not exist (set auto_create: true)")
            path.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
            path.touch(mode=file_mode)
        self._cache: tuple[float, dict] | None = None

    def _read(self) -> dict:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if self._cache and self._cache[0] == mtime:
            return self._cache[1]
        values = {}
        for line in self.path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            k, v = k.strip().removeprefix("export ").strip(), v.strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            values[k] = v
        self._cache = (mtime, values)
        return values

    def get(self, key):
        return self._read().get(key)

    def set(self, key, value):
        values = dict(self._read())
        values[key] = value
        text = "".join(f"{k}={_quote(v)}\n" for k, v in values.items())
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(text)
        os.chmod(tmp, self.file_mode)
        os.replace(tmp, self.path)
        self._cache = None

    def all(self):
        return dict(self._read())


def _quote(v: str) -> str:
    return f'"{v}"' if any(c in v for c in " #'\"") else v


class RouterEnv:
    def __init__(self, res, ids: list[str]):
        self.res, self.ids = res, ids

    @property
    def writable(self):
        return any(getattr(self.res.env_storage(i), "writable", False) for i in self.ids)

    def get(self, key):
        for i in self.ids:
            v = self.res.env_storage(i).get(key)
            if v is not None:
                return v
        return None

    def set(self, key, value):
        for i in self.ids:
            s = self.res.env_storage(i)
            if s.writable:
                return s.set(key, value)
        raise WippyError(PERMISSION_DENIED, "no writable storage in the env router")

    def all(self):
        out = {}
        for i in reversed(self.ids):
            out.update(self.res.env_storage(i).all())
        return out


class Variable:
    """An env.variable entry: a public name bound to a storage, with a default."""

    def __init__(self, res, entry_id: str, m):
        ns, name = entry_id.split(":", 1)
        self.res = res
        self.name = m.variable or name
        self.storage = resolve_ref(m.storage, ns) if m.storage else None
        self.default, self.readonly = m.default, m.readonly

    def _store(self):
        return self.res.env_storage(self.storage) if self.storage else OsEnv()

    def get(self):
        v = self._store().get(self.name)
        return self.default if v is None else v

    def set(self, value):
        if self.readonly:
            raise WippyError(PERMISSION_DENIED, f"env variable {self.name} is read-only")
        self._store().set(self.name, value)


def _base(res) -> Path:
    return res.base_dir or Path.cwd()


def build(res, entry, m):
    k = entry.kind
    if k == "env.storage.memory":
        return MemoryEnv()
    if k == "env.storage.os":
        return OsEnv(m.prefix)
    if k == "env.storage.static":
        return StaticEnv(m.values)
    if k == "env.storage.file":
        p = Path(m.file_path).expanduser()
        if not p.is_absolute():
            p = _base(res) / p
        return FileEnv(p, m.auto_create, m.file_mode, m.dir_mode)
    if k == "env.storage.router":
        ns = entry.id.split(":", 1)[0]
        return RouterEnv(res, [resolve_ref(s, ns) for s in m.storages])
    if k == "env.variable":
        return Variable(res, entry.id, m)
    raise WippyError(INVALID, f"unknown env kind {k}")


def variables(res) -> dict[str, Variable]:
    """Public name -> Variable, for every env.variable entry of the node's registry."""
    reg = getattr(res.node, "registry", None)
    out: dict[str, Variable] = {}
    if reg is None:
        return out
    for e in reg.entries():
        if e.kind == "env.variable":
            try:
                v = res.get(e.id, "env.variable", "env variable")
            except WippyError:
                continue
            out[v.name] = v
    return out


class NodeEnv:
    """The node's environment as the `env` module and `${env:...}` see it (it is `node.env`):
    names declared by env.variable entries go to their storages; any other name reads the OS
    environment, and setting it writes a node-local overlay (os.environ never changes)."""

    def __init__(self, node):
        self.node = node
        self.overlay = MemoryEnv()

    def _res(self):
        from . import Resources
        return Resources.of(self.node)

    def get(self, key: str) -> str | None:
        var = variables(self._res()).get(key)
        if var is not None:
            return var.get()
        value = self.overlay.get(key)
        return value if value is not None else os.environ.get(key)

    def set(self, key: str, value) -> None:
        value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        var = variables(self._res()).get(key)
        if var is not None:
            var.set(value)
        else:
            self.overlay.set(key, value)

    def all(self) -> dict[str, str]:
        out = dict(os.environ)
        out.update(self.overlay.all())
        for name, var in variables(self._res()).items():
            value = var.get()
            if value is not None:
                out[name] = value
        return out

"""Python side of the `registry` module: reads, snapshots, changesets and rollback on the
node's live registry. Every apply goes through the same path as file and Kubernetes edits."""
from __future__ import annotations

from collections import OrderedDict

from ..engine.errors import WippyError, INVALID, NOT_FOUND, CONFLICT, INTERNAL, PERMISSION_DENIED
from ..loader.interpolate import placeholders
from ..registry import ApplyError, Entry, InvalidEntryId, Op, diff, parse_id

SNAPSHOT_CACHE = 64


def _entry_table(e: Entry) -> dict:
    return e.to_dict()


def _apply_error(e: ApplyError) -> WippyError:
    kind = {"Invalid": INVALID, "NotFound": NOT_FOUND, "Conflict": CONFLICT}.get(getattr(e, "kind", ""), INVALID)
    return WippyError(kind, str(e))


def _refuse_placeholders(entry: Entry) -> None:
    """Entries written from Lua may not hold `${env:...}`: resolving them would hand any process
    allowed to apply changes every environment variable of the node (read back from the entry, or
    from an error), around the `env.get` policy. Lua code reads variables through `env`."""
    paths = placeholders(entry.data)
    if paths:
        raise WippyError(PERMISSION_DENIED, f"entry {entry.id}: environment placeholders (${{...}}) are not allowed "
                                            f"in changes made from Lua (field {', '.join(paths)}); use the env module")


def install(engine):
    def registry():
        reg = getattr(engine.node, "registry", None)
        if reg is None:
            raise WippyError(INTERNAL, "no registry on this node")
        return reg

    snapshots: OrderedDict[int, object] = OrderedDict()

    def snap(version):
        reg = registry()
        version = int(version)
        s = snapshots.get(version)
        if s is None:
            try:
                s = reg.snapshot() if version == reg.version else reg.snapshot_at(version)
            except (KeyError, ValueError) as e:
                raise WippyError(NOT_FOUND, f"version {version} not found") from e
            snapshots[version] = s
            if len(snapshots) > SNAPSHOT_CACHE:
                snapshots.popitem(last=False)
        return s

    def get(entry_id, version=None):
        s = snap(version) if version is not None else registry()
        e = s.get(entry_id)
        if e is None:
            raise WippyError(NOT_FOUND, f"entry {entry_id} not found")
        return engine.to_lua(_entry_table(e))

    def find(flt, version=None):
        s = snap(version) if version is not None else registry()
        f = engine.py(flt) if flt is not None else {}
        if isinstance(f, list):   # an empty Lua table converts to []
            f = {}
        try:
            found = s.find(f)
        except ValueError as e:
            raise WippyError(INVALID, f"invalid filter: {e}") from None
        return engine.to_lua([_entry_table(e) for e in sorted(found, key=lambda e: e.id)])

    def entries(version):
        return engine.to_lua([_entry_table(e) for e in sorted(snap(version).entries(), key=lambda e: e.id)])

    def namespace(version, ns):
        return engine.to_lua([_entry_table(e) for e in sorted(snap(version).namespace(ns), key=lambda e: e.id)])

    def current_version():
        return registry().version

    def has_version(version):
        return any(v.id == version for v in registry().versions())

    def versions():
        return engine.to_lua([{"id": v.id, "parent": v.parent, "origin": v.origin,
                               "created_at": str(v.created_at), "summary": str(v.summary)}
                              for v in registry().versions()])

    def parse(s):
        try:
            ns, name = parse_id(s)
        except InvalidEntryId as e:
            raise WippyError(INVALID, str(e)) from None
        return engine.to_lua({"ns": ns, "name": name})

    def to_ops(raw) -> list[Op]:
        ops = []
        for item in engine.py(raw) or []:
            action = item.get("kind", "").removeprefix("entry.")
            try:
                if action == "delete":
                    ops.append(Op.delete(item["id"]))
                else:
                    entry = Entry.from_dict(item["entry"])
                    _refuse_placeholders(entry)
                    ops.append(Op.create(entry) if action == "create" else Op.update(entry))
            except (InvalidEntryId, ValueError, KeyError) as e:
                raise WippyError(INVALID, f"bad change: {e}") from None
        return ops

    async def apply(raw, expected):
        ops = to_ops(raw)
        if not ops:
            raise WippyError(INVALID, "empty changeset")
        try:
            return await registry().apply(ops, origin="lua", expected_version=expected)
        except ApplyError as e:
            raise _apply_error(e) from None

    async def apply_version(version):
        try:
            await registry().apply_version(int(version))
        except ApplyError as e:
            raise _apply_error(e) from None
        except (KeyError, ValueError) as e:
            raise WippyError(NOT_FOUND, f"version {version} not found: {e}") from None
        return True

    def build_delta(old, new):
        def as_map(t):
            items = engine.py(t) or []
            if isinstance(items, dict):
                items = list(items.values())
            return {d["id"]: Entry.from_dict(d) for d in items}
        ops = diff(as_map(old), as_map(new))
        return engine.to_lua([{"kind": f"entry.{op.action}", "entry": _entry_table(op.entry)} for op in ops])

    return {"get": get, "find": find, "entries": entries, "namespace": namespace,
            "current_version": current_version, "has_version": has_version, "versions": versions, "parse_id": parse,
            "apply": apply, "apply_version": apply_version, "build_delta": build_delta}

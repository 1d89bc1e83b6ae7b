"""What an agent's tool call does inside the running app, under the caller's grant.

Runs in the app process (reached through its control socket), where the registry is: reads are
filtered to what the grant covers, a change is linted with the same checks as a file edit and
applied as one changeset recorded with origin `mcp:<actor>`, and `apply` with `run_tests`
runs the affected tests and, when one fails, records a version that puts every entry back.
"""
from __future__ import annotations

import difflib
from typing import Any, Callable

import yaml

from ..engine.errors import INVALID, NOT_FOUND, WippyError
from ..kinds import LUA_CODE_KINDS
from ..kinds.models.catalog import entry_references
from ..logbuffer import LogBuffer
from ..registry import ApplyError, Entry, Op
from ..testing.runner import Runner, discover, is_test
from .tokens import Grant, Unauthorized, policy_judge

TOOLS: dict[str, Callable] = {}


def tool(fn):
    TOOLS[fn.__name__] = fn
    return fn


class AppOps:
    def __init__(self, runtime):
        self.runtime = runtime
        self.logs = LogBuffer().install()

    def close(self) -> None:
        self.logs.remove()

    async def call(self, name: str, args: dict, grant: dict) -> Any:
        fn = TOOLS.get(name)
        if fn is None:
            raise WippyError(NOT_FOUND, f"no tool {name}")
        g = Grant(**grant)
        g.judge = policy_judge(g, self.registry.entries())
        result = fn(self, g, **args)
        if hasattr(result, "__await__"):
            result = await result
        return result

    # ------------------------------------------------------------------ helpers
    @property
    def registry(self):
        return self.runtime.registry

    def _entry(self, grant: Grant, entry_id: str, action: str = "read") -> Entry:
        entry = self.registry.get(entry_id)
        if entry is None:
            grant.require(action, entry_id)
            raise WippyError(NOT_FOUND, f"no entry {entry_id}")
        grant.require(action, entry_id, entry.kind)
        return entry

    # ------------------------------------------------------------------ reading
    @tool
    def list_entries(self, grant: Grant, kind: str | None = None, namespace: str | None = None,
                     meta: dict | None = None) -> list[dict]:
        grant.require("read")
        flt: dict[str, Any] = {f"meta.{k}": v for k, v in (meta or {}).items()}
        if kind:
            flt[".kind"] = kind
        if namespace:
            flt[".ns"] = namespace
        entries = self.registry.find(flt) if flt else self.registry.entries()
        return [{"id": e.id, "kind": e.kind, "meta": e.meta} for e in sorted(entries, key=lambda e: e.id)
                if grant.covers(e.id, e.kind)]

    @tool
    def find_entries(self, grant: Grant, text: str) -> list[dict]:
        """Entries whose id, kind, meta or Lua source contain ``text``."""
        grant.require("read")
        needle = text.lower()
        out = []
        for e in sorted(self.registry.entries(), key=lambda e: e.id):
            if not grant.covers(e.id, e.kind):
                continue
            hay = " ".join([e.id, e.kind, yaml.safe_dump(e.meta or {}), str((e.data or {}).get("source", ""))
                            if isinstance(e.data, dict) else ""]).lower()
            if needle in hay:
                out.append({"id": e.id, "kind": e.kind, "meta": e.meta})
        return out

    @tool
    def read_entry(self, grant: Grant, id: str) -> dict:
        return self._entry(grant, id).to_dict()

    @tool
    def read_source(self, grant: Grant, id: str) -> str:
        entry = self._entry(grant, id)
        source = (entry.data or {}).get("source") if isinstance(entry.data, dict) else None
        if not isinstance(source, str):
            raise WippyError(INVALID, f"{id} ({entry.kind}) has no Lua source")
        lines = source.splitlines()
        width = len(str(len(lines)))
        return "\n".join(f"{i:>{width}}  {line}" for i, line in enumerate(lines, 1))

    @tool
    def history(self, grant: Grant, limit: int = 50) -> list[dict]:
        grant.require("read")
        head = self.registry.version
        rows = [{"version": v.id, "parent": v.parent, "created_at": str(v.created_at), "origin": v.origin,
                 "summary": str(v.summary), "head": v.id == head} for v in self.registry.versions()]
        return rows[-limit:]

    @tool
    def diff(self, grant: Grant, from_version: int, to_version: int | None = None) -> dict:
        """What changed between two versions (default: to the current one), entry by entry."""
        grant.require("read")
        before = dict(self.registry.snapshot_at(from_version).as_dict())
        after = dict(self.registry.snapshot_at(self.registry.version if to_version is None else to_version).as_dict())
        changes = []
        for eid in sorted(set(before) | set(after)):
            a, b = before.get(eid), after.get(eid)
            shown = b or a     # the id is in one of the two
            if a == b or shown is None or not grant.covers(eid, shown.kind):
                continue
            text = "".join(difflib.unified_diff(_yaml(a), _yaml(b), f"{eid}@{from_version}", f"{eid}@{to_version or 'head'}"))
            changes.append({"id": eid, "change": "created" if a is None else "deleted" if b is None else "updated",
                            "diff": text})
        return {"from": from_version, "to": to_version or self.registry.version, "changes": changes}

    # ------------------------------------------------------------------ checking and changing
    def _ops(self, grant: Grant, changes: list[dict]) -> list[Op]:
        """The changeset, refused whole if it touches an entry that comes from a file: the app's
        files would put it back at their next load (change the file instead); an agent changes the
        entries it created (the folder's version of the GitOps rule of kube_ops.py)."""
        ops = changes_to_ops(grant, changes, self.registry.get)
        for problem in self._from_files(ops):
            raise Unauthorized(f"{problem['entry']} {problem['message']}")
        return ops

    def _from_files(self, ops: list[Op]) -> list[dict]:
        out = []
        for op in ops:
            current = self.registry.get(op.id) if op.action != "create" else None
            if current is not None and current.source is not None:
                out.append({"entry": op.id, "message": f"comes from {current.source}: change that file (the app's "
                                                       "files would put it back); an agent may change only entries "
                                                       "it created"})
        return out

    def _problems(self, ops: list[Op]) -> list[dict]:
        return check_changes(ops, {e.id: e for e in self.registry.entries()}, self.runtime.decode)

    @tool
    def lint(self, grant: Grant, changes: list[dict]) -> dict:
        grant.require("lint")
        ops = changes_to_ops(grant, changes, self.registry.get)
        problems = self._from_files(ops) + self._problems(ops)
        return {"ok": not problems, "problems": problems}

    @tool
    async def apply(self, grant: Grant, changes: list[dict], run_tests: bool = False,
                    tests: list[str] | None = None) -> dict:
        """Apply a changeset all-or-nothing; with ``run_tests``, run the affected tests (or those
        matching ``tests``) and, if any fails, put every entry back in a new version."""
        ops = self._ops(grant, changes)
        if run_tests:
            grant.require("test")
        problems = self._problems(ops)
        if problems:
            return {"applied": False, "problems": problems, "version": self.registry.version}
        before = self.registry.version
        origin = f"mcp:{grant.actor}"
        try:
            version = await self.registry.apply(ops, origin=origin)
        except ApplyError as e:
            return {"applied": False, "problems": [{"entry": x.entry_id, "message": x.message} for x in e.errors],
                    "version": self.registry.version}
        out: dict[str, Any] = {"applied": True, "version": version, "previous_version": before}
        if not run_tests:
            return out
        selected = discover(self.registry.entries(), tests) if tests else self._affected(ops)
        report = await Runner(self.runtime).run(selected)
        out["tests"] = report.to_dict()
        if not report.ok:
            out["rolled_back"] = True
            out["version"] = await self._restore(before, f"{origin} (tests failed: back to {before})")
        return out

    def _affected(self, ops: list[Op]) -> list[Entry]:
        changed = {op.id for op in ops}
        return discover([e for e in self.registry.entries() if is_test(e) and is_test_of(e, changed)])

    async def _restore(self, version: int, origin: str) -> int:
        """Record a new version whose entries are those of ``version``."""
        target = dict(self.registry.snapshot_at(version).as_dict())
        current = {e.id: e for e in self.registry.entries()}
        ops = [Op.delete(eid) for eid in current if eid not in target]
        ops += [Op.create(e) for eid, e in target.items() if eid not in current]
        ops += [Op.update(e) for eid, e in target.items() if eid in current and current[eid] != e]
        if not ops:
            return self.registry.version
        return await self.registry.apply(ops, origin=origin)

    @tool
    async def rollback(self, grant: Grant, version: int) -> dict:
        """Put every entry back as it was at ``version``, recorded as a new version."""
        grant.require("rollback")
        diff = self.diff(Grant(grant.id, grant.actor, ["*"], ["*"], ["read"]), version)
        for ch in diff["changes"]:
            now = self.registry.get(ch["id"])
            then = self.registry.snapshot_at(version).get(ch["id"])
            for e in (now, then):
                if e is not None:
                    grant.require("rollback", e.id, e.kind)
        new = await self._restore(version, f"mcp:{grant.actor} (rollback to {version})")
        return {"version": new, "restored": version, "changed": [c["id"] for c in diff["changes"]]}

    @tool
    async def run_tests(self, grant: Grant, patterns: list[str] | None = None) -> dict:
        grant.require("test")
        tests = [t for t in discover(self.registry.entries(), patterns or []) if grant.covers(t.id, t.kind, "test")]
        report = await Runner(self.runtime).run(tests)
        return report.to_dict()

    # ------------------------------------------------------------------ observing
    @tool
    def logs(self, grant: Grant, id: str, limit: int = 50) -> list[dict]:
        self._entry(grant, id, "observe")
        return self.logs.of(id, limit)

    @tool
    def metrics(self, grant: Grant, id: str) -> list[dict]:
        """Samples labelled with the entry's id, and for an HTTP endpoint those of its route."""
        from ..metrics import REGISTRY, entry_samples
        return entry_samples(REGISTRY.collect(), self._entry(grant, id, "observe"))


def is_test_of(test: Entry, changed: set[str]) -> bool:
    """Whether a test is affected by a change of ``changed``: it is one of them, imports one, or
    names one's id in its source."""
    data = test.data if isinstance(test.data, dict) else {}
    imports = {t if ":" in t else f"{test.ns}:{t}" for t in (data.get("imports") or {}).values()}
    source = str(data.get("source") or "")
    return test.id in changed or bool(imports & changed) or any(c in source for c in changed)


def changes_to_ops(grant: Grant, changes: list[dict], current: Callable[[str], Entry | None]) -> list[Op]:
    """A changeset as the tools take it, each op checked against the grant."""
    if not isinstance(changes, list) or not changes:
        raise WippyError(INVALID, "a changeset is a non-empty list of {action, entry} (or {action, id} to delete)")
    ops = []
    for i, ch in enumerate(changes):
        action = ch.get("action") if isinstance(ch, dict) else None
        if action not in ("create", "update", "delete"):
            raise WippyError(INVALID, f"change {i}: action must be create, update or delete, not {action!r}")
        if action == "delete":
            eid = ch.get("id") or (ch.get("entry") or {}).get("id")
            if not eid:
                raise WippyError(INVALID, f"change {i}: a delete needs the id of the entry")
            now = current(eid)
            grant.require("delete", eid, now.kind if now else None)
            ops.append(Op.delete(eid))
            continue
        entry = _entry_from(ch.get("entry"), i)
        grant.require(action, entry.id, entry.kind)
        now = current(entry.id)
        if action == "update" and now is not None and now.kind != entry.kind:
            grant.require("update", entry.id, now.kind)
        ops.append(Op(action, entry))
    return ops


def check_changes(ops: list[Op], current: dict[str, Entry], decode: Callable[[Entry], Any]) -> list[dict]:
    """The checks of a file edit, without applying: each entry's model, its Lua, its references."""
    from ..lang import SyntaxChecker
    checker = SyntaxChecker()
    state = dict(current)
    for op in ops:
        if op.action == "delete":
            state.pop(op.id, None)
        else:
            state[op.id] = op.entry
    problems = []
    for op in ops:
        if op.action == "delete":
            if op.id not in current:
                problems.append({"entry": op.id, "message": "cannot delete: no such entry"})
            for other in state.values():
                if op.id in entry_references(other):
                    problems.append({"entry": op.id, "message": f"cannot delete: still referenced by {other.id}"})
            continue
        if op.action == "create" and op.id in current:
            problems.append({"entry": op.id, "message": "already exists (use update)"})
        if op.action == "update" and op.id not in current:
            problems.append({"entry": op.id, "message": "cannot update: no such entry (use create)"})
        try:
            decode(op.entry)
        except Exception as e:   # the model's own message names the field
            problems.append({"entry": op.id, "message": str(e)})
            continue
        if op.entry.kind in LUA_CODE_KINDS:
            err = checker.error(op.id, (op.entry.data or {}).get("source", ""))
            if err:
                problems.append({"entry": op.id, "message": f"Lua syntax error: {err}", **_line_of(err)})
        for ref in sorted(entry_references(op.entry)):
            if ref not in state:
                problems.append({"entry": op.id, "message": f"references {ref}, which does not exist"})
    return problems + _type_errors(ops, state, {p["entry"] for p in problems})


def _type_errors(ops: list[Op], state: dict[str, Entry], broken: set[str]) -> list[dict]:
    """What `wippy lint` finds wrong (errors, not warnings) in the Lua of the changed entries, typed
    against the entries they would meet."""
    from ..lang.lint import LUA_KINDS, Linter
    linter = Linter(state)
    out = []
    for op in ops:
        if op.action == "delete" or op.entry.kind not in LUA_KINDS or op.id in broken:
            continue
        for d in linter.lint_entry(op.id).diagnostics:
            if d.severity == "error":
                out.append({"entry": op.id, "message": f"{d.code}: {d.message}", "line": d.line})
    return out


def _yaml(entry: Entry | None) -> list[str]:
    return [] if entry is None else yaml.safe_dump(entry.to_dict(), sort_keys=False).splitlines(keepends=True)


def _line_of(err: str) -> dict:
    import re
    m = re.search(r":(\d+):", err)
    return {"line": int(m[1])} if m else {}


def _entry_from(d: Any, i: int) -> Entry:
    """``{id, kind, meta, data}``, or the flat form of `_index.yaml` (`id` or `namespace`+`name`,
    `kind`, `meta`, and the kind's fields beside them)."""
    if not isinstance(d, dict):
        raise WippyError(INVALID, f"change {i}: 'entry' must be an object")
    d = dict(d)
    if "data" not in d:
        data = {k: v for k, v in d.items() if k not in ("id", "namespace", "name", "kind", "meta")}
        d = {k: v for k, v in d.items() if k in ("id", "namespace", "name", "kind", "meta")} | {"data": data}
    try:
        return Entry.from_dict(d)
    except ValueError as e:
        raise WippyError(INVALID, f"change {i}: {e}") from None


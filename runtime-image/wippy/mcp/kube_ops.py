"""The agent's tools on a Kubernetes app: entries are the app's custom resources, a change is a set
of custom-resource writes with field manager `wippy`, tests run in a runtime fed from the cluster.

The GitOps rule: an agent owns what it creates and nothing else. Objects it creates carry the label
`wippy.ai/agent-owned: "true"` (and `wippy.ai/changed-by: mcp:<actor>` as an annotation); it may
update or delete only objects with that label, so objects a GitOps tool applied from git are never
changed behind its back (adopting an agent's entry into git means committing it, and dropping the
label). A changeset is checked whole (grant, GitOps rule, models, Lua, references) before any write;
a write that fails, or `run_tests` with a failing test, puts back every object already written.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import yaml

from ..engine.errors import INVALID, NOT_FOUND, WippyError
from ..kinds.models.catalog import validate_entry
from ..kube.crds import crd_groups, default_selector
from ..kube.manifests import from_object, to_object
from ..kube.naming import GROUP, VERSION, crd_kind, object_name, plural
from ..registry import Entry, Op
from ..testing.runner import Runner, discover
from .ops import changes_to_ops, check_changes, is_test_of
from .tokens import Grant, Unauthorized

log = logging.getLogger("wippy.mcp")

FIELD_MANAGER = "wippy"
OWNED_LABEL = "wippy.ai/agent-owned"
CHANGED_BY = "wippy.ai/changed-by"


class KubeOps:
    def __init__(self, app: str, namespace: str | None, selector: str | None = None):
        from ..kube.revisions import kube_clients
        _, self.custom, self.namespace = kube_clients(namespace)
        self.app = app
        self.selector = selector or str(default_selector(app))

    async def call(self, name: str, args: dict, grant: dict) -> Any:
        fn = getattr(self, f"tool_{name}", None)
        if fn is None:
            raise WippyError(NOT_FOUND, f"no tool {name} with --kubernetes")
        return await fn(Grant(**grant), **args)

    # ------------------------------------------------------------------ the cluster
    def _objects(self) -> dict[str, dict]:
        """Entry id -> custom resource, for every entry kind of the app."""
        out = {}
        for crd in crd_groups():
            items = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, plural(crd),
                                                              label_selector=self.selector)["items"]
            for obj in items:
                try:
                    out[from_object(obj).id] = obj
                except ValueError:
                    continue   # an object the operator reports as invalid
        return out

    def entries_now(self) -> dict[str, Entry]:
        return {eid: from_object(o) for eid, o in self._objects().items()}

    async def _entries(self) -> tuple[dict[str, Entry], dict[str, dict]]:
        objs = await asyncio.to_thread(self._objects)
        return {eid: from_object(o) for eid, o in objs.items()}, objs

    # ------------------------------------------------------------------ reading
    async def tool_list_entries(self, grant: Grant, kind: str | None = None, namespace: str | None = None,
                                meta: dict | None = None) -> list[dict]:
        grant.require("read")
        entries, _ = await self._entries()
        return [{"id": e.id, "kind": e.kind, "meta": e.meta} for e in sorted(entries.values(), key=lambda e: e.id)
                if grant.covers(e.id, e.kind) and (not kind or e.kind == kind) and (not namespace or e.ns == namespace)
                and all(str((e.meta or {}).get(k)) == str(v) for k, v in (meta or {}).items())]

    async def tool_find_entries(self, grant: Grant, text: str) -> list[dict]:
        grant.require("read")
        entries, _ = await self._entries()
        needle = text.lower()
        return [{"id": e.id, "kind": e.kind, "meta": e.meta} for e in sorted(entries.values(), key=lambda e: e.id)
                if grant.covers(e.id, e.kind) and needle in yaml.safe_dump(e.to_dict()).lower()]

    async def _one(self, grant: Grant, entry_id: str, action: str = "read") -> tuple[Entry, dict]:
        entries, objs = await self._entries()
        if entry_id not in entries:
            grant.require(action, entry_id)
            raise WippyError(NOT_FOUND, f"no entry {entry_id}")
        grant.require(action, entry_id, entries[entry_id].kind)
        return entries[entry_id], objs[entry_id]

    async def tool_read_entry(self, grant: Grant, id: str) -> dict:
        entry, obj = await self._one(grant, id)
        meta = obj["metadata"]
        return entry.to_dict() | {"object": {"name": meta["name"], "labels": meta.get("labels") or {},
                                             "annotations": meta.get("annotations") or {},
                                             "generation": meta.get("generation")}}

    async def tool_read_source(self, grant: Grant, id: str) -> str:
        entry, _ = await self._one(grant, id)
        source = (entry.data or {}).get("source") if isinstance(entry.data, dict) else None
        if not isinstance(source, str):
            raise WippyError(INVALID, f"{id} ({entry.kind}) has no Lua source")
        lines = source.splitlines()
        width = len(str(len(lines)))
        return "\n".join(f"{i:>{width}}  {line}" for i, line in enumerate(lines, 1))

    async def tool_history(self, grant: Grant, limit: int = 50) -> list[dict]:
        """The app's versions (the operator's ControllerRevisions of the WippyApp)."""
        grant.require("read")
        from ..kube.app_history import _get_app, app_history
        from ..kube.revisions import kube_clients
        apps, custom, ns = kube_clients(self.namespace)

        def rows():
            app = _get_app(custom, ns, self.app)
            current = (app.get("status") or {}).get("version")
            return [{"version": r["revision"], "created_at": r["metadata"].get("creationTimestamp"),
                     "head": r["revision"] == current, "entries": len((r["data"] or {}).get("entries") or {})}
                    for r in app_history(apps, app).list()]
        return (await asyncio.to_thread(rows))[-limit:]

    # ------------------------------------------------------------------ changing
    def _gitops_check(self, grant: Grant, ops: list[Op], objs: dict[str, dict]) -> None:
        for op in ops:
            obj = objs.get(op.id)
            if op.action != "create" and obj is not None \
                    and (obj["metadata"].get("labels") or {}).get(OWNED_LABEL) != "true":
                raise Unauthorized(f"{op.id} is not agent-owned (no {OWNED_LABEL}=true label): it belongs to "
                                   "whoever applied it (git); an agent may only change entries it created")

    async def tool_lint(self, grant: Grant, changes: list[dict]) -> dict:
        grant.require("lint")
        entries, objs = await self._entries()
        ops = changes_to_ops(grant, changes, entries.get)
        problems = check_changes(ops, entries, validate_entry)
        try:
            self._gitops_check(grant, ops, objs)
        except Unauthorized as e:
            problems.append({"entry": None, "message": str(e)})
        return {"ok": not problems, "problems": problems}

    async def tool_apply(self, grant: Grant, changes: list[dict], run_tests: bool = False,
                         tests: list[str] | None = None) -> dict:
        entries, objs = await self._entries()
        ops = changes_to_ops(grant, changes, entries.get)
        if run_tests:
            grant.require("test")
        self._gitops_check(grant, ops, objs)
        problems = check_changes(ops, entries, validate_entry)
        if problems:
            return {"applied": False, "problems": problems}
        written: list[tuple[Op, dict | None]] = []
        try:
            for op in ops:
                await asyncio.to_thread(self._write, op, objs.get(op.id), grant.actor)
                written.append((op, objs.get(op.id)))
        except Exception as e:
            await asyncio.to_thread(self._undo, written, grant.actor)
            msg = getattr(e, "reason", None) or str(e)
            return {"applied": False, "problems": [{"entry": op.id, "message": f"write refused: {msg}"}]}
        out: dict[str, Any] = {"applied": True, "written": [op.id for op in ops]}
        if not run_tests:
            return out
        report = await self._run_tests(tests, {op.id for op in ops})
        out["tests"] = report.to_dict()
        if not report.ok:
            await asyncio.to_thread(self._undo, written, f"{grant.actor} (tests failed)")
            out["rolled_back"] = True
        return out

    def _write(self, op: Op, current: dict | None, actor: str) -> None:
        ns = self.namespace
        if op.action == "delete":
            if current is None:
                raise WippyError(NOT_FOUND, f"no entry {op.id}")
            pl = plural(crd_kind(from_object(current).kind))
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, ns, pl, current["metadata"]["name"])
            return
        pl = plural(crd_kind(op.entry.kind))
        body = to_object(op.entry, self.app, ns)
        meta = body["metadata"]
        meta["labels"][OWNED_LABEL] = "true"
        meta["annotations"] = {CHANGED_BY: f"mcp:{actor}"}
        if current is None:
            self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, pl, body, field_manager=FIELD_MANAGER)
        else:
            # replace with the resourceVersion read: a concurrent change is not overwritten
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
            meta["labels"] = {**(current["metadata"].get("labels") or {}), **meta["labels"]}
            self.custom.replace_namespaced_custom_object(GROUP, VERSION, ns, pl, meta["name"], body,
                                                         field_manager=FIELD_MANAGER)

    def _undo(self, written: list[tuple[Op, dict | None]], actor: str) -> None:
        """Put back what ``written`` changed, newest first (a failure is logged: the rest still goes back)."""
        for op, before in reversed(written):
            try:
                name = object_name(op.id)
                if before is None:
                    self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                                plural(crd_kind(op.entry.kind)), name)
                    continue
                pl = plural(before["kind"])
                body = {k: v for k, v in before.items() if k != "status"}
                meta = body["metadata"] = {k: v for k, v in before["metadata"].items()
                                           if k in ("name", "namespace", "labels", "annotations")}
                meta["annotations"] = {**(meta.get("annotations") or {}), CHANGED_BY: f"mcp:{actor}"}
                if op.action == "delete":
                    self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, pl, body,
                                                                field_manager=FIELD_MANAGER)
                else:
                    now = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, pl, name)
                    meta["resourceVersion"] = now["metadata"]["resourceVersion"]
                    self.custom.replace_namespaced_custom_object(GROUP, VERSION, self.namespace, pl, name, body,
                                                                 field_manager=FIELD_MANAGER)
            except Exception:
                log.exception("mcp: could not put back %s", op.id)

    async def _run_tests(self, patterns: list[str] | None, changed: set[str] | None = None):
        from ..testing.kubernetes import runtime_for_tests
        runtime = runtime_for_tests(app=self.app, namespace=self.namespace, selector=self.selector)
        await runtime.start()
        try:
            found = discover(runtime.registry.entries(), patterns or [])
            if changed is not None and not patterns:
                found = [t for t in found if is_test_of(t, changed)]
            return await Runner(runtime).run(found)
        finally:
            await runtime.stop()

    async def tool_run_tests(self, grant: Grant, patterns: list[str] | None = None) -> dict:
        grant.require("test")
        return (await self._run_tests(patterns)).to_dict()

    async def _unsupported(self, grant: Grant, **_args) -> None:
        raise WippyError(INVALID, "not available with --kubernetes: use `wippy rollback --app`, `kubectl logs` "
                                  "and the pods' /metrics for these")

    tool_diff = tool_rollback = tool_logs = tool_metrics = _unsupported


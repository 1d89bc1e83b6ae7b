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
import datetime
import difflib
import logging
import socket
from typing import Any

import yaml

from ..engine.errors import INVALID, NOT_FOUND, UNAVAILABLE, WippyError
from ..kinds.models.catalog import validate_entry
from ..kube.crds import crd_groups, default_selector
from ..kube.manifests import from_object, spec_to_entry, to_object
from ..kube.naming import GROUP, VERSION, crd_kind, object_name, plural
from ..kube.revisions import CHANGED_BY, CHANGED_SPEC, spec_hash
from ..registry import Entry, Op
from ..testing.runner import Runner, discover
from .ops import changes_to_ops, check_changes, is_test_of
from .tokens import Grant, Unauthorized, policy_judge

log = logging.getLogger("wippy.mcp")

FIELD_MANAGER = "wippy"
OWNED_LABEL = "wippy.ai/agent-owned"
APP_LABEL = "wippy.ai/app"
RUNTIME_LABEL = "app.kubernetes.io/name=wippy-runtime"   # the operator's runtime pods (children.pod_labels)
METRICS_PORT = 9464   # the runtime's /metrics, /livez, /readyz and /logs when its pod names no `metrics` port


class KubeOps:
    def __init__(self, app: str, namespace: str | None, selector: str | None = None):
        from ..kube.revisions import kube_clients
        self.apps, self.custom, self.namespace = kube_clients(namespace)
        self.app = app
        self.selector = selector or str(default_selector(app))

    async def call(self, name: str, args: dict, grant: dict) -> Any:
        fn = getattr(self, f"tool_{name}", None)
        if fn is None:
            raise WippyError(NOT_FOUND, f"no tool {name} with --kubernetes")
        g = Grant(**grant)
        if g.policies or g.policy_groups:
            entries, _ = await self._entries()
            g.judge = policy_judge(g, list(entries.values()))
        return await fn(g, **args)

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
        from ..kube.app_history import app_history, version_summary

        def rows():
            app = self._app()
            current = (app.get("status") or {}).get("version")
            out, prev = [], None
            for r in app_history(self.apps, app).list():
                out.append({"version": r["revision"], "created_at": r["metadata"].get("creationTimestamp"),
                            "head": r["revision"] == current, "entries": len((r["data"] or {}).get("entries") or {}),
                            "summary": version_summary(prev, r["data"] or {})})
                prev = r["data"] or {}
            return out
        return (await asyncio.to_thread(rows))[-limit:]

    def _app(self) -> dict:
        from kubernetes.client import ApiException

        from ..kube.app_history import APP_PLURAL
        try:
            return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, APP_PLURAL, self.app)
        except ApiException as e:
            if e.status == 404:
                raise WippyError(NOT_FOUND, f"no WippyApp {self.app!r} in namespace {self.namespace}") from None
            raise

    async def tool_diff(self, grant: Grant, from_version: int, to_version: int | None = None) -> dict:
        """Entry-by-entry diffs between two of the app's versions (default: to the current one),
        each side's spec taken from the entry's own revisions."""
        grant.require("read")
        from ..kube.app_history import version_specs
        from ..kube.revisions import HistoryError

        def compute() -> dict:
            app = self._app()
            to = to_version or (app.get("status") or {}).get("version")
            if to is None:
                raise WippyError(NOT_FOUND, f"app {self.app} has no version recorded yet")
            try:
                before = version_specs(self.apps, self.custom, self.namespace, app, from_version)
                after = version_specs(self.apps, self.custom, self.namespace, app, to)
            except HistoryError as e:
                raise WippyError(NOT_FOUND, str(e)) from None
            changes = []
            for eid in sorted(set(before) | set(after)):
                a, b = before.get(eid), after.get(eid)
                if a == b:
                    continue
                crd = (b or a)[0].split("/", 1)[0]   # type: ignore[index]  # the id is in one of the two
                if not grant.covers(eid, spec_to_entry(crd, {"id": eid}).kind):
                    continue
                lost = [v for v, side in ((from_version, a), (to, b)) if side is not None and side[1] is None]
                text = "".join(difflib.unified_diff(_spec_yaml(a), _spec_yaml(b), f"{eid}@{from_version}",
                                                    f"{eid}@{to}"))
                change = {"id": eid, "change": "created" if a is None else "deleted" if b is None else "updated",
                          "diff": text}
                if lost:
                    change["note"] = (f"the spec at version {', '.join(map(str, lost))} is no longer recorded "
                                      "(the entry was deleted since, or that revision pruned)")
                changes.append(change)
            return {"from": from_version, "to": to, "changes": changes}
        return await asyncio.to_thread(compute)

    async def tool_rollback(self, grant: Grant, version: int) -> dict:
        """Put the app's entries back as at ``version``: each changed entry gets its spec of then
        back and the entries created since are deleted, all written as the agent; refused whole
        when that would change or delete an entry the agent does not own (see the GitOps rule),
        or an entry of then cannot be restored."""
        grant.require("rollback")
        from ..kube.app_history import plan_rollback
        from ..kube.revisions import HistoryError

        def make_plan():
            try:
                return plan_rollback(self.apps, self.custom, self.namespace, self._app(), version)
            except HistoryError as e:
                raise WippyError(NOT_FOUND, str(e)) from None
        plan = await asyncio.to_thread(make_plan)
        if plan.missing:
            raise WippyError(INVALID, f"cannot restore version {version} of app {self.app}: " + "; ".join(plan.missing))
        entries, objs = await self._entries()
        ops, kept = [], []
        for obj, kind, spec in plan.changes:
            then, now = spec_to_entry(kind, spec), from_object(obj)
            grant.require("rollback", now.id, now.kind)
            grant.require("rollback", then.id, then.kind)
            ops.append(Op.update(then))
        for key in plan.extra:
            eid = (plan.now.get("entries") or {})[key]["id"]
            if eid not in objs:
                continue   # gone already
            if (objs[eid]["metadata"].get("labels") or {}).get(OWNED_LABEL) != "true":
                kept.append(eid)   # added since by someone else (git): theirs to keep
                continue
            grant.require("rollback", eid, entries[eid].kind)
            ops.append(Op.delete(eid))
        self._gitops_check(grant, ops, objs)
        actor = f"{grant.actor} (rollback to {version})"
        wrote, failed = await self._write_all(ops, objs, actor)
        if failed:
            raise WippyError(INVALID, f"rollback to {version} not done (what was written is put back): {failed}")
        await self._events(ops, objs | wrote, "McpRollback", f"mcp:{grant.actor} (token {grant.id}) rolled back {{id}} "
                                               f"to app version {version}")
        return {"restored": version, "changed": [op.id for op in ops], "kept": kept}

    # ------------------------------------------------------------------ observing
    def _pods(self) -> list[tuple[str, str]]:
        """(pod name, base URL of its metrics port) of the app's running runtime pods."""
        from kubernetes import client
        core = client.CoreV1Api(self.custom.api_client)
        from ..kube.revisions import json_body
        pods = json_body(core.list_namespaced_pod(self.namespace, label_selector=f"{APP_LABEL}={self.app},{RUNTIME_LABEL}",
                                                  _preload_content=False))["items"]
        out = []
        for pod in pods:
            status = pod.get("status") or {}
            ip = status.get("podIP")
            if not ip or status.get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
                continue
            port = next((p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports") or []
                         if p.get("name") == "metrics"), METRICS_PORT)
            host = f"[{ip}]" if ":" in ip else ip
            out.append((pod["metadata"]["name"], f"http://{host}:{port}"))
        if not out:
            raise WippyError(UNAVAILABLE, f"no running pod of app {self.app} in {self.namespace} "
                                          f"(pods labelled {APP_LABEL}={self.app},{RUNTIME_LABEL})")
        return out

    async def _from_pods(self, path: str) -> tuple[dict[str, Any], dict[str, str]]:
        """GET ``path`` from every pod: (answers by pod, errors by pod)."""
        import aiohttp
        pods = await asyncio.to_thread(self._pods)
        answers: dict[str, Any] = {}
        errors: dict[str, str] = {}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async def one(name: str, base: str) -> None:
                try:
                    async with http.get(base + path) as r:
                        if r.status != 200:
                            errors[name] = f"HTTP {r.status}: {(await r.text())[:200]}"
                        else:
                            answers[name] = await (r.json() if path.startswith("/logs") else r.text())
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
                    errors[name] = f"{type(e).__name__}: {e}"
            await asyncio.gather(*(one(n, b) for n, b in pods))
        if not answers:
            raise WippyError(UNAVAILABLE, "no pod answered: " + "; ".join(f"{n}: {e}" for n, e in sorted(errors.items())))
        return answers, errors

    async def tool_logs(self, grant: Grant, id: str, limit: int = 50) -> dict:
        """The entry's recent log records from each runtime pod (its /logs), newest last."""
        await self._one(grant, id, "observe")
        from urllib.parse import urlencode
        answers, errors = await self._from_pods("/logs?" + urlencode({"entry": id, "limit": limit}))
        records = sorted(({**r, "pod": pod} for pod, rs in answers.items() for r in rs), key=lambda r: r["ts"])
        return {"records": records[-limit:], "pods": sorted(answers), "unreachable": errors}

    async def tool_metrics(self, grant: Grant, id: str) -> dict:
        """The samples about the entry from each runtime pod's /metrics."""
        entry, _ = await self._one(grant, id, "observe")
        from prometheus_client.parser import text_string_to_metric_families

        from ..metrics import entry_samples
        answers, errors = await self._from_pods("/metrics")
        samples = [{**s, "pod": pod} for pod, text in sorted(answers.items())
                   for s in entry_samples(text_string_to_metric_families(text), entry)]
        return {"samples": samples, "pods": sorted(answers), "unreachable": errors}

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
        wrote, failed = await self._write_all(ops, objs, grant.actor)
        if failed:
            return {"applied": False, "problems": [failed]}
        who = f"mcp:{grant.actor} (token {grant.id})"
        await self._events(ops, objs | wrote, "McpApply", who + " {action}d {id}")
        # what each write produced: the object's generation (the operator records it as a revision)
        out: dict[str, Any] = {"applied": True, "written": [op.id for op in ops], "generations": {
            op.id: None if op.action == "delete" else wrote[op.id]["metadata"].get("generation") for op in ops}}
        if not run_tests:
            return out
        report = await self._run_tests(tests, {op.id for op in ops})
        out["tests"] = report.to_dict()
        if not report.ok:
            await asyncio.to_thread(self._undo, [(op, objs.get(op.id)) for op in ops], f"{grant.actor} (tests failed)")
            await self._events(ops, objs | wrote, "McpApplyRolledBack", who + " {action} of {id} put back: its tests failed",
                         "Warning")
            out["rolled_back"] = True
        return out

    async def _write_all(self, ops: list[Op], objs: dict[str, dict], actor: str) -> tuple[dict[str, dict], dict | None]:
        """Write every op: (the objects written by entry id, None), or, on the first refused write,
        put back those written and say why."""
        written: list[tuple[Op, dict | None]] = []
        wrote: dict[str, dict] = {}
        for op in ops:
            try:
                wrote[op.id] = await asyncio.to_thread(self._write, op, objs.get(op.id), actor)
            except Exception as e:
                await asyncio.to_thread(self._undo, written, actor)
                msg = getattr(e, "reason", None) or str(e)
                return wrote, {"entry": op.id, "message": f"write refused: {msg}"}
            written.append((op, objs.get(op.id)))
        return wrote, None

    async def _events(self, ops: list[Op], objs: dict[str, dict], reason: str, message: str,
                      type_: str = "Normal") -> None:
        await asyncio.to_thread(self._record_events, ops, objs, reason, message, type_)

    def _record_events(self, ops: list[Op], objs: dict[str, dict], reason: str, message: str, type_: str) -> None:
        """A Kubernetes Event per changed entry, regarding its custom resource (`kubectl get events`,
        `kubectl describe`); ``message`` may name {id} and {action}. Not being allowed to record
        them is logged and changes nothing else."""
        from kubernetes import client
        core = client.CoreV1Api(self.custom.api_client)
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        for op in ops:
            obj = objs.get(op.id)
            if not obj:
                continue
            meta = obj["metadata"]
            body: Any = {"metadata": {"generateName": f"{meta['name']}.", "namespace": self.namespace},
                    "involvedObject": {"apiVersion": obj.get("apiVersion", f"{GROUP}/{VERSION}"), "kind": obj["kind"],
                                       "name": meta["name"], "namespace": self.namespace, "uid": meta.get("uid"),
                                       "resourceVersion": meta.get("resourceVersion")},
                    "reason": reason, "message": message.format(id=op.id, action=op.action), "type": type_,
                    "source": {"component": "wippy-mcp"}, "reportingComponent": "wippy-mcp",
                    "reportingInstance": socket.gethostname(), "firstTimestamp": now, "lastTimestamp": now,
                    "count": 1}
            try:
                core.create_namespaced_event(self.namespace, body)
            except Exception as e:
                log.warning("mcp: could not record the %s event of %s: %s", reason, op.id, getattr(e, "reason", e))

    def _write(self, op: Op, current: dict | None, actor: str) -> dict:
        """Write one op; the object written (for a delete, the one deleted)."""
        ns = self.namespace
        if op.action == "delete":
            if current is None:
                raise WippyError(NOT_FOUND, f"no entry {op.id}")
            pl = plural(crd_kind(from_object(current).kind))
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, ns, pl, current["metadata"]["name"])
            return current
        pl = plural(crd_kind(op.entry.kind))
        body = to_object(op.entry, self.app, ns)
        meta = body["metadata"]
        meta["labels"][OWNED_LABEL] = "true"
        meta["annotations"] = {CHANGED_BY: f"mcp:{actor}", CHANGED_SPEC: spec_hash(body.get("spec") or {})}
        if current is None:
            return self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, pl, body,
                                                               field_manager=FIELD_MANAGER)
        # replace with the resourceVersion read: a concurrent change is not overwritten
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        meta["labels"] = {**(current["metadata"].get("labels") or {}), **meta["labels"]}
        return self.custom.replace_namespaced_custom_object(GROUP, VERSION, ns, pl, meta["name"], body,
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
                meta["annotations"] = {**(meta.get("annotations") or {}), CHANGED_BY: f"mcp:{actor}",
                                       CHANGED_SPEC: spec_hash(body.get("spec") or {})}
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


def _spec_yaml(side: tuple[str, dict | None] | None) -> list[str]:
    if side is None or side[1] is None:
        return []
    return yaml.safe_dump(side[1], sort_keys=False).splitlines(keepends=True)

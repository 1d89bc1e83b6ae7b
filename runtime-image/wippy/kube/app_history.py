"""App versions: which spec of each entry an app had, all together.

An entry's history (revisions.py) answers "what was this entry"; an app version answers "what was
the whole app". Each time the set of an app's entries or their active specs changes (once the
operator has seen every entry's latest generation), the operator records a ControllerRevision
owned by the WippyApp, named `<app>-version-<n>` and labelled `wippy.ai/app-history=<app>`, whose
data maps each entry object (`Kind/name`) to its id and spec hash. As with entries, a version equal
to an older one takes a new number and the older duplicate goes, and history is pruned to a limit.

`wippy history --app APP` lists the versions with what changed; `wippy rollback --app APP --to N`
copies each entry's spec of version N back (a new revision of each changed entry, as
`kubectl rollout undo` does), finding it by spec hash since revision numbers move when
duplicates are dropped. Entries added since version N are kept unless `--prune`; entries deleted
since cannot come back (their history went with them), so rollback refuses unless `--skip-missing`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from wippy.kube.naming import GROUP, VERSION, plural
from wippy.kube.revisions import (HASH_LABEL, History, HistoryError, gitops_owner, json_body, kube_clients,
                                  warn_if_gitops)

APP_HISTORY_LABEL = f"{GROUP}/app-history"
APP_PIN_ANNOTATION = f"{GROUP}/pin-version"
APP_PLURAL = "wippyapps"


def app_history(apps_api, app_obj: dict, content: dict | None = None) -> History:
    return History(apps_api, app_obj, label_key=APP_HISTORY_LABEL, content=content,
                   base=version_base(app_obj["metadata"]["name"]))


def version_base(app: str) -> str:
    """Versions are ControllerRevisions named `<app>-version-<n>`."""
    return f"{app}-version"


def entry_key(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def version_summary(old: dict | None, new: dict) -> str:
    """`+app:new ~app:changed(mcp:agent) -app:gone`, by entry id, with who wrote a spec when known."""
    before, after = (old or {}).get("entries") or {}, new.get("entries") or {}
    if old is None:
        return f"{len(after)} entries"

    def named(k: str) -> str:
        by = after[k].get("by")
        return f"{after[k]['id']}({by})" if by else after[k]["id"]
    parts = [f"+{named(k)}" for k in sorted(set(after) - set(before))]
    parts += [f"~{named(k)}" for k in sorted(set(after) & set(before)) if after[k]["hash"] != before[k]["hash"]]
    parts += [f"-{before[k]['id']}" for k in sorted(set(before) - set(after))]
    return " ".join(parts) or "no change"


# ---------------------------------------------------------------------- CLI
def cmd_app_history(args) -> int:
    apps, custom, namespace = kube_clients(args.namespace)
    app = _get_app(custom, namespace, args.app)
    current = (app.get("status") or {}).get("version")
    print(f"{'VERSION':<9} {'CHANGED':<20} {'':<8} CHANGE")
    prev = None
    for r in app_history(apps, app).list():
        when = r["metadata"].get("creationTimestamp", "").replace("T", " ").rstrip("Z")
        mark = "current" if r["revision"] == current else ""
        print(f"{r['revision']:<9} {when:<20} {mark:<8} {version_summary(prev, r['data'])}")
        prev = r["data"]
    return 0


@dataclass
class RollbackPlan:
    """What returning an app to a version writes: each entry object whose spec differs and the
    spec it gets back (found by hash in the entry's own revisions), and what cannot or need not be."""
    version: int
    changes: list[tuple[dict, str, dict]] = field(default_factory=list)   # (object, kind, spec)
    unchanged: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)     # `Kind/name` of entries not in that version
    now: dict = field(default_factory=dict)            # the current version's data


def plan_rollback(apps, custom, namespace: str, app: dict, to: int) -> RollbackPlan:
    """Plan returning ``app`` to version ``to`` (HistoryError when it has no such version)."""
    from kubernetes.client import ApiException
    versions = app_history(apps, app).list()
    target = next((r for r in versions if r["revision"] == to), None)
    if target is None:
        have = ", ".join(str(r["revision"]) for r in versions) or "none"
        raise HistoryError(f"app {app['metadata']['name']} has no version {to} (versions: {have})")
    current = (app.get("status") or {}).get("version")
    plan = RollbackPlan(to, now=next((r["data"] for r in versions if r["revision"] == current), versions[-1]["data"]))
    for key, want in sorted((target["data"].get("entries") or {}).items()):
        kind, name = key.split("/", 1)
        try:
            obj = _get(custom, namespace, plural(kind), name)
        except ApiException as e:
            if e.status != 404:
                raise
            plan.missing.append(f"{want['id']} (deleted since; its history went with it)")
            continue
        rev = next((r for r in History(apps, obj).list() if r["metadata"]["labels"].get(HASH_LABEL) == want["hash"]),
                   None)
        if rev is None:
            plan.missing.append(f"{want['id']} (that revision was pruned from its history)")
        elif rev["data"] == obj.get("spec"):
            plan.unchanged += 1
        else:
            plan.changes.append((obj, kind, rev["data"]))
    plan.extra = sorted(set(plan.now.get("entries") or {}) - set(target["data"].get("entries") or {}))
    return plan


def version_specs(apps, custom, namespace: str, app: dict, version: int) -> dict[str, tuple[str, dict | None]]:
    """Entry id -> (`Kind/name`, its spec at ``version``, or None when no revision of it holds it
    any more: the object was deleted, or that revision pruned)."""
    from kubernetes.client import ApiException
    rev = app_history(apps, app).get(version)
    if rev is None:
        have = ", ".join(str(r["revision"]) for r in app_history(apps, app).list()) or "none"
        raise HistoryError(f"app {app['metadata']['name']} has no version {version} (versions: {have})")
    out: dict[str, tuple[str, dict | None]] = {}
    for key, want in (rev["data"].get("entries") or {}).items():
        kind, name = key.split("/", 1)
        spec = None
        try:
            obj = _get(custom, namespace, plural(kind), name)
            spec = next((r["data"] for r in History(apps, obj).list()
                         if r["metadata"]["labels"].get(HASH_LABEL) == want["hash"]), None)
        except ApiException as e:
            if e.status != 404:
                raise
        out[want["id"]] = (key, spec)
    return out


def cmd_app_rollback(args) -> int:
    from kubernetes.client import ApiException

    from wippy.cli.commands import UsageError
    apps, custom, namespace = kube_clients(args.namespace)
    app = _get_app(custom, namespace, args.app)
    try:   # plan everything before writing anything
        plan = plan_rollback(apps, custom, namespace, app, args.to)
    except HistoryError as e:
        raise UsageError(str(e)) from None
    changes, unchanged, missing, extra, now = plan.changes, plan.unchanged, plan.missing, plan.extra, plan.now
    if missing and not args.skip_missing:
        raise UsageError(f"cannot restore version {args.to} of app {args.app}: " + "; ".join(missing)
                         + " (--skip-missing restores the rest)")

    owned = next((o for o, _, _ in changes if gitops_owner(o)), None)
    if owned is not None:
        warn_if_gitops(owned, f"kubectl annotate -n {namespace} wippyapp/{args.app} {APP_PIN_ANNOTATION}={args.to}")
    for obj, kind, spec in changes:
        # a replace carries the resourceVersion read above, so a concurrent change is not overwritten
        body = {k: v for k, v in obj.items() if k != "status"}
        body["spec"] = spec
        custom.replace_namespaced_custom_object(GROUP, VERSION, namespace, plural(kind), obj["metadata"]["name"], body,
                                                field_manager="wippy")
    if args.prune:
        for key in extra:
            kind, name = key.split("/", 1)
            try:
                custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural(kind), name)
            except ApiException as e:
                if e.status != 404:
                    raise
    print(f"app {args.app} rolled back to version {args.to}: {len(changes)} entries changed, {unchanged} unchanged")
    for m in missing:
        print(f"  not restored: {m}")
    ids = [(now.get("entries") or {})[k]["id"] for k in extra]
    if ids:
        print(f"  {'deleted' if args.prune else 'kept (not in that version; --prune deletes them)'}: {', '.join(ids)}")
    return 0


def _get(custom, namespace: str, plural_name: str, name: str) -> dict:
    return json_body(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural_name, name,
                                                     _preload_content=False))


def _get_app(custom, namespace: str, name: str) -> dict:
    from kubernetes.client import ApiException

    from wippy.cli.commands import UsageError
    try:
        return _get(custom, namespace, APP_PLURAL, name)
    except ApiException as e:
        if e.status == 404:
            raise UsageError(f"no WippyApp {name!r} in namespace {namespace}") from None
        raise

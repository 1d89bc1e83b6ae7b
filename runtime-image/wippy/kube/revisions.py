"""Revision history of entry objects, kept as ControllerRevisions (what StatefulSets use).

Each accepted spec of an entry object is one ControllerRevision:
- name `<object-name>-<revision>`, labels `wippy.ai/entry=<object-name>` and
  `wippy.ai/spec-hash=<hash>`, owned by the entry object, `data` = the full spec;
- a spec equal to the latest revision records nothing; one equal to an older revision becomes
  a new revision and the older duplicate is dropped (as `kubectl rollout undo` renumbers);
- history is pruned to the newest `HISTORY_LIMIT` (plus a pinned one) by the writer itself,
  since nothing guarantees a garbage collector;
- an entry's first revision gets its ControllerRevision only when a second spec comes (or it
  leaves the app maps that hold it): until then the object keeps it itself, its status naming
  `latestRevision: 1` with the spec's hash (`latestRevisionHash`), and its app's projection map
  holds a copy with the revision number for an operator that restarts after the spec changed.
  Creating thousands of entries then writes no ControllerRevision at all. Readers list it beside
  the written ones (`History.list`).

The operator records revisions; the CLI reads them (`wippy history ENTRY`) and copies one back
into the spec (`wippy rollback ENTRY --to-revision N`). Pods read the pinned one by name.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

from wippy.kube.naming import API_VERSION, GROUP, VERSION

HISTORY_LIMIT = 10
ENTRY_LABEL = f"{GROUP}/entry"
HASH_LABEL = f"{GROUP}/spec-hash"
PIN_ANNOTATION = f"{GROUP}/pin-revision"
# who wrote a spec (an MCP agent: `mcp:<actor>`), and the hash of the spec they wrote: the name
# only holds for that spec, so a later edit by anyone else is never attributed to them
CHANGED_BY = f"{GROUP}/changed-by"
CHANGED_SPEC = f"{GROUP}/changed-spec"
# when a revision was recorded, on one written later than that (the first one of an entry)
RECORDED_AT = f"{GROUP}/recorded-at"
LATEST_HASH = "latestRevisionHash"  # status: the spec hash of latestRevision


class HistoryError(RuntimeError):
    pass


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def entry_label(name: str) -> str:
    """Label values stop at 63 characters; longer object names are shortened with a hash."""
    if len(name) <= 63:
        return name
    return name[:46].rstrip("-.") + "-" + hashlib.sha256(name.encode()).hexdigest()[:16]


def changed_by(obj: dict, digest: str) -> str | None:
    """Who wrote the spec whose hash is ``digest``, when the object says so."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return annotations.get(CHANGED_BY) if annotations.get(CHANGED_SPEC) == digest else None


def revision_name(name: str, revision: int) -> str:
    return f"{name}-{revision}"


def pinned_revision(obj: dict, annotation: str = PIN_ANNOTATION) -> int | None:
    """The revision named by a pin annotation; ValueError when it is not a positive integer."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(annotation)
    if value in (None, ""):
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{annotation} must be a positive revision number, got {value!r}")
    return int(value)


def json_body(resp) -> dict:
    return json.loads(resp.data)


class RevisionView(Protocol):
    """A watch-fed view of ControllerRevisions by (namespace, entry label), so that recording a
    revision needs no list call; it is told of the writer's own changes before the watch shows them."""

    def revisions(self, namespace: str, label: str) -> list[dict]: ...

    def wrote(self, namespace: str, label: str, name: str, revision: dict | None) -> None: ...


class History:
    """The ControllerRevisions of one object (a CR as a dict): an entry's specs by default, or
    any other content under another label and name base (an app's versions). Without a `view`
    every operation lists them from the API server."""

    def __init__(self, apps_api, obj: dict, view: RevisionView | None = None, *, label_key: str = ENTRY_LABEL,
                 base: str | None = None, content: dict | None = None):
        self.apps = apps_api
        meta = obj["metadata"]
        self.obj = obj
        self.name = meta["name"]
        self.namespace = meta["namespace"]
        self.uid = meta.get("uid")
        self.label_key = label_key
        self.label = entry_label(self.name)
        self.base = base or self.name  # revisions are named <base>-<number>
        self.content = content if content is not None else obj.get("spec") or {}
        self.view = view
        # after record(): revision 1 when it has no ControllerRevision yet (write_pending() writes it)
        self.pending: dict | None = None

    def _all(self) -> list[dict]:
        if self.view is not None:
            found = self.view.revisions(self.namespace, self.label)
        else:
            resp = self.apps.list_namespaced_controller_revision(
                self.namespace, label_selector=f"{self.label_key}={self.label}", _preload_content=False)
            found = json_body(resp)["items"]
        return [r for r in found if r["metadata"]["name"].rsplit("-", 1)[0] == self.base]

    def list(self) -> list[dict]:
        """This object's revisions, oldest first (revisions of a deleted namesake are ignored),
        with revision 1 while the object keeps it itself."""
        owned = [r for r in self._all() if self._owned(r)]
        if not any(r["revision"] == 1 for r in owned) and (kept := self.kept_by_object()) is not None:
            owned.append(kept)
        return sorted(owned, key=lambda r: r["revision"])

    def written(self, revision: int) -> bool:
        """Whether the revision has its ControllerRevision."""
        return any(r["revision"] == revision for r in self._all() if self._owned(r))

    def kept_by_object(self) -> dict | None:
        """Revision 1 without a ControllerRevision, while the object's spec is still that one
        (its status says so with the spec's hash)."""
        status = self.obj.get("status") or {}
        if self.label_key != ENTRY_LABEL or status.get("latestRevision") != 1 or \
                status.get(LATEST_HASH) != spec_hash(self.content):
            return None
        return self.unwritten(self.content, self.obj["metadata"].get("generation"))

    def unwritten(self, spec: dict, generation, recorded_at: str | None = None, by: str | None = None) -> dict:
        """Revision 1 as a revision without its ControllerRevision (``unwritten``): from the object,
        or from a copy (the spec a projection map holds, after the object's spec changed)."""
        digest = spec_hash(spec)
        annotations = {f"{GROUP}/generation": str(generation or ""),
                       RECORDED_AT: recorded_at or self.obj["metadata"].get("creationTimestamp") or "",
                       **({CHANGED_BY: by} if (by := by or changed_by(self.obj, digest)) else {})}
        return {"metadata": {"name": revision_name(self.base, 1), "labels": {self.label_key: self.label, HASH_LABEL: digest},
                             "annotations": annotations, "creationTimestamp": annotations[RECORDED_AT],
                             "ownerReferences": [{"uid": self.uid}]},
                "revision": 1, "data": spec, "unwritten": True}

    def write_pending(self) -> None:
        """Give the pending revision 1 its ControllerRevision."""
        if self.pending is not None:
            self._write_unwritten(self.pending)
            self.pending = None

    def _write_unwritten(self, rev: dict) -> None:
        meta = rev["metadata"]
        self._create(rev["revision"], rev["data"], meta["labels"][HASH_LABEL], dict(meta.get("annotations") or {}))
        rev["unwritten"] = False

    def _owned(self, rev: dict) -> bool:
        return any(o.get("uid") == self.uid for o in rev["metadata"].get("ownerReferences") or [])

    def get(self, revision: int) -> dict | None:
        return next((r for r in self.list() if r["revision"] == revision), None)

    def record(self, limit: int = HISTORY_LIMIT, keep: AbstractSet[int] = frozenset(), *,
               first: dict | None = None, lazy: bool = False) -> int:
        """Record the content (the object's current spec); returns its revision number.

        ``lazy``: a first revision gets no ControllerRevision (``pending`` is set instead: the
        caller keeps a copy where it can be found, or calls write_pending()). ``first``:
        revision 1 without a ControllerRevision, when the caller has a copy of it (the object's
        spec has changed since); it is written before a newer revision is."""
        spec = self.content
        digest = spec_hash(spec)
        everything = self._all()
        for orphan in (r for r in everything if not self._owned(r)):
            self._delete(orphan)  # left by an earlier object of the same name
        revs = sorted((r for r in everything if self._owned(r)), key=lambda r: r["revision"])
        if not any(r["revision"] == 1 for r in revs) and (first := first or self.kept_by_object()) is not None:
            revs.insert(0, first)
        # numbers never go back, even when a first revision kept by the object alone was lost
        latest = (self.obj.get("status") or {}).get("latestRevision")
        floor = latest if isinstance(latest, int) and self.label_key == ENTRY_LABEL else 0
        if revs and revs[-1]["metadata"]["labels"].get(HASH_LABEL) == digest:
            number = revs[-1]["revision"]
        else:
            number = max(revs[-1]["revision"] if revs else 0, floor) + 1
            for dup in list(revs):
                if dup["metadata"]["labels"].get(HASH_LABEL) == digest and dup["revision"] not in keep:
                    if not dup.get("unwritten"):
                        self._delete(dup)
                    revs.remove(dup)
            for rev in revs:
                if rev.get("unwritten"):
                    self._write_unwritten(rev)
            if lazy and number == 1:
                revs.append(self.unwritten(spec, self.obj["metadata"].get("generation"),
                                           recorded_at=_now()))
            else:
                self._create(number, spec, digest)
                revs.append({"revision": number})
        old = [r for r in revs[:-limit] if r["revision"] not in keep] if limit > 0 else []
        for r in old:
            if not r.get("unwritten"):
                self._delete(r)
        self.pending = next((r for r in revs if r.get("unwritten") and r not in old), None)
        return number

    def delete_all(self) -> None:
        """Drop this object's revisions (those of a namesake created since are its own)."""
        for r in self._all():
            if self._owned(r):
                self._delete(r)

    def _create(self, number: int, spec: dict, digest: str, annotations: dict | None = None) -> None:
        from kubernetes.client import ApiException
        body: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {
                "name": revision_name(self.base, number),
                "labels": {self.label_key: self.label, HASH_LABEL: digest},
                "annotations": annotations if annotations is not None else {
                    f"{GROUP}/generation": str(self.obj["metadata"].get("generation", "")),
                    **({CHANGED_BY: by} if (by := changed_by(self.obj, digest)) else {})},
                "ownerReferences": [{"apiVersion": API_VERSION, "kind": self.obj["kind"], "name": self.name,
                                     "uid": self.uid, "controller": True}],
            },
            "data": spec,
            "revision": number,
        }
        try:
            # reading the answer hands the connection back to the pool (unread, it is dropped)
            json_body(self.apps.create_namespaced_controller_revision(self.namespace, body, field_manager="wippy",
                                                                      _preload_content=False))
            if self.view is not None:
                self.view.wrote(self.namespace, self.label, body["metadata"]["name"], body)
        except ApiException as e:
            if e.status != 409:
                raise
            # another replica or an earlier attempt wrote it: fine if it is the same content
            existing = json_body(self.apps.read_namespaced_controller_revision(
                revision_name(self.base, number), self.namespace, _preload_content=False))
            if existing["metadata"]["labels"].get(HASH_LABEL) != digest:
                raise HistoryError(f"revision {number} of {self.name} already exists with other content") from None

    def _delete(self, rev: dict) -> None:
        from kubernetes.client import ApiException
        name = rev.get("metadata", {}).get("name") or revision_name(self.base, rev["revision"])
        try:
            self.apps.delete_namespaced_controller_revision(name, self.namespace)
        except ApiException as e:
            if e.status != 404:
                raise
        if self.view is not None:
            self.view.wrote(self.namespace, self.label, name, None)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def change_summary(old: dict | None, new: dict) -> str:
    """Which spec fields a revision changed, e.g. `source (+2 -1 lines), method`."""
    if old is None:
        return "created"
    parts = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            parts.append(f"+{key}")
        elif key not in new:
            parts.append(f"-{key}")
        elif old[key] != new[key]:
            if isinstance(old[key], str) and isinstance(new[key], str) and "\n" in old[key] + new[key]:
                diff = list(difflib.ndiff(old[key].splitlines(), new[key].splitlines()))
                plus = sum(1 for d in diff if d.startswith("+ "))
                minus = sum(1 for d in diff if d.startswith("- "))
                parts.append(f"{key} (+{plus} -{minus} lines)")
            else:
                parts.append(key)
    return ", ".join(parts) or "no change"


# ---------------------------------------------------------------------- CLI: history / rollback
def add_arguments(hist, rb) -> None:
    """Kubernetes forms of `wippy history` and `wippy rollback` (local forms stay as they were)."""
    for p in (hist, rb):
        p.add_argument("-n", "--namespace", help="Kubernetes namespace of the entry (selects the Kubernetes form)")
        p.add_argument("--kube", action="store_true", help="act on the entry's custom resource in Kubernetes")
    rb.add_argument("--to-revision", type=int, metavar="N", help="copy revision N of ENTRY back into its spec")
    for p in (hist, rb):
        p.add_argument("--app", help="the versions of a whole WippyApp (Kubernetes) instead of one entry")
    rb.add_argument("--to", type=int, metavar="VERSION", help="with --app: the app version to return to")
    rb.add_argument("--prune", action="store_true", help="with --app: delete entries added since that version")
    rb.add_argument("--skip-missing", action="store_true",
                    help="with --app: restore what can be, even if some entries of that version are gone")
    hist.set_defaults(kube_handler=cmd_history)
    rb.set_defaults(kube_handler=cmd_rollback)


def _is_kube_history(args) -> bool:
    return bool(args.namespace or args.kube or (args.dir != "." and not Path(args.dir).is_dir()))


def cmd_history(args) -> int:
    if args.app:
        from wippy.kube.app_history import cmd_app_history
        return cmd_app_history(args)
    if not _is_kube_history(args):
        from wippy.cli.commands import cmd_history as local
        return local(args)
    apps, custom, namespace = kube_clients(args.namespace)
    obj, _ = find_entry(custom, namespace, args.dir)
    revs = History(apps, obj).list()
    latest = (obj.get("status") or {}).get("latestRevision")
    active = (obj.get("status") or {}).get("activeRevision")
    print(f"{'REVISION':<9} {'CHANGED':<20} {'':<14} {'BY':<16} CHANGE")
    prev = None
    for r in revs:
        marks = [m for m, n in (("latest", latest), ("active", active)) if n == r["revision"]]
        annotations = r["metadata"].get("annotations") or {}
        when = (annotations.get(RECORDED_AT) or r["metadata"].get("creationTimestamp", "")).replace("T", " ").rstrip("Z")
        by = annotations.get(CHANGED_BY) or "-"
        print(f"{r['revision']:<9} {when:<20} {','.join(marks):<14} {by:<16} {change_summary(prev, r['data'])}")
        prev = r["data"]
    return 0


def cmd_rollback(args) -> int:
    from wippy.cli.commands import UsageError
    if args.app:
        if args.to is None or args.version is not None:
            raise UsageError("usage: wippy rollback --app APP --to VERSION [--prune] [--skip-missing] [-n NS]")
        from wippy.kube.app_history import cmd_app_rollback
        return cmd_app_rollback(args)
    if args.to_revision is None and not args.namespace and not args.kube:
        if args.version is None or not args.version.isdigit():
            raise UsageError("usage: wippy rollback VERSION [DIR] | wippy rollback ENTRY --to-revision N [-n NS]")
        from wippy.cli.commands import cmd_rollback as local
        args.version = int(args.version)
        return local(args)
    if args.version is None or args.to_revision is None:
        raise UsageError("usage: wippy rollback ENTRY --to-revision N [-n NS]")
    apps, custom, namespace = kube_clients(args.namespace)
    obj, plural = find_entry(custom, namespace, args.version)
    rev = History(apps, obj).get(args.to_revision)
    if rev is None:
        have = ", ".join(str(r["revision"]) for r in History(apps, obj).list()) or "none"
        raise UsageError(f"{obj['metadata']['name']} has no revision {args.to_revision} (revisions: {have})")
    if rev["data"] == obj.get("spec"):
        print(f"{obj['kind'].lower()}/{obj['metadata']['name']} already has the spec of revision {args.to_revision}")
        return 0
    ref = f"{obj['kind'].lower()}/{obj['metadata']['name']}"
    warn_if_gitops(obj, f"kubectl annotate -n {namespace} {ref} {PIN_ANNOTATION}={args.to_revision}")
    replace_spec(custom, namespace, plural, obj, rev["data"])
    print(f"{ref} rolled back to revision {args.to_revision}")
    return 0


def replace_spec(custom, namespace: str, plural: str, obj: dict, spec: dict, attempts: int = 5) -> None:
    """Write `spec` over the object read as `obj`, unless someone changed its spec since.

    A replace carries the resourceVersion it read, so a concurrent change is not overwritten; but
    the operator's status writes move the resourceVersion too (the generation stays). On a conflict
    the object is read again and, if its generation is the one read first, written again."""
    from kubernetes.client import ApiException

    from wippy.cli.commands import UsageError
    name, generation = obj["metadata"]["name"], obj["metadata"].get("generation")
    for attempt in range(attempts):
        body = {k: v for k, v in obj.items() if k != "status"}
        body["spec"] = spec
        try:
            custom.replace_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, body,
                                                    field_manager=FIELD_MANAGER, _preload_content=False)
            return
        except ApiException as e:
            if e.status != 409 or attempt == attempts - 1:
                raise
        obj = json_body(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name,
                                                            _preload_content=False))
        if obj["metadata"].get("generation") != generation:
            raise UsageError(f"{obj['kind'].lower()}/{name} was changed while rolling back (generation "
                             f"{generation} -> {obj['metadata'].get('generation')}): nothing written; look "
                             f"at its spec and run the rollback again")


FIELD_MANAGER = "wippy"  # every write of the CLI and the operator
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# field managers of GitOps controllers (Argo CD, Flux); any server-side apply counts too
_GITOPS_MANAGERS = ("argocd", "kustomize-controller", "helm-controller", "flux")


def gitops_owner(obj: dict) -> str | None:
    """Who applies this object from elsewhere (git, a manifest), so that a spec written here is
    undone at its next sync: a GitOps controller's field manager, or kubectl's last-applied copy."""
    meta = obj.get("metadata") or {}
    for entry in meta.get("managedFields") or []:
        manager = entry.get("manager") or ""
        if entry.get("operation") == "Apply" or manager.startswith(_GITOPS_MANAGERS):
            if manager != FIELD_MANAGER:
                return manager
    if LAST_APPLIED in (meta.get("annotations") or {}):
        return "kubectl apply"
    return None


def warn_if_gitops(obj: dict, pin_command: str) -> None:
    owner = gitops_owner(obj)
    if owner:
        print(f"warning: {obj['kind'].lower()}/{obj['metadata']['name']} is applied by {owner}: its next sync "
              f"will put back the spec from its source, undoing this rollback. To serve an old revision and "
              f"leave the spec alone, pin it: {pin_command}", file=sys.stderr)


def kube_clients(namespace: str | None):
    import kubernetes
    try:
        kubernetes.config.load_kube_config()
        _, ctx = kubernetes.config.list_kube_config_contexts()
        default_ns = (ctx or {}).get("context", {}).get("namespace") or "default"
    except (kubernetes.config.ConfigException, FileNotFoundError):
        kubernetes.config.load_incluster_config()
        default_ns = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read_text().strip()
    return kubernetes.client.AppsV1Api(), kubernetes.client.CustomObjectsApi(), namespace or default_ns


def find_entry(custom, namespace: str, ref: str) -> tuple[dict, str]:
    """An entry object by Wippy id (`app:greet`), object name, or `kind/name`; returns (object, plural)."""
    from kubernetes.client import ApiException

    from wippy.cli.commands import UsageError
    from wippy.kube.crds import kinds_by_crd_plural
    kind_hint, _, name = ref.rpartition("/") if "/" in ref else ("", "", ref)
    found = []
    for plural in kinds_by_crd_plural():
        if kind_hint and kind_hint.lower() not in (plural, plural[:-1], plural[:-2], plural[:-3] + "y"):
            continue
        try:
            if ":" in name:  # an id: objects may have any name, spec.id is selectable
                items = json_body(custom.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, field_selector=f"spec.id={name}",
                    _preload_content=False))["items"]
                found += [(o, plural) for o in items]
            else:
                found.append((json_body(custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, name, _preload_content=False)), plural))
        except ApiException as e:
            if e.status != 404:
                raise
    if not found:
        raise UsageError(f"no Wippy entry {ref!r} in namespace {namespace}")
    if len(found) > 1:
        kinds = ", ".join(f"{p}/{o['metadata']['name']}" for o, p in found)
        raise UsageError(f"{ref!r} names several objects ({kinds}); say which with KIND/NAME")
    return found[0]

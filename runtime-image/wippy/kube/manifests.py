"""Entries <-> custom resources, and `wippy manifests`: an app folder as YAML for kubectl or git.

An entry `app:greet` of kind `function.lua` becomes

    apiVersion: wippy.ai/v1alpha1
    kind: FunctionLua
    metadata: {name: app.greet, labels: {wippy.ai/app: <app>}}
    spec: {id: app:greet, meta: {...}, source: ..., method: greet}

(the kind's fields sit beside `id` and `meta`, as in `_index.yaml`; family CRDs add `kind`).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from wippy.kube.crds import APP_KIND, APP_LABEL, crd_groups
from wippy.kube.naming import API_VERSION, crd_kind, family_of, object_name, object_names
from wippy.registry.entry import Entry

RESERVED = ("id", "meta", "kind")


class ManifestError(ValueError):
    pass


def to_object(entry: Entry, app: str, namespace: str | None = None, name: str | None = None) -> dict:
    """``name``: the object's name (default: the id's readable name, kube/naming.py)."""
    data = entry.data if entry.data is not None else {}
    if not isinstance(data, dict):
        raise ManifestError(f"entry {entry.id}: data must be a mapping to become a custom resource")
    clash = [k for k in RESERVED if k in data]
    if clash:
        raise ManifestError(f"entry {entry.id}: field {clash[0]!r} is reserved in a custom resource's spec")
    spec: dict = {"id": entry.id}
    if entry.meta:
        spec["meta"] = entry.meta
    if family_of(entry.kind) != entry.kind or len(crd_groups().get(crd_kind(entry.kind), [])) > 1:
        spec["kind"] = entry.kind
    spec.update(data)
    metadata: dict = {"name": name or object_name(entry.id), "labels": {APP_LABEL: app}}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": crd_kind(entry.kind), "metadata": metadata, "spec": spec}


def wippy_kind(obj: dict) -> str:
    """The Wippy kind of a custom resource (its CRD's only kind, or spec.kind for families)."""
    kinds = crd_groups().get(obj["kind"])
    if not kinds:
        raise ManifestError(f"{obj['kind']} is not a Wippy entry kind")
    spec_kind = (obj.get("spec") or {}).get("kind")
    if len(kinds) == 1 and family_of(kinds[0]) == kinds[0]:
        return kinds[0]
    if spec_kind not in kinds:
        raise ManifestError(f"spec.kind must be one of {', '.join(kinds)}")
    return spec_kind


def spec_to_entry(kind: str, spec: dict) -> Entry:
    """An entry from a CR kind and spec (raises InvalidEntryId / ValueError on a bad id)."""
    data = {k: v for k, v in spec.items() if k not in RESERVED}
    return Entry(id=spec.get("id", ""), kind=wippy_kind({"kind": kind, "spec": spec}),
                 meta=dict(spec.get("meta") or {}), data=data)


def from_object(obj: dict) -> Entry:
    return spec_to_entry(obj["kind"], obj.get("spec") or {})


def app_object(app: str, namespace: str | None = None, replicas: int = 1) -> dict:
    metadata: dict = {"name": app, "labels": {APP_LABEL: app}}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": APP_KIND, "metadata": metadata,
            "spec": {"replicas": replicas}}


def app_name(app_dir: Path) -> str:
    """A label-safe default app name from the folder name."""
    name = re.sub(r"[^a-z0-9-]+", "-", app_dir.resolve().name.lower()).strip("-")[:63].strip("-")
    return name or "app"


def render_app(app_dir: Path, app: str | None = None, namespace: str | None = None) -> list[dict]:
    from wippy.loader.tree import load_tree
    result = load_tree(app_dir)
    if result.errors:
        raise ManifestError("\n".join(str(e) for e in result.errors))
    app = app or app_name(app_dir)
    names = object_names(sorted(result.entries))
    objects = [to_object(e, app, namespace, names[e.id]) for _, e in sorted(result.entries.items())]
    # the app first: applied in this order, its entries are projected to its pods as they come,
    # instead of each waiting in no app (a status write) until the last object arrives
    return [app_object(app, namespace)] + objects


def _str_representer(dumper: yaml.SafeDumper, value: str):
    # multi-line Lua stays readable (and reviewable in git) as a block scalar
    style = "|" if "\n" in value and all(line == line.rstrip() for line in value.split("\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(str, _str_representer)


def dump(objects: list[dict]) -> str:
    return "".join("---\n" + yaml.dump(o, Dumper=_Dumper, sort_keys=False, width=120) for o in objects)


# ---------------------------------------------------------------------- `wippy manifests`
def add_command(sub) -> None:
    p = sub.add_parser("manifests", help="render an app folder as custom resources (YAML for kubectl apply or git)")
    p.add_argument("dir", help="the app folder (as for `wippy run`)")
    p.add_argument("--app", help="app name, used for the WippyApp and the wippy.ai/app label (default: folder name)")
    p.add_argument("-n", "--namespace", help="set metadata.namespace on every object")
    p.set_defaults(kube_handler=cmd_manifests)


def cmd_manifests(args) -> int:
    try:
        objects = render_app(Path(args.dir), args.app, args.namespace)
    except ManifestError as e:
        print(f"wippy: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(dump(objects))
    return 0

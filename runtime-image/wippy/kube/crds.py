"""CustomResourceDefinitions generated from the kind models (kinds/models/catalog.py).

One CRD per entry kind (families share one, with `spec.kind` naming the exact Wippy kind),
plus `WippyApp`. An entry's spec is `id` (the Wippy id), `meta` (free-form) and the kind's
fields as written in `_index.yaml`. Pydantic's JSON schema is turned into a structural
OpenAPI v3 schema: $refs inlined, `X | None` made nullable, `Any` preserved as-is, and
defaults moved into descriptions so the API server never writes fields the user did not. A
model's cross-field rules (kinds/models/base.py `cel`) become CEL `x-kubernetes-validations`.

`wippy crds --out crds --out helm/files/crds` regenerates the checked-in copies (the chart renders
the latter as templates, see helm/templates/crds.yaml).
"""
from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from wippy import __version__
from wippy.kinds.models.catalog import MODELS
from wippy.kube.naming import CATEGORY, GROUP, VERSION, crd_kind, family_of, plural
from wippy.kube.selectors import LabelSelector

APP_KIND = "WippyApp"
RUNTIME_IMAGE = "ghcr.io/wippy/wippy-runtime"  # tagged with this package's version (the chart's appVersion)
APP_LABEL = f"{GROUP}/app"

# JSON-schema keywords a structural schema may keep as they are
_KEEP = ("type", "format", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
         "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "nullable",
         "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-validations")

_READY = '.status.conditions[?(@.type=="Ready")].status'
COMMON_COLUMNS_HEAD = [{"name": "ID", "type": "string", "jsonPath": ".spec.id", "description": "The Wippy entry id."}]
COMMON_COLUMNS_TAIL = [
    {"name": "Ready", "type": "string", "jsonPath": _READY, "description": "All runtime pods serve the active revision."},
    {"name": "Revision", "type": "integer", "jsonPath": ".status.latestRevision", "description": "Latest recorded revision."},
    {"name": "Served", "type": "integer", "jsonPath": ".status.servedRevision",
     "description": "The revision every runtime pod serves (empty while they differ)."},
    {"name": "Pin", "type": "integer", "jsonPath": ".status.pinnedRevision",
     "description": "The revision a pin (the entry's or its app's) asks to serve."},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
# a column or two that tell entries of one kind apart
KIND_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "function.lua": [("Method", ".spec.method")],
    "process.lua": [("Method", ".spec.method")],
    "process.service": [("Process", ".spec.process"), ("Host", ".spec.host")],
    "ns.dependency": [("Component", ".spec.component"), ("Version", ".spec.version")],
    "ns.definition": [("Module", ".spec.module")],
}


# ---------------------------------------------------------------------- schema conversion
def structural(schema: dict, defs: dict) -> dict:
    """A pydantic JSON schema node as a structural OpenAPI v3 schema node."""
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return structural(merged, defs)
    if schema.get("x-kubernetes-int-or-string"):
        return _described({"x-kubernetes-int-or-string": True}, schema)
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        non_null = [v for v in variants if v.get("type") != "null"]
        if len(non_null) == 1:
            inner = {**non_null[0], **{k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}}
            nested = structural(inner, defs)
            if len(non_null) < len(variants):
                nested["nullable"] = True
            return nested
        return _described({"x-kubernetes-preserve-unknown-fields": True}, schema)
    out: dict[str, Any] = {k: copy.deepcopy(schema[k]) for k in _KEEP if k in schema}
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        out["type"] = "object"
        props = schema.get("properties") or {}
        if props:
            out["properties"] = {name: structural(p, defs) for name, p in props.items()}
            if schema.get("required"):
                out["required"] = list(schema["required"])
        extra = schema.get("additionalProperties")
        if extra is None and len(schema.get("patternProperties") or {}) == 1:
            # constrained keys: a structural schema cannot check them, the model does
            extra = next(iter(schema["patternProperties"].values()))
        if isinstance(extra, dict) and not props:
            out["additionalProperties"] = structural(extra, defs)
        elif extra is True or (extra is None and not props):
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        out["items"] = structural(schema.get("items") or {}, defs)
    elif kind is None:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return _described(out, schema)


def _described(out: dict, schema: dict) -> dict:
    text = schema.get("description", "")
    if "default" in schema and schema["default"] not in (None, [], {}):
        text = f"{text} Default: {json.dumps(schema['default'])}.".strip()
    if text:
        out["description"] = text
    return out


def entry_spec_schema(wippy_kinds: list[str]) -> dict:
    """spec of the CRD serving these kinds (one kind, or the variants of a family)."""
    props: dict[str, Any] = {
        "id": {"type": "string", "pattern": r"^[^:]+:[^:]+$",
               "description": "The Wippy entry id, 'namespace:name'; the object may have any name. Two "
                              "objects of one app claiming one id are refused at admission."},
        "meta": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                 "description": "Free-form entry metadata (comment, tags, command, router, ...)."},
    }
    required = ["id"]
    open_ended = False
    fields: dict[str, dict] = {}
    field_required: list[set[str]] = []
    rules: list[tuple[str, dict]] = []
    for k in wippy_kinds:
        model = MODELS[k]
        js = model.model_json_schema(mode="validation")
        defs = js.get("$defs", {})
        for name, p in (js.get("properties") or {}).items():
            fields.setdefault(name, structural(p, defs))
        field_required.append(set(js.get("required") or []))
        open_ended |= js.get("additionalProperties") is True
        rules += [(k, rule) for rule in js.get("x-kubernetes-validations") or []]
    props.update(fields)
    family = len(wippy_kinds) > 1 or family_of(wippy_kinds[0]) != wippy_kinds[0]
    if family:
        props["kind"] = {"type": "string", "enum": sorted(wippy_kinds), "description": "The exact Wippy kind."}
        required.append("kind")
    required += sorted(set.intersection(*field_required)) if field_required else []
    spec: dict[str, Any] = {"type": "object", "required": required, "properties": props}
    if open_ended:
        spec["x-kubernetes-preserve-unknown-fields"] = True
    if rules:  # a kind's own rules, in a CRD its family shares, hold for that kind only
        spec["x-kubernetes-validations"] = [
            {**rule, "rule": f"self.kind != '{k}' || ({rule['rule']})"} if family else rule for k, rule in rules]
    doc = MODELS[wippy_kinds[0]].__doc__ or ""
    spec["description"] = f"A Wippy {', '.join(wippy_kinds)} entry. {' '.join(doc.split())}".strip()
    return spec


STATUS_SCHEMA = {
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
    "description": "Written by the operator: observedGeneration, conditions, latestRevision (and its spec's hash, "
                   "latestRevisionHash), activeRevision "
                   "(what the pods are to serve), pinnedRevision, servedRevision (what every pod serves) and "
                   "applied.<pod> = {revision, generation, error, serving, time}, each runtime pod's report.",
}


# ---------------------------------------------------------------------- entry CRDs
# kinds added after others took their initials: named here, so that no existing name changes
FIXED_SHORT_NAMES = {"PgScope": "wpgs"}


def short_names() -> dict[str, str]:
    """`function.lua` -> `wfl`; on a clash the last part is spelled longer (`wndep`)."""
    taken: dict[str, str] = {"wapp": APP_KIND}
    out = {}
    for crd, kinds in sorted(crd_groups().items()):
        parts = family_of(kinds[0]).split(".")
        name = FIXED_SHORT_NAMES.get(crd) or "w" + "".join(p[0] for p in parts)
        if name in taken:
            name = "w" + "".join(p[0] for p in parts[:-1]) + parts[-1][:3]
        taken[name] = crd
        out[crd] = name
    return out


@functools.cache
def crd_groups() -> dict[str, list[str]]:
    """CRD kind -> the Wippy kinds it serves (computed once: decoding every object asks; do not mutate)."""
    groups: dict[str, list[str]] = {}
    for k in sorted(MODELS):
        groups.setdefault(crd_kind(k), []).append(k)
    return groups


def kinds_by_crd_plural() -> dict[str, list[str]]:
    return {plural(crd): kinds for crd, kinds in crd_groups().items()}


def entry_crd(crd: str, wippy_kinds: list[str], short: str) -> dict:
    columns = list(COMMON_COLUMNS_HEAD)
    if len(wippy_kinds) > 1:
        columns.append({"name": "Kind", "type": "string", "jsonPath": ".spec.kind"})
    for name, path in KIND_COLUMNS.get(wippy_kinds[0], []):
        columns.append({"name": name, "type": "string", "jsonPath": path})
    columns += COMMON_COLUMNS_TAIL
    crd_obj = _crd(crd, short, {"type": "object", "properties": {
        "spec": entry_spec_schema(wippy_kinds), "status": STATUS_SCHEMA}, "required": ["spec"]}, columns)
    # `kubectl get KIND --field-selector spec.id=app:greet`: how wippy finds an entry by id
    crd_obj["spec"]["versions"][0]["selectableFields"] = [{"jsonPath": ".spec.id"}]
    return crd_obj


def _crd(kind: str, short: str, schema: dict, columns: list[dict]) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural(kind)}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "wippy"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural(kind), "singular": kind.lower(),
                      "shortNames": [short], "categories": [CATEGORY]},
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": schema},
            }],
        },
    }


# ---------------------------------------------------------------------- WippyApp
class TemporalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(None, description="Temporal frontend host:port the runtime connects to.")
    namespace: str = Field("default", description="Temporal namespace.")


class LocalObjectReference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="Object in the app's namespace.")


class SecretRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Secret in the app's namespace; every key becomes an environment variable.")


def default_selector(app: str) -> LabelSelector:
    """The entries of an app that names no selector: those labelled wippy.ai/app=<app name>."""
    return LabelSelector(matchLabels={APP_LABEL: app})


class WippyAppSpec(BaseModel):
    """An application: its runtime pods, which serve the entries of its namespace that its selector
    matches (by default those labelled wippy.ai/app=<app name>)."""

    model_config = ConfigDict(extra="forbid")
    selector: LabelSelector | None = Field(
        None, description="Which entries of the namespace belong to the app (a label selector). "
                          "Default: matchLabels {wippy.ai/app: <app name>}.")
    image: str | None = Field(None, description=f"Runtime container image. Default: the operator's "
                                                f"WIPPY_RUNTIME_IMAGE, else {RUNTIME_IMAGE}:{__version__}.")
    imagePullPolicy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Pull policy of the runtime image.")
    imagePullSecrets: list[LocalObjectReference] = Field(
        default_factory=list, description="Secrets for pulling the runtime image from a private registry.")
    replicas: int = Field(1, ge=0, description="Runtime pods.")
    resources: dict[str, Any] | None = Field(None, description="Container resources (requests/limits).")
    # where and how the pods run (core/v1 PodSpec fields, passed through to the Deployment)
    nodeSelector: dict[str, str] = Field(default_factory=dict, description="Pod nodeSelector.")
    tolerations: list[dict[str, Any]] = Field(default_factory=list, description="Pod tolerations (core/v1 Toleration).")
    affinity: dict[str, Any] | None = Field(None, description="Pod affinity (core/v1 Affinity).")
    topologySpreadConstraints: list[dict[str, Any]] = Field(
        default_factory=list, description="Pod topologySpreadConstraints (core/v1 TopologySpreadConstraint).")
    priorityClassName: str | None = Field(None, description="Pod priorityClassName.")
    podAnnotations: dict[str, str] = Field(default_factory=dict, description="Extra annotations of the pods.")
    podLabels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels of the pods (the app's selector labels always win).")
    podSecurityContext: dict[str, Any] | None = Field(
        None, description="Pod securityContext, merged over the default (runAsNonRoot, seccomp RuntimeDefault).")
    securityContext: dict[str, Any] | None = Field(
        None, description="Runtime container securityContext, merged over the default (no privilege escalation, "
                          "read-only root filesystem, all capabilities dropped).")
    volumes: list[dict[str, Any]] = Field(default_factory=list, description="Extra pod volumes (core/v1 Volume).")
    volumeMounts: list[dict[str, Any]] = Field(
        default_factory=list, description="Extra mounts of the runtime container (core/v1 VolumeMount).")
    serviceAccountAnnotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the runtime's ServiceAccount (e.g. for workload identity).")
    temporal: TemporalSpec | None = Field(None, description="Durable workflows backend.")
    secretRefs: list[SecretRef] = Field(default_factory=list, description="Secrets exposed to the runtime as environment.")
    env: list[dict[str, Any]] = Field(default_factory=list, description="Extra environment variables (core/v1 EnvVar).")
    minAvailable: int | None = Field(None, ge=0, description="PodDisruptionBudget minAvailable. Default: replicas - 1 (at least 0).")

    def entry_selector(self, app: str) -> LabelSelector:
        return self.selector if self.selector is not None else default_selector(app)


def app_crd() -> dict:
    js = WippyAppSpec.model_json_schema(mode="validation")
    spec = structural(js, js.get("$defs", {}))
    spec["description"] = " ".join((WippyAppSpec.__doc__ or "").split())
    # nested core types: kept as written (the API server checks them when it takes the Deployment)
    for name in ("resources", "affinity", "podSecurityContext", "securityContext"):
        spec["properties"][name] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                    "description": spec["properties"][name]["description"], "nullable": True}
    for name in ("env", "tolerations", "topologySpreadConstraints", "volumes", "volumeMounts"):
        spec["properties"][name]["items"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    columns: list[dict[str, Any]] = [
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Entries", "type": "integer", "jsonPath": ".status.entries"},
        {"name": "Version", "type": "integer", "jsonPath": ".status.version", "description": "Current app version."},
        {"name": "Ready", "type": "string", "jsonPath": _READY},
        {"name": "Image", "type": "string", "jsonPath": ".spec.image", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    status = {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
              "description": "Written by the operator: observedGeneration, conditions, entries, version."}
    return _crd(APP_KIND, "wapp", {"type": "object", "properties": {"spec": spec, "status": status}}, columns)


# ---------------------------------------------------------------------- all of them
def all_crds() -> list[dict]:
    shorts = short_names()
    crds = [entry_crd(crd, kinds, shorts[crd]) for crd, kinds in sorted(crd_groups().items())]
    return crds + [app_crd()]


def file_name(crd: dict) -> str:
    return f"{GROUP}_{crd['spec']['names']['plural']}.yaml"


def render(crd: dict) -> str:
    return "# Generated by `wippy crds`; do not edit.\n" + yaml.safe_dump(crd, sort_keys=False, width=120)


def write(out_dir: Path) -> list[Path]:
    """Write every CRD into out_dir, removing generated files of CRDs that no longer exist."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for crd in all_crds():
        path = out_dir / file_name(crd)
        path.write_text(render(crd))
        written.append(path)
    for stale in set(out_dir.glob(f"{GROUP}_*.yaml")) - set(written):
        stale.unlink()
    return written


# ---------------------------------------------------------------------- `wippy crds`
def add_command(sub) -> None:
    p = sub.add_parser("crds", help="print (or write) the CustomResourceDefinitions")
    p.add_argument("--out", action="append", default=[], metavar="DIR",
                   help="write one file per CRD into DIR (repeatable) instead of printing")
    p.set_defaults(kube_handler=cmd_crds)


def cmd_crds(args) -> int:
    if not args.out:
        print("---\n".join(render(c) for c in all_crds()), end="")
    for d in args.out:
        write(Path(d))
    return 0

"""How Wippy entries map to Kubernetes objects.

- API group `wippy.ai`, version `v1alpha1`, category `wippy` (so `kubectl get wippy` lists all).
- One CRD per entry kind: `function.lua` -> kind `FunctionLua`, plural `functionluas`;
  `http.endpoint` -> `HttpEndpoint` / `httpendpoints`; driver variants (`db.sql.postgres`) share
  one CRD per family (`DbSql`) whose `spec.kind` holds the exact Wippy kind.
- Object name <- entry id by a lossless, reversible rule: lowercase letters, digits and `.` are
  kept; every other byte becomes `-` + two lowercase hex digits. So `app.api:get_user` is
  `app.api-3aget-5fuser`. The entry id itself is kept in `spec.id`; the operator reports two
  objects claiming one id (or an id whose name differs from the rule) as a collision.
- References between entries (`func`, `meta.router`, `process`, `host`, ...) keep the Wippy id form.
"""
from __future__ import annotations

import re

GROUP = "wippy.ai"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "wippy"
MAX_NAME = 253

_KEEP = re.compile(r"[a-z0-9.]")
_ESCAPE = re.compile(r"-([0-9a-f]{2})")


class InvalidObjectName(ValueError):
    pass


def object_name(entry_id: str) -> str:
    out = []
    for ch in entry_id:
        if _KEEP.fullmatch(ch):
            out.append(ch)
        else:
            out.extend(f"-{b:02x}" for b in ch.encode("utf-8"))
    name = "".join(out)
    if len(name) > MAX_NAME:
        raise InvalidObjectName(f"entry id {entry_id!r} is too long for a Kubernetes name ({len(name)} > {MAX_NAME})")
    if not name or not name[0].isalnum() or not name[-1].isalnum():
        # DNS subdomains start and end alphanumeric; ids like `.x:y` cannot be objects
        raise InvalidObjectName(f"entry id {entry_id!r} maps to {name!r}, which is not a valid object name")
    return name


def entry_id(name: str) -> str:
    return bytes(_decode(name)).decode("utf-8")


def _decode(name: str):
    i = 0
    while i < len(name):
        if name[i] == "-":
            m = _ESCAPE.match(name, i)
            if not m:
                raise InvalidObjectName(f"{name!r} is not an encoded entry id")
            yield int(m.group(1), 16)
            i = m.end()
        else:
            yield ord(name[i])
            i += 1


def crd_kind(wippy_kind: str) -> str:
    """`function.lua` -> `FunctionLua`; `db.sql.postgres` -> `DbSql` (families share a CRD);
    `security.token_store` -> `SecurityTokenStore` (Kubernetes names take no '_')."""
    parts = FAMILIES.get(family_of(wippy_kind), wippy_kind).replace("_", ".").split(".")
    return "".join(p[:1].upper() + p[1:] for p in parts)


def plural(crd: str) -> str:
    return crd.lower() + ("es" if crd.lower().endswith("s") else "s")


# kinds whose variants share one CRD, keyed by the family prefix
FAMILIES = {"db.sql": "db.sql", "queue.driver": "queue.driver", "env.storage": "env.storage",
            "store.kv": "store.kv"}


def family_of(wippy_kind: str) -> str:
    for fam in FAMILIES:
        if wippy_kind.startswith(fam + ".") and wippy_kind != fam:
            return fam
    return wippy_kind

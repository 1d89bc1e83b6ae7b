"""How Wippy entries map to Kubernetes objects.

- API group `wippy.ai`, version `v1alpha1`, category `wippy` (so `kubectl get wippy` lists all).
- One CRD per entry kind: `function.lua` -> kind `FunctionLua`, plural `functionluas`;
  `fs.directory` -> `FsDirectory` / `fsdirectories`; driver variants (`db.sql.postgres`) share
  one CRD per family (`DbSql`) whose `spec.kind` holds the exact Wippy kind.
- An object may have any valid name: `spec.id` is the entry's id. `wippy manifests` names objects
  readably after their ids (`app.api:get_user` -> `app.api.get-user`), adding a short hash of the
  id only where two ids of one app would get one name. Two objects claiming one id in a
  namespace are refused at admission (and the older keeps it, should both exist).
- References between entries (`func`, `meta.router`, `process`, `host`, ...) keep the Wippy id form.
"""
from __future__ import annotations

import hashlib
import re

GROUP = "wippy.ai"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "wippy"
MAX_NAME = 253
_HASH = 6

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def valid_name(name: str) -> bool:
    """A DNS subdomain, as Kubernetes wants object names."""
    return len(name) <= MAX_NAME and bool(_NAME.match(name))


def object_name(entry_id: str) -> str:
    """The readable default name of an id's object: lowercase, `:` becomes `.`, every run of
    other characters a `-`, each dot-separated part trimmed to start and end alphanumeric."""
    text = re.sub(r"[^a-z0-9.]+", "-", entry_id.lower().replace(":", "."))
    parts = [p.strip("-") for p in text.split(".")]
    name = ".".join(p for p in parts if p)
    if not name:
        return "entry-" + id_hash(entry_id)
    if len(name) > MAX_NAME:
        name = name[:MAX_NAME - _HASH - 1].rstrip(".-") + "-" + id_hash(entry_id)
    return name


def id_hash(entry_id: str) -> str:
    return hashlib.sha256(entry_id.encode()).hexdigest()[:_HASH]


def object_names(entry_ids: list[str]) -> dict[str, str]:
    """Default names for the ids of one app, unique among them: an id whose readable name another
    id also gets is told apart by a short hash of the id."""
    readable = {i: object_name(i) for i in entry_ids}
    count: dict[str, int] = {}
    for name in readable.values():
        count[name] = count.get(name, 0) + 1
    out = {}
    for i, name in readable.items():
        if count[name] > 1:
            name = name[:MAX_NAME - _HASH - 1].rstrip(".-") + "-" + id_hash(i)
        out[i] = name
    return out


def crd_kind(wippy_kind: str) -> str:
    """`function.lua` -> `FunctionLua`; `db.sql.postgres` -> `DbSql` (families share a CRD);
    `security.token_store` -> `SecurityTokenStore` (Kubernetes names take no '_')."""
    parts = FAMILIES.get(family_of(wippy_kind), wippy_kind).replace("_", ".").split(".")
    return "".join(p[:1].upper() + p[1:] for p in parts)


def plural(crd: str) -> str:
    """The English plural, lowercase: `FsDirectory` -> `fsdirectories`, `StoreRedis` -> `storeredises`."""
    word = crd.lower()
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


# kinds whose variants share one CRD, keyed by the family prefix
FAMILIES = {"db.sql": "db.sql", "queue.driver": "queue.driver", "env.storage": "env.storage",
            "store.kv": "store.kv"}


def family_of(wippy_kind: str) -> str:
    for fam in FAMILIES:
        if wippy_kind.startswith(fam + ".") and wippy_kind != fam:
            return fam
    return wippy_kind

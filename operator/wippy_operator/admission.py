"""The validating admission webhook: the operator's own checks (checks.py) at `kubectl apply` time,
so that a wrong entry is refused with its message instead of being accepted and later Stalled.

Refused: what checks.intrinsic finds (the model's rules, Lua that does not parse, and whatever
checks.py adds later), and a second object claiming an entry id that an object of the same app
already has. Warned, not refused: references that do not resolve in the app yet (one
`kubectl apply` of a whole app creates its objects one by one, in any order).

kopf serves it (its own HTTPS server) and keeps the ValidatingWebhookConfiguration (`wippy.ai`,
or --webhook-config) up to date. failurePolicy is Ignore: while no operator answers, entries are admitted and the
operator, once back, still marks a wrong one Stalled with the same message; Fail would make
every `kubectl apply` of an entry fail whenever the operator is down.

An operator that watches some namespaces (--namespace) limits its webhooks to them with a
namespaceSelector: an entry elsewhere is another operator's (or no one's) to judge. A label
selector (--webhook-namespace-selector, the chart's webhook.namespaceSelector) limits them further,
for example to the namespaces of the teams that asked for it.
"""
from __future__ import annotations

import datetime
import ipaddress
import logging
import re
from pathlib import Path
from typing import Any

import kopf
from kopf._core.engines import admission as kopf_admission

from wippy.kube.naming import GROUP, VERSION

from . import checks
from .state import Group, State

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"   # set by the API server on every namespace
log = logging.getLogger("wippy.operator")


def register(plurals: list[str], state: State, lua: checks.LuaChecker) -> None:
    for plural in plurals:
        kopf.on.validate(GROUP, VERSION, plural, id=f"validate-{plural}", ignore_failures=True,
                         operations=["CREATE", "UPDATE"])(_validator(plural, state, lua))


def _validator(plural: str, state: State, lua: checks.LuaChecker):
    def validate(body: kopf.Body, warnings: list[str], **_) -> None:
        obj: dict[str, Any] = {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"),
               "metadata": dict(body.get("metadata") or {}), "spec": dict(body.get("spec") or {})}
        found = checks.intrinsic(obj, lua)
        if found.problem is not None:
            raise kopf.AdmissionError(f"{found.problem.reason}: {found.problem.message}", code=422)
        ns = obj["metadata"].get("namespace") or ""
        key = (ns, plural, obj["metadata"].get("name") or "")
        groups = state.groups_for(ns, obj)
        for other_key, other in state.claiming(ns, obj["spec"].get("id"), groups):
            if other_key != key:
                raise kopf.AdmissionError(
                    f"IdCollision: entry id {obj['spec'].get('id')} is already defined by {other['kind']} "
                    f"{other['metadata']['name']} in {_where(groups)}", code=409)
        for group in sorted(groups):
            missing = state.unknown_ids(group, found.references)
            if missing:
                warnings.append(checks.missing_references(missing, _where({group})).message
                                + " (yet: fine while the rest of the app is being applied)")
    validate.__name__ = f"validate_{plural}"
    return validate


def namespace_selector(namespaces: list[str], labels: dict | None) -> dict | None:
    """The namespaceSelector of the webhooks: the namespaces' names (an operator that watches
    some) and the label selector a cluster administrator gives (both when both are given); None
    for every namespace. ValueError for a selector the API server would refuse."""
    selector: dict[str, Any] = {}
    if labels:
        unknown = set(labels) - {"matchLabels", "matchExpressions"}
        if unknown:
            raise ValueError(f"a label selector has matchLabels and matchExpressions, not {', '.join(sorted(unknown))}")
        if not isinstance(labels.get("matchLabels", {}), dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels.get("matchLabels", {}).items()):
            raise ValueError("matchLabels maps label names to values (strings)")
        for e in labels.get("matchExpressions") or []:
            op = e.get("operator") if isinstance(e, dict) else None
            if op not in ("In", "NotIn", "Exists", "DoesNotExist") or not isinstance(e.get("key"), str) or \
                    (op in ("In", "NotIn")) != bool(e.get("values")):
                raise ValueError(f"matchExpressions: {e!r} is not a key with operator In or NotIn and values, "
                                 "or Exists or DoesNotExist without")
        selector = {k: v for k, v in labels.items() if v}
    if namespaces:
        if any(not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", ns) for ns in namespaces):
            # kopf takes glob patterns, a namespaceSelector only names
            log.warning("the webhook checks entries of every namespace: --namespace %s is a pattern, not a name",
                        " ".join(namespaces))
        else:
            selector["matchExpressions"] = [*selector.get("matchExpressions", []), {
                "key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(namespaces)}]
    return selector or None


def limit_to_namespaces(namespaces: list[str], labels: dict | None = None) -> None:
    """Give every webhook kopf registers the namespaceSelector of ``namespace_selector``. kopf
    builds the configuration's webhooks itself (and replaces the list on every change), without one."""
    selector = namespace_selector(namespaces, labels)
    if selector is None:
        return
    build = kopf_admission.build_webhooks

    def build_webhooks(*args, **kwargs) -> list[dict[str, Any]]:
        return [{**hook, "namespaceSelector": selector} for hook in build(*args, **kwargs)]

    kopf_admission.build_webhooks = build_webhooks


def _where(groups: frozenset[Group] | set[Group]) -> str:
    names = sorted(g.name or "" for g in groups)
    return f"WippyApp {', '.join(names)}" if any(g.app for g in groups) else f"app {', '.join(names)}"


def server(addr: str, port: int, host: str, cert_dir: Path) -> kopf.WebhookServer:
    """kopf's HTTPS server with the certificate in ``cert_dir`` (tls.crt, tls.key, ca.crt: from a
    Secret the chart or cert-manager provides), made there self-signed when absent."""
    crt, key, ca = cert_dir / "tls.crt", cert_dir / "tls.key", cert_dir / "ca.crt"
    if not (crt.is_file() and key.is_file()):
        cert_dir.mkdir(parents=True, exist_ok=True)
        _self_signed(host, crt, key, ca)
    return kopf.WebhookServer(addr=addr, port=port, host=host, certfile=str(crt), pkeyfile=str(key),
                              cafile=str(ca if ca.is_file() else crt))


class ViaService:
    """A webhook server the API server reaches through a Service (in a cluster) instead of a URL:
    wraps kopf's server and names ``namespace/name:port`` in the configuration it yields."""

    def __init__(self, server: kopf.WebhookServer, service: str):
        ref, _, port = service.rpartition(":")
        namespace, _, name = ref.partition("/")
        if not (namespace and name and port.isdigit()):
            raise ValueError(f"--webhook-service wants NAMESPACE/NAME:PORT, not {service!r}")
        self.server, self.namespace, self.name, self.port = server, namespace, name, int(port)

    async def __call__(self, fn):
        async with self.server as server:
            async for config in server(fn):
                ref = {"namespace": self.namespace, "name": self.name, "port": self.port}
                yield {"service": ref, **({"caBundle": config["caBundle"]} if "caBundle" in config else {})}


def _self_signed(host: str, crt: Path, key: Path, ca: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pkey = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        san: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(host))]
    except ValueError:
        san = [x509.DNSName(host)]
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pkey.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(pkey, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key.write_bytes(pkey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    key.chmod(0o600)
    crt.write_bytes(pem)
    ca.write_bytes(pem)

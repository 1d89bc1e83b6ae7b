"""`python -m wippy_operator`: run the operator (kopf) with metrics and HA settings."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import re
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wippy-operator", description="Reconcile Wippy entries and apps.")
    p.add_argument("-n", "--namespace", action="append", default=[],
                   help="watch only this namespace (repeatable; default: all namespaces)")
    p.add_argument("--peering", default=os.environ.get("WIPPY_OPERATOR_PEERING"),
                   help="kopf peering name: replicas sharing it run one at a time (active/standby)")
    p.add_argument("--priority", type=int, default=None, help="peering priority (default: random)")
    p.add_argument("--peering-lifetime", type=int, default=60,
                   help="seconds a replica's heartbeat counts: a standby takes over this long after "
                        "the active replica died")
    p.add_argument("--metrics-port", type=int, default=int(os.environ.get("WIPPY_OPERATOR_METRICS_PORT", "9090")),
                   help="Prometheus metrics port (0 disables)")
    p.add_argument("--health-port", type=int, default=int(os.environ.get("WIPPY_OPERATOR_HEALTH_PORT", "0")),
                   help="serve the /livez and /readyz probes on this port (0: none)")
    p.add_argument("--history-limit", type=int, default=10, help="revisions kept per entry")
    p.add_argument("--no-app-grace", type=float, default=60.0, metavar="SECONDS",
                   help="how long an entry no WippyApp selects stays Reconciling before it is Stalled")
    p.add_argument("--webhook-port", type=int, default=int(os.environ.get("WIPPY_OPERATOR_WEBHOOK_PORT", "0")),
                   help="serve the validating admission webhook on this port (0: no webhook)")
    p.add_argument("--webhook-addr", default="0.0.0.0", help="address the webhook server listens on")
    p.add_argument("--webhook-host", default=os.environ.get("WIPPY_OPERATOR_WEBHOOK_HOST", "127.0.0.1"),
                   help="host name or IP in the webhook's URL, as the API server reaches this replica")
    p.add_argument("--webhook-service", default=os.environ.get("WIPPY_OPERATOR_WEBHOOK_SERVICE"),
                   metavar="NAMESPACE/NAME:PORT",
                   help="the API server reaches the webhook through this Service (in a cluster) "
                        "instead of https://HOST:PORT")
    p.add_argument("--webhook-config", default=os.environ.get("WIPPY_OPERATOR_WEBHOOK_CONFIG", "wippy.ai"),
                   help="name of the ValidatingWebhookConfiguration the operator keeps (one per operator: "
                        "operators of different namespaces each keep their own)")
    p.add_argument("--webhook-namespace-selector", default=os.environ.get("WIPPY_OPERATOR_WEBHOOK_NAMESPACE_SELECTOR"),
                   metavar="JSON",
                   help='a label selector of the namespaces whose entries the webhook checks, as JSON '
                        '(\'{"matchLabels": {"team": "shop"}}\', matchExpressions too); with --namespace, both apply')
    p.add_argument("--webhook-cert-dir", default=os.environ.get("WIPPY_OPERATOR_WEBHOOK_CERT_DIR",
                                                                "/tmp/wippy-webhook"),
                   help="tls.crt/tls.key/ca.crt of the webhook (made self-signed there when absent)")
    p.add_argument("--log-level", default=os.environ.get("WIPPY_OPERATOR_LOG_LEVEL", "INFO"),
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="kopf's line per handled watch event shows at DEBUG only")
    return p


async def run(args: argparse.Namespace, identity: str, priority: int) -> None:
    import kopf
    from kopf._cogs.structs.credentials import Vault
    from kopf._cogs.structs.references import Insights
    from kopf._core.engines.peering import Identity

    from . import discovery, ha

    settings = kopf.OperatorSettings()  # the startup handler adds its settings to this object
    settings.peering.lifetime = args.peering_lifetime
    # Events say which replica wrote them (reportingController/reportingInstance)
    settings.posting.reporting_component = "wippy-operator"
    settings.posting.reporting_instance = identity
    if args.webhook_port:
        from . import admission
        server = admission.server(args.webhook_addr, args.webhook_port, args.webhook_host,
                                  Path(args.webhook_cert_dir))
        settings.admission.server = admission.ViaService(server, args.webhook_service) \
            if args.webhook_service else server
        settings.admission.managed = args.webhook_config
    registry, insights, vault = kopf.get_default_registry(), Insights(), Vault()
    helpers = [asyncio.create_task(discovery.rediscover(settings, registry, insights, vault))]
    probes = None
    if args.health_port:
        from . import health
        probes = await health.serve("0.0.0.0", args.health_port, settings, registry, insights)
    if args.peering:
        helpers.append(asyncio.create_task(ha.report_role(args.peering, args.namespace, identity, priority)))
    try:
        await kopf.operator(
            registry=registry, settings=settings, insights=insights, vault=vault, identity=Identity(identity),
            clusterwide=not args.namespace, namespaces=args.namespace,
            standalone=not args.peering, peering_name=args.peering, priority=priority)
    finally:
        for task in helpers:
            task.cancel()
        if probes is not None:
            await probes.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.webhook_service and not re.fullmatch(r"[a-z0-9.-]+/[a-z0-9.-]+:[0-9]+", args.webhook_service):
        parser.error(f"--webhook-service wants NAMESPACE/NAME:PORT, not {args.webhook_service!r}")
    selector = None
    if args.webhook_namespace_selector and not args.webhook_port:
        parser.error("--webhook-namespace-selector selects the namespaces the webhook checks: it needs --webhook-port")
    if args.webhook_namespace_selector:
        from .admission import namespace_selector
        try:
            selector = json.loads(args.webhook_namespace_selector)
            if not isinstance(selector, dict):
                raise ValueError("it is not a JSON object")
            namespace_selector(args.namespace, selector)
        except ValueError as e:
            parser.error(f"--webhook-namespace-selector {args.webhook_namespace_selector!r}: {e}")
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level != "DEBUG":
        # kopf logs each watch event's handler run at INFO ("Handler ... succeeded."): a line per
        # entry change, a few % of the operator's CPU in a burst; its warnings and errors still show
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    import kubernetes
    from prometheus_client import start_http_server

    from . import checks, ha, handlers
    handlers.OP.history_limit = args.history_limit
    handlers.OP.no_app_grace = args.no_app_grace
    if args.webhook_port:
        from . import admission
        admission.register(sorted(handlers.PLURALS), handlers.STATE, checks.LuaChecker())
        admission.limit_to_namespaces(args.namespace, selector)
    if args.metrics_port:
        start_http_server(args.metrics_port)
    identity = ha.own_identity()
    # equal priorities would freeze every replica; a random one picks a leader
    priority = args.priority if args.priority is not None else random.randint(1, 2**31)
    if args.peering:
        try:
            kubernetes.config.load_incluster_config()
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()
        ha.ensure_peering(args.peering, args.namespace)
    asyncio.run(run(args, identity, priority))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`wippy test --kubernetes`: the app's tests in a runtime fed from its custom resources (read with
the user's credentials), that reports nothing back (it is no pod of the app)."""
from __future__ import annotations

import os
import socket

from ..kube.api import KubeApi, pod_namespace
from ..kube.crds import default_selector
from ..kube.source import EntryObjectsSource


def runtime_for_tests(*, app: str | None, namespace: str | None, selector: str | None):
    from ..runtime import Runtime
    app = app or os.environ.get("WIPPY_APP")
    if not app:
        raise ValueError("wippy test --kubernetes needs --app APP (or WIPPY_APP)")
    api, config_namespace = KubeApi.from_environment()
    name = f"wippy-test-{socket.gethostname()}"
    source = EntryObjectsSource(api, namespace=pod_namespace(namespace, config_namespace), app=app,
                                selector=selector or str(default_selector(app)), pod_name=name)
    return Runtime(node_name=name, persist_history=False, source=source)

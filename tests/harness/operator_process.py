"""The operator as its image runs it (`python -m wippy_operator`), for tests on a real API server."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.harness import processes

ROOT = Path(__file__).resolve().parents[2]


def install_crds(kube) -> None:
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "app.kubernetes.io/part-of=wippy")


class Operator:
    """`python -m wippy_operator` as a process; restartable, as a Deployment's pod would be."""

    def __init__(self, kube, log: Path, *args: str, kubeconfig: Path | None = None):
        self.kube, self.log, self.args, self.proc = kube, log, args, None
        self.kubeconfig = kubeconfig or kube.kubeconfig

    def start(self) -> None:
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "wippy_operator", "--metrics-port", "0", *self.args],
                                         stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "KUBECONFIG": str(self.kubeconfig)})

    def stop(self) -> None:
        processes.stop_process(self.proc, signal.SIGINT, timeout=15)

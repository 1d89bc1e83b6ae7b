"""A real one-node Kubernetes cluster on this machine, for the ``cluster`` tests.

On top of ``KubeCluster`` (etcd + kube-apiserver) it runs kube-controller-manager,
kube-scheduler, and a kubelet with containerd (Debian's, with runc) and the CNI bridge plugin
(Debian's containernetworking-plugins), so Deployments get real pods from real images:
the images ``scripts/images.sh`` builds with buildah, imported into containerd (no registry is
reachable; pods use ``imagePullPolicy: Never``).

Network: a bridge ``wippy0`` with the address 10.77.0.1/16, which is at once
- the node IP (the kubelet refuses a loopback one),
- the address kube-apiserver listens on, port 443, and
- the ClusterIP of the ``default/kubernetes`` Service (the service range 10.77.0.0/24 starts there),
so pods reach the API server through the in-cluster address without kube-proxy. Pods get
10.77.1.x on the bridge; no masquerade, no route out: pod addresses exist only on this machine.
There is no kube-proxy (other ClusterIPs do not answer; headless Services and EndpointSlices work)
and no cluster DNS.

Host changes (sysctls the kubelet sets, mounts, the bridge, directories, cgroups) are recorded
before the start and restored by ``stop()``; leftovers of a killed run are cleaned at the next
start. One cluster per machine at a time (a lock file): the bridge, port 443 and the cgroups
are machine-wide.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.harness.kube_cluster import (
    REPO_ROOT,
    TOOLS_SCRIPT,
    WORKDIR_PREFIX,
    KubeCluster,
    KubeClusterError,
    _die_with_parent,
    free_port,
)

NODE_NAME = "wippy-node"
NODE_USER = f"system:node:{NODE_NAME}"
BRIDGE = "wippy0"
NODE_IP = "10.77.0.1"
BRIDGE_CIDR = f"{NODE_IP}/16"
SERVICE_RANGE = "10.77.0.0/24"  # its first address is NODE_IP: the kubernetes Service's ClusterIP
POD_RANGE = ("10.77.1.2", "10.77.1.254")
API_PORT = 443
IMAGES_SCRIPT = REPO_ROOT / "scripts" / "images.sh"
LOCK_FILE = Path("/run/lock/wippy-cluster.lock")
STATE_DIR = Path("/run/wippy-cluster")  # containerd's state and socket (short path for the socket)
HOST_RECORD = Path("/run/wippy-cluster.host.json")  # what the host was like, until it is restored
CACHE_DIR = Path(os.environ.get("WIPPY_CLUSTER_CACHE", Path.home() / ".cache" / "wippy-cluster"))
PACKAGES = {"containerd": "containerd", "runc": "runc", "/usr/lib/cni/bridge": "containernetworking-plugins"}
CNI_BIN_DIR = "/usr/lib/cni"

# Set by the kubelet at start (it needs them; it does not put them back).
KUBELET_SYSCTLS = (
    "vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
)
# Directories the kubelet, containerd's CRI plugin and CNI create at fixed places.
FIXED_DIRS = ("/var/log/pods", "/var/log/containers", "/var/lib/cni", "/run/netns", "/var/lib/kubelet")


@dataclass(frozen=True)
class Image:
    name: str       # base, pause, operator, runtime
    ref: str        # localhost/wippy-<name>:<content hash>
    archive: Path   # docker-archive built by scripts/images.sh


def build_images() -> dict[str, Image]:
    """Run scripts/images.sh (cached by content hash; builds what changed)."""
    proc = subprocess.run(["bash", str(IMAGES_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise KubeClusterError(f"scripts/images.sh failed with exit code {proc.returncode}")
    images = {}
    for line in proc.stdout.splitlines():
        name, ref, archive = line.split()
        images[name] = Image(name, ref, Path(archive))
    return images


def ensure_node_tools() -> Path:
    """kube-apiserver, etcd, helm and the node's kubelet, controller-manager and scheduler."""
    env_dir = os.environ.get("WIPPY_K8S_BIN_DIR")
    if env_dir:
        return Path(env_dir)
    proc = subprocess.run(["bash", str(TOOLS_SCRIPT), "--node"], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise KubeClusterError(f"scripts/k8s-tools.sh --node failed with exit code {proc.returncode}")
    return Path(proc.stdout.strip().splitlines()[-1])


def install_packages() -> None:
    """Debian's containerd, runc and CNI plugins, installed on first use (as services.sh does)."""
    missing = [pkg for path, pkg in PACKAGES.items() if not (shutil.which(path) or Path(path).exists())]
    if not missing:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # keep the package's own containerd service from starting: we run our own instance
    policy = Path("/usr/sbin/policy-rc.d")
    had_policy = policy.exists()
    if not had_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        # another apt run (a parallel session's) holds the lock for a while: wait for it
        cmd = ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=600", "--no-install-recommends", *missing]
        if subprocess.run(cmd, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
            subprocess.run(cmd, env=env, check=True)
    finally:
        if not had_policy:
            policy.unlink(missing_ok=True)


# --------------------------------------------------------------------------- host state


def _read_sysctl(key: str) -> str | None:
    try:
        return Path("/proc/sys", key).read_text().strip()
    except OSError:
        return None


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        points.append(point)
    return points


def _cgroup_dirs() -> set[Path]:
    """Top-level cgroups of every v1 hierarchy (the kubelet adds kubepods under each)."""
    dirs = set()
    root = Path("/sys/fs/cgroup")
    for hierarchy in root.iterdir() if root.is_dir() else ():
        with contextlib.suppress(OSError):
            dirs.update(p for p in hierarchy.iterdir() if p.is_dir())
    return dirs


def _remove_cgroup_tree(path: Path) -> None:
    """rmdir a cgroup and its children, deepest first (a cgroup dir holds only kernel files)."""
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()


class HostState:
    """What the node changes on the host, recorded before the start and put back at the end."""

    def __init__(self, owned: list[Path]) -> None:
        # mounts below these are ours; the cluster's work dirs hold the kubelet's root dir
        self.owned = [str(p).rstrip("/") + "/" for p in owned]
        self.owned += ["/run/netns/", "/var/run/netns/", "/var/lib/kubelet/",
                       str(Path(tempfile.gettempdir(), WORKDIR_PREFIX))]
        self.sysctls: dict[str, str] = {}
        self.mounts: set[str] = set()
        self.dirs: dict[str, bool] = {}
        self.cgroups: set[Path] = set()

    def _ours(self, point: str) -> bool:
        return any((point + "/").startswith(p) for p in self.owned)

    def clean_leftovers(self) -> None:
        """A run killed before its teardown left containers (their shims were killed, not their
        processes), mounts, the kubelet's cgroups and the bridge: remove them first."""
        for kubepods in Path("/sys/fs/cgroup").glob("*/kubepods"):
            for procs in kubepods.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    for pid in procs.read_text().split():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(pid), signal.SIGKILL)
        if HOST_RECORD.exists():  # the killed run's record: put back what it changed
            with contextlib.suppress(OSError, ValueError, KeyError):
                rec = json.loads(HOST_RECORD.read_text())
                self.sysctls, self.mounts, self.dirs = rec["sysctls"], set(rec["mounts"]), rec["dirs"]
                self.cgroups = {Path(c) for c in rec["cgroups"]}
                self.restore()
        self._unmount(keep=set())
        _run(["ip", "link", "delete", BRIDGE], check=False)
        for _ in range(50):  # the killed processes leave their cgroups as they are reaped
            for kubepods in Path("/sys/fs/cgroup").glob("*/kubepods"):
                _remove_cgroup_tree(kubepods)
            if not any(Path("/sys/fs/cgroup").glob("*/kubepods")):
                break
            time.sleep(0.1)

    def record(self) -> None:
        self.sysctls = {k: v for k in KUBELET_SYSCTLS if (v := _read_sysctl(k)) is not None}
        self.mounts = set(_mount_points())
        self.dirs = {d: Path(d).exists() for d in FIXED_DIRS}
        self.cgroups = _cgroup_dirs()
        HOST_RECORD.write_text(json.dumps({"sysctls": self.sysctls, "mounts": sorted(self.mounts), "dirs": self.dirs,
                                           "cgroups": sorted(map(str, self.cgroups))}))

    def unmount(self) -> None:
        """Unmount what the node mounted (before its directories are removed)."""
        self._unmount(keep=self.mounts)

    def restore(self) -> list[str]:
        """Put everything back; returns what could not be (for the caller's error)."""
        problems = []
        self._unmount(keep=self.mounts)
        for netns in (Path("/run/netns"), Path("/var/run/netns")):
            for f in netns.glob("cni-*") if netns.is_dir() else ():
                with contextlib.suppress(OSError):
                    f.unlink()
        _run(["ip", "link", "delete", BRIDGE], check=False)
        for key, value in self.sysctls.items():
            if _read_sysctl(key) != value:
                try:
                    Path("/proc/sys", key).write_text(value)
                except OSError as e:
                    problems.append(f"sysctl {key}: {e}")
        for d, existed in self.dirs.items():
            if not existed and Path(d).exists() and not Path(d).is_symlink():
                shutil.rmtree(d, ignore_errors=True)
        for cg in _cgroup_dirs() - self.cgroups:
            _remove_cgroup_tree(cg)
        left = [m for m in _mount_points() if self._ours(m) and m not in self.mounts]
        if left:
            problems.append(f"still mounted: {left}")
        HOST_RECORD.unlink(missing_ok=True)
        return problems

    def _unmount(self, keep: set[str]) -> None:
        for point in reversed(_mount_points()):  # most recent first
            if self._ours(point) and point not in keep:
                _run(["umount", "-l", point], check=False)


def _run(cmd: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if check and proc.returncode != 0:
        raise KubeClusterError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


# --------------------------------------------------------------------------- the node


class ClusterNode:
    """kube-apiserver, etcd, controller-manager, scheduler, containerd and a kubelet.

    ``start()`` builds what is missing (node tools, images), takes the machine-wide lock and
    returns when the node is Ready and the default ServiceAccount exists. ``kube`` is the
    ``KubeCluster`` (kubectl, kubeconfig, helm); ``images`` the built images by name.
    """

    def __init__(self, workdir: Path | None = None) -> None:
        self.kube: KubeCluster | None = None
        self.images: dict[str, Image] = {}
        self.bin_dir: Path | None = None
        self.state = HostState([STATE_DIR, CACHE_DIR / "containerd"])
        self.start_seconds = 0.0
        self._lock: int | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list = []
        self._workdir_arg = workdir

    @property
    def workdir(self) -> Path:
        assert self.kube is not None and self.kube.workdir is not None
        return self.kube.workdir

    @property
    def containerd_socket(self) -> Path:
        return STATE_DIR / "containerd.sock"

    def __enter__(self) -> ClusterNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> ClusterNode:
        install_packages()
        self.bin_dir = ensure_node_tools()
        self.images = build_images()
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # another run's cluster: wait for its end
        t0 = time.monotonic()
        try:
            self._kill_leftover_shims()
            self.state.clean_leftovers()
            self.state.record()
            self._create_bridge()
            self.kube = KubeCluster(
                self.bin_dir, extra_users=[(NODE_USER, ["system:nodes"])], workdir=self._workdir_arg,
                address=NODE_IP, port=API_PORT, service_cluster_ip_range=SERVICE_RANGE,
                admit_service_accounts=True, authorization_mode="Node,RBAC",
                apiserver_args=["--enable-admission-plugins=NodeRestriction",
                                # the node's name does not resolve: reach the kubelet by its IP
                                "--kubelet-preferred-address-types=InternalIP"],
            )
            self.kube.start()
            self._start_containerd()
            self._import_images()
            self._start_controllers()
            self._start_kubelet()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Stop every component and every container, then put the host back as it was."""
        for name in ("kube-scheduler", "kube-controller-manager"):
            self._terminate(name, 20)
        self._delete_pods()
        self._terminate("kubelet", 20)
        self._remove_containers()
        self._terminate("containerd", 20)
        self._kill_leftover_shims()
        recorded = bool(self.state.mounts)
        if recorded:
            self.state.unmount()
        if self.kube is not None:
            self.kube.stop()
            self.kube = None
        for fh in self._logs:
            with contextlib.suppress(Exception):
                fh.close()
        self._logs.clear()
        problems = self.state.restore() if recorded else []
        self.state.mounts = set()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        if problems:
            raise KubeClusterError("the host was not fully restored: " + "; ".join(problems))

    # ------------------------------------------------------------------ helpers for tests
    def kubectl(self, *args: str, **kw) -> subprocess.CompletedProcess:
        assert self.kube is not None
        return self.kube.kubectl(*args, **kw)

    def logs(self, component: str, tail: int = 60) -> str:
        return self.kube.logs(component, tail) if self.kube else ""

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run(["ctr", "--address", str(self.containerd_socket), "-n", "k8s.io", *args], check=check)

    # ------------------------------------------------------------------ internals
    def _popen(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        log.write(f"==== {time.strftime('%H:%M:%S')} {' '.join(args)}\n".encode())
        log.flush()
        self._logs.append(log)
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=self.workdir, start_new_session=True, preexec_fn=_die_with_parent)
        self._procs[name] = proc
        return proc

    def _terminate(self, name: str, timeout: float) -> None:
        proc = self._procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def _fail(self, msg: str, component: str) -> KubeClusterError:
        return KubeClusterError(f"{msg}\n--- {component}.log (tail) ---\n{self.logs(component, 40)}")

    def _create_bridge(self) -> None:
        _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        _run(["ip", "addr", "add", BRIDGE_CIDR, "dev", BRIDGE])
        _run(["ip", "link", "set", BRIDGE, "up"])

    def _start_containerd(self) -> None:
        root = CACHE_DIR / "containerd"  # kept between runs: imported images stay
        root.mkdir(parents=True, exist_ok=True)
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        cni_conf = self.workdir / "cni"
        cni_conf.mkdir(exist_ok=True)
        (cni_conf / "10-wippy.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0", "name": "wippy",
            "plugins": [{
                "type": "bridge", "bridge": BRIDGE, "isGateway": False, "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "dataDir": str(self.workdir / "cni-ipam"),
                         "ranges": [[{"subnet": "10.77.0.0/16", "rangeStart": POD_RANGE[0],
                                      "rangeEnd": POD_RANGE[1], "gateway": NODE_IP}]]},
            }],
        }, indent=1))
        config = self.workdir / "containerd.toml"
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config.write_text(f"""version = 2
root = "{root}"
state = "{STATE_DIR}"
[grpc]
  address = "{self.containerd_socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{STATE_DIR / 'opt'}"
[{cri}]
  sandbox_image = "{self.images['pause'].ref}"
  # root here lacks CAP_SYS_RESOURCE: without this every sandbox fails
  # ("can't get final child's PID from pipe: EOF")
  restrict_oom_score_adj = true
  enable_selinux = false
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{cni_conf}"
""")
        proc = self._popen("containerd", ["containerd", "--config", str(config)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise self._fail("containerd exited", "containerd")
            if self.containerd_socket.exists() and self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise self._fail("containerd did not answer", "containerd")

    def _import_images(self) -> None:
        present = set(self.ctr("images", "ls", "-q").stdout.split())
        wanted = {img.ref for img in self.images.values() if img.name != "base"}
        for img in self.images.values():
            if img.name != "base" and img.ref not in present:
                self.ctr("images", "import", str(img.archive))
        # earlier builds of our images are garbage now
        for ref in present - wanted:
            if ref.startswith("localhost/wippy-"):
                self.ctr("images", "rm", ref, check=False)

    def _write_kubeconfig(self, name: str, user: str) -> Path:
        assert self.kube is not None
        path = self.workdir / f"{name}.kubeconfig"
        shutil.copy(self.kube.kubeconfig_for(user), path)
        return path

    def _start_controllers(self) -> None:
        assert self.kube is not None and self.bin_dir is not None
        pki = self.workdir / "pki"
        admin = str(self.kube.kubeconfig)
        self._popen("kube-controller-manager", [
            str(self.bin_dir / "kube-controller-manager"), f"--kubeconfig={admin}",
            f"--authentication-kubeconfig={admin}", f"--authorization-kubeconfig={admin}",
            f"--root-ca-file={pki / 'ca.crt'}", f"--service-account-private-key-file={pki / 'sa.key'}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            f"--cert-dir={self.workdir / 'kcm-certs'}", "--cluster-name=wippy",
            "--use-service-account-credentials=false", "--v=1",
        ])
        self._popen("kube-scheduler", [
            str(self.bin_dir / "kube-scheduler"), f"--kubeconfig={admin}",
            f"--authentication-kubeconfig={admin}", f"--authorization-kubeconfig={admin}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            f"--cert-dir={self.workdir / 'scheduler-certs'}", "--v=1",
        ])

    def _start_kubelet(self) -> None:
        assert self.kube is not None and self.bin_dir is not None
        config = self.workdir / "kubelet.yaml"
        config.write_text(json.dumps({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            # this machine has cgroup v1 and no systemd
            "failCgroupV1": False, "cgroupDriver": "cgroupfs",
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "address": NODE_IP, "port": free_port(), "readOnlyPort": 0, "healthzPort": 0,
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "staticPodPath": "", "failSwapOn": False, "resolvConf": "/etc/resolv.conf",
            "podLogsDir": str(self.workdir / "pod-logs"),
            # other sessions share the disk: never evict or collect images for its sake
            "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False, "registerNode": True,
            "nodeStatusUpdateFrequency": "2s", "syncFrequency": "10s",
        }))
        self._popen("kubelet", [
            str(self.bin_dir / "kubelet"), f"--config={config}",
            f"--kubeconfig={self._write_kubeconfig('kubelet', NODE_USER)}",
            f"--root-dir={self.workdir / 'kubelet'}", f"--node-ip={NODE_IP}",
            f"--hostname-override={NODE_NAME}", "--v=1",
        ])

    def _wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise self._fail(f"{name} exited with code {proc.returncode}", name)
            ready = self.kubectl("get", "node", NODE_NAME, "-o",
                                 'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False)
            sa = self.kubectl("get", "serviceaccount", "default", "-o", "name", check=False)
            if ready.stdout.strip() == "True" and sa.returncode == 0:
                return
            time.sleep(0.5)
        raise self._fail(f"node {NODE_NAME} not Ready after {timeout} s", "kubelet")

    def _delete_pods(self) -> None:
        """Let the kubelet stop every pod (sandboxes, CNI) while it still runs."""
        kubelet = self._procs.get("kubelet")
        if self.kube is None or not self.kube.running or kubelet is None or kubelet.poll() is not None:
            return
        self.kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--timeout=60s",
                     check=False, timeout=90)

    def _remove_containers(self) -> None:
        if "containerd" not in self._procs:
            return
        for task in self._tasks():
            self.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
        deadline = time.monotonic() + 20
        while self._tasks(running_only=True) and time.monotonic() < deadline:
            time.sleep(0.2)
        for task in self._tasks():
            self.ctr("tasks", "delete", "-f", task, check=False)
        containers = self.ctr("containers", "ls", "-q", check=False).stdout.split()
        if containers:
            self.ctr("containers", "delete", *containers, check=False)

    def _tasks(self, running_only: bool = False) -> list[str]:
        out = self.ctr("tasks", "ls", check=False).stdout.splitlines()[1:]
        rows = [line.split() for line in out if line.strip()]
        return [r[0] for r in rows if not running_only or (len(r) > 2 and r[2] == "RUNNING")]

    def _kill_leftover_shims(self) -> None:
        """containerd's shims outlive it (they hold the containers): end those of our socket."""
        needle = str(self.containerd_socket).encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim" in cmdline and needle in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(proc.name), signal.SIGKILL)


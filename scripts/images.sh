#!/usr/bin/env bash
# Build the container images the `cluster` tests run, locally (no image registry is reachable):
#   base      Debian (debootstrap) with python3 in a venv at /opt/venv and the project's PyPI
#             dependencies installed: the BASE_IMAGE of both Dockerfiles in the tests
#   pause     the pod sandbox image (tests/harness/images/pause.c, static, from scratch)
#   operator  the top-level Dockerfile
#   runtime   runtime-image/Dockerfile
# with buildah (chroot isolation, vfs storage, so it runs without a container daemon). Each image
# is written as a docker-archive under the cache, named by the content hash of what goes into it,
# so an unchanged image is not rebuilt. Prints one line per image on stdout:
#   <name> <image reference> <archive path>
# (build logs go to stderr); `ctr -n k8s.io images import <archive>` loads one into containerd.
#
# Environment:
#   WIPPY_IMAGES_CACHE   cache root (default ~/.cache/wippy-images)
#   WIPPY_IMAGES_NICE    nice level of the builds (default 19)
# Installs its Debian packages (buildah, debootstrap, gcc) on first use when run as root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${WIPPY_IMAGES_CACHE:-$HOME/.cache/wippy-images}"
ARCHIVES="$CACHE/archives"
NICE=(nice -n "${WIPPY_IMAGES_NICE:-19}")
BUILDAH=(buildah --root "$CACHE/storage" --runroot "$CACHE/run" --storage-driver vfs)
SUITE=bookworm                      # the Debian release of the base (python 3.11)
BASE_PACKAGES=python3,python3-venv,ca-certificates
# Bump when a recipe below changes in a way the hashed inputs do not show.
RECIPE=1

log() { echo "images: $*" >&2; }

install_packages() {
    local missing=()
    command -v buildah >/dev/null || missing+=(buildah)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v cc >/dev/null || missing+=(gcc)
    [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -n "$(ls /usr/lib/*/libc.a 2>/dev/null)" ] || missing+=(libc6-dev)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        log "missing packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
        exit 1
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >&2; then
        apt-get update -q >&2
        apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >&2
    fi
}

# The Debian mirror the host's apt uses (so the base comes from the same place as its packages).
debian_mirror() {
    local uri
    uri="$(grep -rhoE '^(URIs:[[:space:]]*|deb[[:space:]]+)[^[:space:]]+/debian/?([[:space:]]|$)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n1 | awk '{print $NF}')"
    [ -n "$uri" ] || { log "no Debian mirror found in /etc/apt/sources.list*"; exit 1; }
    echo "$uri"
}

hash_files() { # hash_files <path>...: content hash of the files (not their times), 16 hex digits
    (cd "$ROOT" && find "$@" -type f ! -path '*/__pycache__/*' ! -path '*.egg-info/*' ! -path '*/.wippy/*' ! -name '*.so' -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

have_image() { "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1; }

# Make sure image <ref> is in buildah's storage (after a cache clean, from its archive).
load_image() { # load_image <ref> <archive>
    have_image "$1" || "${BUILDAH[@]}" pull -q "docker-archive:$2" >/dev/null
}

# Write <ref> to its archive and drop older builds of the same name (storage and archives).
save_image() { # save_image <name> <ref> <archive>
    local name="$1" ref="$2" archive="$3" old
    rm -f "$archive.tmp"
    "${BUILDAH[@]}" push -q "$ref" "docker-archive:$archive.tmp:$ref" >&2
    mv -f "$archive.tmp" "$archive"
    for old in "$ARCHIVES/$name"-*.tar; do [ "$old" = "$archive" ] || rm -f "$old"; done
    for old in $("${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}}' | grep "^localhost/wippy-$name:" || true); do
        [ "$old" = "$ref" ] || "${BUILDAH[@]}" rmi -f "$old" >/dev/null 2>&1 || true
    done
}

# pip inside a build trusts what the host's pip trusts (a registry behind a TLS-inspecting proxy
# needs its CA): the host's bundle and a pip.conf naming it are bind-mounted into RUN steps only,
# never written into an image.
pip_trust_mounts() {
    local cert="${PIP_CERT:-$(pip3 config get global.cert 2>/dev/null || true)}"
    [ -n "$cert" ] && [ -f "$cert" ] || return 0
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$CACHE/pip.conf"
    echo "--volume=$cert:/etc/ssl/certs/ca-certificates.crt:ro"
    echo "--volume=$CACHE/pip.conf:/etc/pip.conf:ro"
}

# --- base: debootstrap + venv + the project's dependencies --------------------------------
debootstrap_tar() { # the Debian root filesystem as a tar, cached by suite and packages
    local tar="$CACHE/debootstrap-$1.tar" work rootfs
    if [ ! -f "$tar" ]; then
        work="$(mktemp -d "$CACHE/tmp/debootstrap.XXXXXX")"; rootfs="$work/rootfs"
        log "base: debootstrap $SUITE ($BASE_PACKAGES)"
        "${NICE[@]}" debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" "$(debian_mirror)" >&2 \
            || { cat "$rootfs/debootstrap/debootstrap.log" >&2 2>/dev/null; rm -rf "$work"; exit 1; }
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/dev/*
        tar -C "$rootfs" -cf "$tar.tmp" .
        mv -f "$tar.tmp" "$tar"
        rm -rf "$work"
        for old in "$CACHE"/debootstrap-*.tar; do [ "$old" = "$tar" ] || rm -f "$old"; done
    fi
    echo "$tar"
}

build_base() { # build_base <ref> <archive>
    local ref="$1" archive="$2" ctr start=$SECONDS tar
    tar="$(debootstrap_tar "$(printf '%s\n' "$RECIPE" "$SUITE" "$BASE_PACKAGES" | sha256sum | cut -c1-16)")"
    ctr="$("${BUILDAH[@]}" from scratch)"
    "${BUILDAH[@]}" add "$ctr" "$tar" / >&2
    # python:3.11-slim has python and pip on PATH; a venv gives the same without Debian's
    # externally-managed system Python
    "${BUILDAH[@]}" run --isolation chroot "$ctr" -- python3 -m venv /opt/venv >&2
    "${BUILDAH[@]}" config --env PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd python3 "$ctr"
    log "base: pip install the project's dependencies"
    "${NICE[@]}" "${BUILDAH[@]}" run --isolation chroot "${TRUST[@]}" "$ctr" -- /opt/venv/bin/pip install -q \
        --no-cache-dir "${DEPS[@]}" >&2
    "${BUILDAH[@]}" commit -q --rm "$ctr" "$ref" >/dev/null
    save_image base "$ref" "$archive"
    log "base: built in $((SECONDS - start)) s"
}

# --- pause: the sandbox image --------------------------------------------------------------
build_pause() { # build_pause <ref> <archive>
    local ref="$1" archive="$2" work ctr
    work="$(mktemp -d "$CACHE/tmp/pause.XXXXXX")"
    "${NICE[@]}" cc -static -Os -s -o "$work/pause" "$ROOT/tests/harness/images/pause.c" >&2
    ctr="$("${BUILDAH[@]}" from scratch)"
    "${BUILDAH[@]}" copy -q "$ctr" "$work/pause" /pause >/dev/null
    "${BUILDAH[@]}" config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
    "${BUILDAH[@]}" commit -q --rm "$ctr" "$ref" >/dev/null
    rm -rf "$work"
    save_image pause "$ref" "$archive"
}

# --- operator and runtime: the project's Dockerfiles ---------------------------------------
build_dockerfile() { # build_dockerfile <name> <ref> <archive> <dockerfile> <base ref>
    local name="$1" ref="$2" archive="$3" dockerfile="$4" base="$5" start=$SECONDS
    log "$name: buildah bud -f $dockerfile (BASE_IMAGE=$base)"
    (cd "$ROOT" && "${NICE[@]}" "${BUILDAH[@]}" bud -q --isolation chroot --pull-never --layers=false \
        "${TRUST[@]}" --build-arg "BASE_IMAGE=$base" -f "$dockerfile" -t "$ref" .) >&2
    save_image "$name" "$ref" "$archive"
    log "$name: built in $((SECONDS - start)) s"
}

install_packages
mkdir -p "$ARCHIVES" "$CACHE/tmp" "$CACHE/storage" "$CACHE/run"
# one builder at a time: parallel test sessions share the cache
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
    log "another build is running, waiting for $CACHE/.lock"
    flock 9
fi
# working containers of a build that failed
"${BUILDAH[@]}" rm --all >/dev/null 2>&1 || true
find "$CACHE/tmp" -mindepth 1 -maxdepth 1 -mmin +60 -exec rm -rf {} + 2>/dev/null || true

# the project's runtime dependencies, from pyproject.toml
mapfile -t DEPS < <(python3 -c 'import sys, tomllib; print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]))' \
    "$ROOT/pyproject.toml")

mapfile -t TRUST < <(pip_trust_mounts)

base_hash="$(printf '%s\n' "$RECIPE" "$SUITE" "$BASE_PACKAGES" "${DEPS[@]}" | sha256sum | cut -c1-16)"
base_ref="localhost/wippy-base:$base_hash"
base_archive="$ARCHIVES/base-$base_hash.tar"
if [ -f "$base_archive" ]; then load_image "$base_ref" "$base_archive"; else build_base "$base_ref" "$base_archive"; fi
echo "base $base_ref $base_archive"

pause_hash="$(printf '%s\n' "$RECIPE" "$(hash_files tests/harness/images/pause.c)" | sha256sum | cut -c1-16)"
pause_ref="localhost/wippy-pause:$pause_hash"
pause_archive="$ARCHIVES/pause-$pause_hash.tar"
[ -f "$pause_archive" ] || build_pause "$pause_ref" "$pause_archive"
echo "pause $pause_ref $pause_archive"

sources="$(hash_files pyproject.toml runtime-image operator .dockerignore)"
for spec in operator:Dockerfile runtime:runtime-image/Dockerfile; do
    name="${spec%%:*}"; dockerfile="${spec#*:}"
    hash="$(printf '%s\n' "$RECIPE" "$base_hash" "$sources" "$(hash_files "$dockerfile")" | sha256sum | cut -c1-16)"
    ref="localhost/wippy-$name:$hash"
    archive="$ARCHIVES/$name-$hash.tar"
    [ -f "$archive" ] || build_dockerfile "$name" "$ref" "$archive" "$dockerfile" "$base_ref"
    echo "$name $ref $archive"
done

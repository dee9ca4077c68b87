#!/usr/bin/env bash
# Build the operator image: `make docker-build IMG=...`.
#
# - A Docker engine answers (`docker info`): `docker build`, with the Dockerfile's default base
#   unless PYTHON_IMAGE is given.
# - Otherwise podman (installed from Debian by hack/install-container-tools.sh). No registry
#   answers here, so unless PYTHON_IMAGE is given the base is the local one from
#   hack/base-image.sh. Flags this host needs: runc (crun refuses the hybrid cgroup v1 layout),
#   cgroupfs, explicit ulimits (the defaults cannot be raised in this VM), the host network, and
#   the host's CA bundle and /etc/pip.conf mounted for the build's pip only: they are how this
#   machine reaches PyPI, never part of the image.
#
#   hack/docker-build.sh IMG      (PYTHON_IMAGE=... and CONTAINER_TOOL=docker|podman optional)
set -euo pipefail

image=${1:?usage: $0 IMAGE}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
say() { echo "docker-build: $*" >&2; }

tool=${CONTAINER_TOOL:-docker}
if [[ $tool == docker ]] && ! docker info >/dev/null 2>&1; then
    say "no Docker engine answers (docker info failed); building with podman"
    tool=podman
fi

start=$SECONDS
if [[ $tool == docker ]]; then
    docker build ${PYTHON_IMAGE:+--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"} -t "$image" "$root"
else
    "$here/install-container-tools.sh"
    base=${PYTHON_IMAGE:-$("$here/base-image.sh" | tail -n1)}
    mounts=(-v /etc/ssl/certs:/etc/ssl/certs:ro)
    [[ -f /etc/pip.conf ]] && mounts+=(-v /etc/pip.conf:/etc/pip.conf:ro)
    say "podman build $image from $base"
    podman --runtime runc --cgroup-manager=cgroupfs build \
        --network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        "${mounts[@]}" --build-arg "PYTHON_IMAGE=$base" -t "$image" "$root"
fi
say "built $image with $tool in $(( SECONDS - start ))s"

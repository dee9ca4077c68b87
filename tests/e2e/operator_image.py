"""The operator image the in-cluster e2e tests run: built once per session from this checkout
with `hack/docker-build.sh` (what `make docker-build` runs), run with podman."""

from __future__ import annotations

import functools
import os
import subprocess

from hack import incluster

# localhost/: an image that only exists here, never pulled (imagePullPolicy Never in-cluster).
IMAGE = os.environ.get("NIMBUSGUARD_E2E_IMAGE", "localhost/nimbusguard-operator:e2e")


@functools.cache
def built() -> str:
    """Build IMAGE (cached layers make a rebuild take seconds) and return its name.

    Raises AssertionError with the build's last output lines when the build fails.
    """
    try:
        seconds = incluster.build_image(IMAGE)
    except incluster.InClusterError as error:
        raise AssertionError(str(error)) from None
    print(f"operator image {IMAGE} built in {seconds:.0f}s")
    return IMAGE


def podman_run(
    image: str, *args: str, entrypoint: str | None = None, options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`podman run --rm --read-only` of `image` (this host's runtime flags come from
    /etc/containers, written by hack/install-container-tools.sh)."""
    command = ["podman", "run", "--rm", "--read-only", "--network", "none", *options]
    if entrypoint is not None:
        command += ["--entrypoint", entrypoint]
    return subprocess.run(
        [*command, image, *args], capture_output=True, text=True, timeout=300, check=False
    )

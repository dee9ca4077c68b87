"""Helpers of the e2e tests: the session's clusters, polling, typed-as-Any API accessors.

The kubernetes client's models are Optional everywhere; tests reach them through the
accessors below (typed Any) instead of asserting non-None on every attribute.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from hack.localcluster import LocalClusters

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "config" / "crd" / "bases" / "nimbusguard.io_scalingpolicies.yaml"
CRD_NAME = "scalingpolicies.nimbusguard.io"

ENV_BACKEND = "NIMBUSGUARD_E2E_BACKEND"
ENV_KUBECONFIG = "NIMBUSGUARD_E2E_KUBECONFIG"
ENV_HUB_CONTEXT = "NIMBUSGUARD_E2E_HUB_CONTEXT"
ENV_MEMBER_CONTEXT = "NIMBUSGUARD_E2E_MEMBER_CONTEXT"
BACKENDS = ("kubeconfig", "kind", "local")

KubectlResult = subprocess.CompletedProcess[str]


@dataclass(frozen=True)
class E2EClusters:
    """The clusters of this test session.

    `local` is the LocalClusters instance on the local backend (for fault injection such as
    `stop_apiserver("member")`), None on the others.
    """

    backend: str
    kubeconfig: Path
    hub_context: str
    member_context: str
    kubectl_path: Path
    local: LocalClusters | None = None

    def api_client(self, context: str) -> Any:
        """A new sync `kubernetes.client.ApiClient` for `context`; the caller closes it."""
        return kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig), context=context
        )

    def kubectl(
        self, context: str, *args: str, check: bool = True, stdin: str | None = None
    ) -> KubectlResult:
        """Run the session's kubectl against `context`; output captured as text.

        With `check`, a non-zero exit fails the test with kubectl's stderr.
        """
        argv = [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}", f"--context={context}"]
        result = subprocess.run(
            [*argv, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result


def choose_backend(environ: dict[str, str], docker_answers: Callable[[], bool]) -> str:
    """The backend for this session (see the module docstring)."""
    forced = environ.get(ENV_BACKEND, "").strip()
    if forced:
        if forced not in BACKENDS:
            raise pytest.UsageError(f"{ENV_BACKEND}={forced!r}: use one of {', '.join(BACKENDS)}")
        return forced
    if environ.get(ENV_KUBECONFIG):
        return "kubeconfig"
    return "kind" if docker_answers() else "local"


def merge_kubeconfigs(sources: dict[str, Path], target: Path) -> None:
    """Write one kubeconfig whose contexts are the keys of `sources`; each source file's
    current context becomes that context (cluster and user renamed alike)."""
    merged: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
    }
    for name, source in sources.items():
        config = yaml.safe_load(source.read_text())
        current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
        cluster = next(c for c in config["clusters"] if c["name"] == current["context"]["cluster"])
        user = next(u for u in config["users"] if u["name"] == current["context"]["user"])
        merged["clusters"].append({"name": name, "cluster": cluster["cluster"]})
        merged["users"].append({"name": name, "user": user["user"]})
        merged["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
    merged["current-context"] = next(iter(sources))
    target.touch(mode=0o600)
    target.write_text(yaml.safe_dump(merged, sort_keys=False))


def namespace_name(test_name: str) -> str:
    """A fresh namespace name derived from the test's name (a DNS label, ≤ 63 chars)."""
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"e2e-{slug or 'test'}-{secrets.token_hex(3)}"


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `condition` every 0.25 s; fail the test with `what` if it does not hold in time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)


def core_v1(api: Any) -> Any:
    return kubernetes.client.CoreV1Api(api)


def apps_v1(api: Any) -> Any:
    return kubernetes.client.AppsV1Api(api)


def custom_objects(api: Any) -> Any:
    return kubernetes.client.CustomObjectsApi(api)


def apiextensions_v1(api: Any) -> Any:
    return kubernetes.client.ApiextensionsV1Api(api)


def version(api: Any) -> Any:
    return kubernetes.client.VersionApi(api)


def install_crd(e2e_clusters: E2EClusters, hub_api: Any) -> str:
    """Apply the generated ScalingPolicy CRD to the hub and wait until it is Established."""
    e2e_clusters.kubectl(e2e_clusters.hub_context, "apply", "--server-side", "-f", str(CRD_FILE))
    extensions = apiextensions_v1(hub_api)

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(CRD_NAME)
        conditions = crd.status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_until(established, timeout=60, what=f"CRD {CRD_NAME} Established")
    return CRD_NAME


def create_namespace(api: Any, name: str) -> str:
    """Create namespace `name` (labelled as an e2e one) and wait for its `default`
    ServiceAccount: pods are refused until the controller manager has made it."""
    core = core_v1(api)
    core.create_namespace({"metadata": {"name": name, "labels": {"nimbusguard.io/e2e": "true"}}})

    def has_default_service_account() -> bool:
        try:
            core.read_namespaced_service_account("default", name)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    wait_until(has_default_service_account, timeout=60, what=f"ServiceAccount {name}/default")
    return name

"""The operator as users run it, on the local clusters' real node: the image built here,
config/ rendered with what a user's overlay for this cluster adds, the member identity and its
kubeconfig Secret, and a report that explains a Pod that does not become Ready.

Shared by `tests/e2e/test_in_cluster.py` and `make demo`. `kubectl` is any callable with the
signature of `Kubectl.__call__` (the e2e session's `E2EClusters.kubectl` is one).
"""

from __future__ import annotations

import base64
import fcntl
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import kubernetes
import yaml

from hack.gen import kustomize
from hack.localcluster import realnode_config

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
SYSTEM = "nimbusguard-system"
SELECTOR = "control-plane=controller-manager,app.kubernetes.io/name=nimbusguard-operator"
MEMBER_SA = "nimbusguard-member-scaler"
MEMBER_SECRET = "nimbusguard-member-clusters"  # noqa: S105 - a Secret's name
ENDPOINTS_CONFIGMAP = "nimbusguard-metric-endpoints"
BUILD_TIMEOUT = 1800.0
BUILD_LOCK = Path(tempfile.gettempdir()) / "nimbusguard-image-build.lock"
# Waiting reasons that will not resolve by waiting: fail at once, with the Pods' report.
HOPELESS = {"CrashLoopBackOff", "ErrImageNeverPull", "ImagePullBackOff", "ErrImagePull",
            "CreateContainerConfigError", "CreateContainerError", "InvalidImageName"}  # fmt: skip
# A crash loop is one only after this many restarts: the kubelet backs off (10 s) after any
# restart, also one it caused itself (seen on the loaded machine: containerd failed a sandbox
# start, the kubelet re-created the sandbox and killed the running manager with it).
CRASH_LOOP_RESTARTS = 3


class InClusterError(Exception):
    """The image did not build or the operator Pod did not start; the message says why."""


class KubectlLike(Protocol):
    def __call__(
        self, context: str, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]: ...


class Kubectl:
    """kubectl with a kubeconfig; `check` raises InClusterError with kubectl's stderr."""

    def __init__(self, kubectl: Path, kubeconfig: Path) -> None:
        self._argv = [str(kubectl), f"--kubeconfig={kubeconfig}"]

    def __call__(
        self, context: str, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self._argv, f"--context={context}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise InClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result


def build_image(image: str) -> float:
    """Build `image` from this checkout with `hack/docker-build.sh` (what `make docker-build`
    runs; cached layers make a rebuild take seconds); the seconds it took.

    One build at a time on this host: two test workers (or a test and the demo) would each
    make the Debian base and every layer; the second waits and then finds them cached."""
    began = time.monotonic()
    with BUILD_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            [str(ROOT / "hack" / "docker-build.sh"), image],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
            cwd=ROOT,
        )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        raise InClusterError(f"building {image} failed:\n" + "\n".join(output[-40:]))
    return time.monotonic() - began


def render(kubectl: KubectlLike, context: str, entry: str, image: str) -> list[dict[str, Any]]:
    """`kubectl kustomize config/<entry>` with the user's additions for this cluster."""
    docs = kustomize_docs(kubectl, context, CONFIG / entry)
    for deployment in kustomize.manager_deployments(docs):
        on_real_node(deployment, image)
    return docs


def kustomize_docs(kubectl: KubectlLike, context: str, directory: Path) -> list[dict[str, Any]]:
    return [
        d for d in yaml.safe_load_all(kubectl(context, "kustomize", str(directory)).stdout) if d
    ]


def on_real_node(deployment: dict[str, Any], image: str) -> None:
    """What a user's overlay for this cluster adds: the image built here, never pulled, and
    the toleration and node selector of the (tainted) real node."""
    pod = deployment["spec"]["template"]["spec"]
    container = kustomize.manager_container(deployment)
    container["image"] = image
    container["imagePullPolicy"] = "Never"
    pod.setdefault("tolerations", []).append(
        {"key": realnode_config.TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
    )
    pod["nodeSelector"] = {"kubernetes.io/hostname": realnode_config.NODE_NAME}


def apply(kubectl: KubectlLike, context: str, docs: list[dict[str, Any]]) -> None:
    kubectl(context, "apply", "--server-side", "--force-conflicts", "-f", "-",
            stdin=kustomize.dump(docs))  # fmt: skip


def token(api: Any, account: str, namespace: str) -> str:
    """A one-hour token of ServiceAccount `account` from the TokenRequest API."""
    request = {"spec": {"audiences": [], "expirationSeconds": 3600}}
    core: Any = kubernetes.client.CoreV1Api(api)
    answer = core.create_namespaced_service_account_token(account, namespace, request)
    return str(answer.status.token)


def token_kubeconfig(
    kubeconfig: Path,
    context: str,
    bearer: str,
    *,
    name: str | None = None,
    server: str | None = None,
) -> str:
    """A kubeconfig with one context `name` (default: `context`): the cluster of `context` in
    `kubeconfig` (at `server` if given), authenticated by the token `bearer`."""
    name = name or context
    config = yaml.safe_load(kubeconfig.read_text())
    ctx = next(c for c in config["contexts"] if c["name"] == context)["context"]
    cluster = dict(next(c for c in config["clusters"] if c["name"] == ctx["cluster"])["cluster"])
    if server is not None:
        cluster["server"] = server
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": name, "user": {"token": bearer}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
        }
    )


def member_kubeconfig(kubeconfig: Path, context: str, member_token: str) -> str:
    """The member's context as the operator's Pod reaches it: 10.0.0.1:<member port> (the
    real node's address rule; the API servers' certificates carry 10.0.0.1)."""
    config = yaml.safe_load(kubeconfig.read_text())
    ctx = next(c for c in config["contexts"] if c["name"] == context)["context"]
    cluster = next(c for c in config["clusters"] if c["name"] == ctx["cluster"])["cluster"]
    port = urlparse(cluster["server"]).port
    server = f"https://{realnode_config.SERVICE_IP}:{port}"
    return token_kubeconfig(kubeconfig, context, member_token, server=server)


def install(
    kubectl: KubectlLike,
    context: str,
    hub_api: Any,
    docs: list[dict[str, Any]],
    member: str,
    extra: Sequence[dict[str, Any]] = (),
) -> None:
    """Everything but the Deployments, then the member kubeconfig Secret (and `extra`
    objects of the operator's namespace), then the Deployments: all are mounted from the
    first start."""
    deployments = kustomize.manager_deployments(docs)
    apply(kubectl, context, [d for d in docs if d not in deployments])
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": MEMBER_SECRET, "namespace": SYSTEM},
        "data": {"kubeconfig": base64.b64encode(member.encode()).decode()},
    }
    core: Any = kubernetes.client.CoreV1Api(hub_api)
    core.create_namespaced_secret(SYSTEM, secret)
    if extra:
        apply(kubectl, context, list(extra))
    apply(kubectl, context, deployments)


def pods(hub_api: Any) -> list[Any]:
    """The operator's Pods, without those being deleted."""
    core: Any = kubernetes.client.CoreV1Api(hub_api)
    found = core.list_namespaced_pod(SYSTEM, label_selector=SELECTOR).items
    return [p for p in found if p.metadata.deletion_timestamp is None]


def ready(pod: Any) -> bool:
    conditions = pod.status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def hopeless(hub_api: Any) -> str | None:
    """ "<pod>: <reason>" when an operator container waits for what waiting will not bring."""
    for pod in pods(hub_api):
        for status in pod.status.container_statuses or []:
            waiting = status.state.waiting if status.state else None
            if waiting is None or waiting.reason not in HOPELESS:
                continue
            if waiting.reason != "CrashLoopBackOff" or status.restart_count >= CRASH_LOOP_RESTARTS:
                return f"{pod.metadata.name}: {waiting.reason}"
    return None


def report(kubectl: KubectlLike, context: str, hub_api: Any) -> str:
    """Each operator Pod: phase, node, container states, its events and its last log lines."""
    core: Any = kubernetes.client.CoreV1Api(hub_api)
    lines = []
    for pod in core.list_namespaced_pod(SYSTEM, label_selector=SELECTOR).items:
        name = pod.metadata.name
        lines.append(f"--- pod {name} on {pod.spec.node_name}: {pod.status.phase}")
        for status in pod.status.container_statuses or []:
            state = status.state.to_dict()
            lines.append(
                f"    {status.name}: ready={status.ready} "
                f"restarts={status.restart_count} state={state}"
            )
        events = core.list_namespaced_event(SYSTEM, field_selector=f"involvedObject.name={name}")
        for event in events.items[-15:]:
            lines.append(f"    event {event.type} {event.reason}: {event.message}")
        for previous in ("--previous", None):
            logs = kubectl(
                context, "logs", "-n", SYSTEM, name, "--tail=25",
                *([previous] if previous else []), check=False,
            )  # fmt: skip
            if logs.returncode == 0 and logs.stdout.strip():
                lines.append(f"    logs{' (previous)' if previous else ''}:")
                lines += [f"      {line}" for line in logs.stdout.splitlines()]
    return "\n".join(lines) or f"no operator pods in {SYSTEM}"


def wait(
    kubectl: KubectlLike,
    context: str,
    hub_api: Any,
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
) -> None:
    """Poll `condition()` until it holds; otherwise (or as soon as an operator container
    crash-loops or has no image) raise InClusterError with the Pods' events and last logs."""
    deadline = time.monotonic() + timeout
    while not condition():
        stuck = hopeless(hub_api)
        if stuck or time.monotonic() > deadline:
            why = stuck or f"not within {timeout:.0f}s"
            raise InClusterError(f"{what}: {why}\n{report(kubectl, context, hub_api)}")
        time.sleep(0.5)


def wait_ready_pods(
    kubectl: KubectlLike, context: str, hub_api: Any, count: int, timeout: float = 180
) -> list[Any]:
    """Wait for exactly `count` Ready operator Pods (see `wait`) and return them."""

    def all_ready() -> bool:
        found = pods(hub_api)
        return len(found) == count and all(ready(p) for p in found)

    what = f"{count} Ready operator Pod(s)"
    wait(kubectl, context, hub_api, all_ready, timeout=timeout, what=what)
    return pods(hub_api)

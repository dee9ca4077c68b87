"""The shipped manifests on a real API server, and the operator working with exactly their RBAC.

1. `kubectl apply --server-side` of `kubectl kustomize` config/default and both overlays
   succeeds, the restricted Pod Security level admits the operator's pods, and config/member
   makes the member identity (no binding, no long-lived token).
2. The operator runs out of cluster AUTHENTICATED AS the `nimbusguard-controller-manager`
   ServiceAccount (a TokenRequest token) in the hub and as `nimbusguard-member-scaler` (a
   bound, expiring TokenRequest token, bound by `nimbusguard member-rbac`'s RoleBindings) in
   the member cluster. A hub policy scales on a real Prometheus, a member policy scales on
   pod CPU from metrics.k8s.io; status, Events, the Q-tables and the leader Lease are written,
   nothing is forbidden, /metrics is served over TLS to Prometheus's token only (TokenReview
   + SubjectAccessReview), and the dashboard's queries answer from what it scraped.
"""

from __future__ import annotations

import functools
import json
import re
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from hack import incluster, workloads
from hack.gen import kustomize, permissions
from hack.loadgen import LoadExporter
from hack.localcluster.prometheus import LocalPrometheus
from tests.e2e import support
from tests.e2e.controller import helpers as h
from tests.e2e.operator_process import OperatorProcess

CONFIG = support.ROOT / "config"
SYSTEM = "nimbusguard-system"


def _monitor_job() -> str:
    """The job label the ServiceMonitor gives the operator's series: what the alerts and the
    dashboard select, so this suite's Prometheus scrapes the operator under the same name."""
    monitor = yaml.safe_load((CONFIG / "prometheus" / "monitor.yaml").read_text())
    (endpoint,) = monitor["spec"]["endpoints"]
    (job,) = [r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
    return str(job)


MANAGER_SA = "nimbusguard-controller-manager"
MEMBER_SA = "nimbusguard-member-scaler"
INSTALLS = {"default": 1, "overlays/dev": 1, "overlays/prod": 2}  # entry point → replicas
DASHBOARD = CONFIG / "grafana" / "nimbusguard-dashboard.json"
# We grant no namespace access on purpose; with --namespace and the CRD served, kopf takes the
# namespaces as given and never asks (docs/installation.md, "RBAC"). In a member cluster,
# whose role is bound per namespace, the watch of the targets across namespaces is refused
# once and the operator watches each target namespace instead (docs/multi-cluster.md). Any
# other resource being forbidden is a failure, the hub's listing of targets across namespaces
# and any listing of namespaces included.
EXPECTED_FORBIDDEN = re.compile(
    rf"User \\?\"system:serviceaccount:nimbusguard-system:{MEMBER_SA}\\?\" cannot list "
    r"resource \\?\"(deployments|statefulsets)\\?\" in API group \\?\"apps\\?\" "
    r"at the cluster scope"
)


def _render(e2e_clusters: support.E2EClusters, entry: str) -> str:
    return e2e_clusters.kubectl(e2e_clusters.hub_context, "kustomize", str(CONFIG / entry)).stdout


def _apply(e2e_clusters: support.E2EClusters, context: str, manifest: str) -> str:
    """Server-side apply; returns kubectl's stderr (warnings)."""
    done = e2e_clusters.kubectl(context, "apply", "--server-side", "-f", "-", stdin=manifest)
    return done.stderr


def _delete_all_but_crds(e2e_clusters: support.E2EClusters, context: str, manifest: str) -> None:
    """Remove what a manifest created, except CRDs (other tests of the session use them)."""
    docs = [
        d for d in yaml.safe_load_all(manifest) if d and d["kind"] != "CustomResourceDefinition"
    ]
    e2e_clusters.kubectl(
        context,
        "delete",
        "--ignore-not-found",
        "--wait=false",
        "-f",
        "-",
        stdin=kustomize.dump(docs),
        check=False,
    )


@pytest.fixture(scope="module")
def installed(e2e_clusters: support.E2EClusters, hub_api: Any) -> Iterator[str]:
    """config/default applied to the hub (removed at the end, CRD kept); its manifest."""
    manifest = _render(e2e_clusters, "default")
    _apply(e2e_clusters, e2e_clusters.hub_context, manifest)
    yield manifest
    _delete_all_but_crds(e2e_clusters, e2e_clusters.hub_context, manifest)
    for entry in INSTALLS:
        _delete_all_but_crds(e2e_clusters, e2e_clusters.hub_context, _render(e2e_clusters, entry))


@pytest.fixture(scope="module")
def member_installed(e2e_clusters: support.E2EClusters, member_api: Any) -> Iterator[str]:
    """config/member applied to the member cluster; a bound, expiring member-scaler token."""
    manifest = _render(e2e_clusters, "member")
    _apply(e2e_clusters, e2e_clusters.member_context, manifest)
    kinds = {d["kind"] for d in yaml.safe_load_all(manifest) if d}
    assert not kinds & {"Secret", "ClusterRoleBinding", "RoleBinding"}, kinds
    yield incluster.token(member_api, MEMBER_SA, SYSTEM)
    _delete_all_but_crds(e2e_clusters, e2e_clusters.member_context, manifest)


def _manager_pods(core: Any) -> list[Any]:
    selector = "control-plane=controller-manager,app.kubernetes.io/name=nimbusguard-operator"
    return list(core.list_namespaced_pod(SYSTEM, label_selector=selector).items)


def test_every_install_applies_server_side_and_its_pods_are_admitted(
    e2e_clusters: support.E2EClusters, hub_api: Any, installed: str
) -> None:
    core, apps = support.core_v1(hub_api), support.apps_v1(hub_api)
    for entry, replicas in INSTALLS.items():
        warnings = _apply(e2e_clusters, e2e_clusters.hub_context, _render(e2e_clusters, entry))
        # The namespace enforces and warns at "restricted": a violating pod template would
        # print "would violate PodSecurity" here, and its pods would never be created.
        assert "PodSecurity" not in warnings, f"{entry}: {warnings}"
        deployment = apps.read_namespaced_deployment(MANAGER_SA, SYSTEM)
        assert deployment.spec.replicas == replicas, entry
    assert (
        support.core_v1(hub_api)
        .read_namespace(SYSTEM)
        .metadata.labels["pod-security.kubernetes.io/enforce"]
        == "restricted"
    )
    policy: Any = kubernetes.client.PolicyV1Api(hub_api)
    assert policy.read_namespaced_pod_disruption_budget(MANAGER_SA, SYSTEM).spec.min_available == 1

    # Back to the default install; the ReplicaSet controller creates its pod (admitted).
    _apply(e2e_clusters, e2e_clusters.hub_context, installed)
    support.wait_until(
        lambda: bool(_manager_pods(core)), timeout=60, what="an operator pod to be admitted"
    )
    pod = _manager_pods(core)[0]
    container = next(c for c in pod.spec.containers if c.name == "manager")
    assert pod.spec.security_context.run_as_non_root is True
    assert container.security_context.read_only_root_filesystem is True
    events = core.list_namespaced_event(SYSTEM).items
    refused = [e.message for e in events if e.reason == "FailedCreate"]
    assert refused == [], refused


def test_config_member_makes_the_member_identity(
    e2e_clusters: support.E2EClusters, member_api: Any, member_installed: str
) -> None:
    assert member_installed.count(".") == 2  # a JWT
    rbac: Any = kubernetes.client.RbacAuthorizationV1Api(member_api)
    role = rbac.read_cluster_role("nimbusguard-member-role")
    assert len(role.rules) == len(permissions.member_cluster_rules())


# ---------------------------------------------------------------------------------------------
# the operator as its ServiceAccount


def _kubeconfig_for(
    e2e_clusters: support.E2EClusters, context: str, name: str, token: str, path: Path
) -> Path:
    """A kubeconfig with one context `name`: the cluster of `context`, authenticated by token."""
    path.touch(mode=0o600)
    path.write_text(incluster.token_kubeconfig(e2e_clusters.kubeconfig, context, token, name=name))
    return path


def _service_account_token(hub_api: Any) -> str:
    return incluster.token(hub_api, MANAGER_SA, SYSTEM)


def _member_role_bindings(e2e_clusters: support.E2EClusters, tenant: str) -> None:
    """`nimbusguard member-rbac` for the member, applied there: the member identity may act
    in the tenant's namespace (namespace sameness) and nowhere else."""
    done = subprocess.run(
        [sys.executable, "-m", "nimbusguard.cli", "member-rbac", "--cluster", "member",
         "--namespace", tenant],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    _apply(e2e_clusters, e2e_clusters.member_context, done.stdout)


def _scraper(e2e_clusters: support.E2EClusters, hub_api: Any, namespace: str) -> tuple[str, str]:
    """Tokens of two ServiceAccounts: one bound to nimbusguard-metrics-reader, one not."""
    core = support.core_v1(hub_api)
    for name in ("scraper", "nosy"):
        core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    e2e_clusters.kubectl(
        e2e_clusters.hub_context, "create", "clusterrolebinding", f"{namespace}-scraper",
        "--clusterrole=nimbusguard-metrics-reader", f"--serviceaccount={namespace}:scraper",
    )  # fmt: skip
    return incluster.token(hub_api, "scraper", namespace), incluster.token(
        hub_api, "nosy", namespace
    )


def _exists_config_map(api: Any, namespace: str, name: str) -> bool:
    try:
        support.core_v1(api).read_namespaced_config_map(name, namespace)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _get_metrics(url: str, token: str | None) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # self-signed, as the shipped ServiceMonitor skips
    request = urllib.request.Request(url + "/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _can_i(kubectl: Path, kubeconfig: Path, *args: str) -> bool:
    done = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", "auth", "can-i", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0


def _resource_args(rule: permissions.Rule, resource: str) -> list[str]:
    name, _, sub = resource.partition("/")
    qualified = f"{name}.{rule.api_group}" if rule.api_group else name
    return [qualified, *([f"--subresource={sub}"] if sub else [])]


def _check_grants(
    kubectl: Path, kubeconfig: Path, rules: list[permissions.Rule], namespace: str
) -> None:
    """Every declared verb is allowed where the rule's scope says, as the identity sees it."""
    for rule in rules:
        where = ["-n", SYSTEM] if rule.scope == "operator-namespace" else ["-n", namespace]
        for resource in rule.resources:
            for verb in rule.verbs:
                args = [verb, *_resource_args(rule, resource), *where]
                assert _can_i(kubectl, kubeconfig, *args), f"cannot {' '.join(args)}"


def _policy(name: str, target: str, **kw: Any) -> dict[str, Any]:
    return h.policy_body(name, target, **kw)


def _cpu_deployment(name: str) -> dict[str, Any]:
    """A Deployment whose kwok pods report 450m CPU against a 250m request (180 %)."""
    return workloads.deployment(name, 1, cpu="250m", cpu_usage="450m")


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for row in dashboard["panels"] for p in [row, *row.get("panels", [])]]
    return [
        t["expr"].replace("$__rate_interval", "1m").replace("$policy", ".*")
        for p in panels
        for t in p.get("targets", [])
    ]


def _all_have_data(prom: LocalPrometheus, queries: list[str]) -> bool:
    return all(prom.query(q) for q in queries)


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(quantity[:-2]) * units[quantity[-2:]]


def test_the_operator_works_with_exactly_its_rbac(
    e2e_clusters: support.E2EClusters,
    hub_api: Any,
    member_api: Any,
    hub_namespace: str,
    member_namespace: str,
    installed: str,
    member_installed: str,
    e2e_logs: Any,
    tmp_path: Path,
) -> None:
    if not any(
        g.name == "metrics.k8s.io"
        for g in kubernetes.client.ApisApi(member_api).get_api_versions().groups
    ):
        pytest.skip("the member cluster serves no metrics.k8s.io (the local backend does)")
    hub_ns, member_ns, kubectl = hub_namespace, member_namespace, e2e_clusters.kubectl_path
    hub_kc = _kubeconfig_for(
        e2e_clusters, e2e_clusters.hub_context, "operator", _service_account_token(hub_api),
        tmp_path / "operator.kubeconfig",
    )  # fmt: skip
    member_kc = _kubeconfig_for(
        e2e_clusters, e2e_clusters.member_context, "member", member_installed,
        tmp_path / "members.kubeconfig",
    )  # fmt: skip

    # What the identities may do is what hack/gen/permissions.py declares, and no more.
    _check_grants(kubectl, hub_kc, permissions.hub_cluster_rules(), hub_ns)
    _check_grants(kubectl, hub_kc, permissions.operator_namespace_rules(), hub_ns)
    _check_grants(kubectl, hub_kc, permissions.metrics_auth_rules(), hub_ns)
    _member_role_bindings(e2e_clusters, member_ns)
    _check_grants(kubectl, member_kc, permissions.member_cluster_rules(), member_ns)
    # Bound in the tenant's namespace only: nothing elsewhere in the member.
    assert not _can_i(kubectl, member_kc, "get", "deployments.apps", "-n", "kube-system")
    assert not _can_i(
        kubectl, member_kc, "patch", "deployments.apps", "--subresource=scale", "-n", "default"
    )
    for kc, ns in ((hub_kc, hub_ns), (member_kc, member_ns)):
        for denied in (
            ["get", "secrets", "-n", SYSTEM],
            ["list", "secrets", "-A"],
            ["update", "deployments", "-n", ns],
            ["delete", "pods", "-n", ns],
            ["list", "configmaps", "-n", ns],
            ["create", "clusterrolebindings"],
            ["*", "*"],
        ):
            assert not _can_i(kubectl, kc, *denied), f"may {' '.join(denied)}"
    assert not _can_i(kubectl, hub_kc, "delete", "scalingpolicies.nimbusguard.io", "-n", hub_ns)
    assert not _can_i(kubectl, hub_kc, "patch", "scalingpolicies.nimbusguard.io", "-n", hub_ns)
    for verb in ("create", "patch", "delete"):
        assert not _can_i(kubectl, hub_kc, verb, "configmaps", "-n", hub_ns)
    assert not _can_i(kubectl, hub_kc, "create", "leases.coordination.k8s.io", "-n", hub_ns)
    assert not _can_i(kubectl, member_kc, "list", "scalingpolicies.nimbusguard.io", "-A")

    # A hub target scaled on a real Prometheus, a member target on pod CPU.
    exporter = LoadExporter()
    try:
        operator = OperatorProcess(
            kubeconfig=hub_kc,
            context="operator",
            namespaces=[hub_ns],
            log_file=tmp_path / "operator.log",
            member_kubeconfig=member_kc,
            leader_elect=True,
            lease_namespace=SYSTEM,
            # As shipped: state in the operator's namespace, /metrics over TLS, authenticated.
            extra_args=[f"--operator-namespace={SYSTEM}", "--metrics-secure"],
        )
        e2e_logs.register(operator.log_file, "operator as its ServiceAccount")
        scraper, nosy = _scraper(e2e_clusters, hub_api, hub_ns)
        scrape: list[dict[str, Any]] = [
            {"job_name": "e2e", "static_configs": [{"targets": [exporter.target]}]},
            {
                "job_name": _monitor_job(),
                "scheme": "https",
                "authorization": {"credentials": scraper},
                "tls_config": {"insecure_skip_verify": True},
                "static_configs": [{"targets": [f"127.0.0.1:{operator.metrics_port}"]}],
            },
        ]
        with LocalPrometheus(scrape) as prom:
            _run_and_check(
                e2e_clusters, hub_api, member_api, hub_ns, member_ns, operator, exporter, prom,
                (scraper, nosy),
            )  # fmt: skip
    finally:
        exporter.close()
        e2e_clusters.kubectl(
            e2e_clusters.hub_context, "delete", "clusterrolebinding", f"{hub_ns}-scraper",
            "--ignore-not-found", check=False,
        )  # fmt: skip


def _run_and_check(
    e2e_clusters: support.E2EClusters,
    hub_api: Any,
    member_api: Any,
    hub_ns: str,
    member_ns: str,
    operator: OperatorProcess,
    exporter: LoadExporter,
    prom: LocalPrometheus,
    tokens: tuple[str, str],
) -> None:
    exporter.set("packaging", 3)  # 3 replicas' worth of demand
    h.create_deployment(hub_api, hub_ns, "web", replicas=1)
    support.apps_v1(member_api).create_namespaced_deployment(member_ns, _cpu_deployment("edge"))
    web = _policy(
        "web", "web", query=h.demand_query("packaging"), prometheus_url=prom.url,
        cooldown=5, interval=5, max_replicas=5,
    )  # fmt: skip
    # Its table's first write comes at its phase in the persist interval once it has learned
    # (its first decision judged, a 5 s horizon later): within 20 s here.
    web["spec"]["aiConfig"] = {"persistIntervalSeconds": 10, "decisionHorizonSeconds": 5}
    h.create_policy(hub_api, hub_ns, web)
    edge = _policy("edge", "edge", cluster="member", target_namespace=member_ns, cooldown=5,
                   interval=5, max_replicas=3)  # fmt: skip
    edge["spec"]["metrics"] = {"cpu": {"targetUtilization": 60}}
    h.create_policy(hub_api, hub_ns, edge)

    operator.start()
    try:
        operator.wait_ready(role="leader", timeout=90)
        h.wait_phase(hub_api, hub_ns, "web", "Learning", timeout=90)
        h.wait_replicas(hub_api, hub_ns, "web", 3, timeout=90)
        h.wait_replicas(member_api, member_ns, "edge", 3, timeout=180)
        h.wait_phase(hub_api, hub_ns, "edge", "Learning", timeout=30)

        for name in ("web", "edge"):
            status = h.status(hub_api, hub_ns, name)
            assert status["lastDecision"]["reasoning"], name
            assert h.condition(hub_api, hub_ns, name, "Ready")["status"] == "True", name
        assert "cpu" in h.status(hub_api, hub_ns, "edge")["lastDecision"]["reasoning"].lower()
        support.wait_until(
            lambda: (
                "ScaledUp" in h.event_reasons(hub_api, hub_ns, "web")
                and "ScaledUp" in h.event_reasons(hub_api, hub_ns, "edge")
            ),
            timeout=30,
            what="ScaledUp Events on both policies",
        )
        coordination: Any = kubernetes.client.CoordinationV1Api(hub_api)
        lease = coordination.read_namespaced_lease("nimbusguard-operator", SYSTEM)
        assert lease.spec.holder_identity == operator.identity

        # The dashboard's queries answer from the operator's scraped metrics.
        prom.wait_for_targets_up(timeout=30)
        support.wait_until(
            lambda: bool(prom.query("nimbusguard_scaling_actions_total")),
            timeout=30,
            what="Prometheus to scrape the operator",
        )
        queries = _dashboard_queries()
        for needs_data in ("by (mode)", "nimbusguard_policy_replicas", "direction", "le)"):
            chosen = [q for q in queries if needs_data in q]
            assert chosen, needs_data
            support.wait_until(
                functools.partial(_all_have_data, prom, chosen),
                timeout=60,
                what=f"data for the dashboard queries with {needs_data!r}",
            )
        for query in queries:
            prom.query(query)  # raises on a query Prometheus refuses

        # /metrics answers only a token RBAC allows to get it; the probes stay open.
        scraper, nosy = tokens
        https = f"https://127.0.0.1:{operator.metrics_port}"
        assert [_get_metrics(https, t) for t in (None, "made-up", nosy, scraper)] == [
            401, 401, 403, 200
        ]  # fmt: skip
        assert operator.get("/healthz")[0] == 200
        # The Q-tables were written where tenants cannot write (the operator's namespace).
        uid = h.get_policy(hub_api, hub_ns, "web")["metadata"]["uid"]
        support.wait_until(
            lambda: _exists_config_map(hub_api, SYSTEM, f"nimbusguard-qtable-{uid}"),
            timeout=90,
            what="the policy's Q-table in the operator's namespace",
        )

        # The memory the prod overlay allows is enough for the process that did all this.
        prod_objects = [d for d in yaml.safe_load_all(_render(e2e_clusters, "overlays/prod")) if d]
        prod = kustomize.manager_deployments(prod_objects)
        limit = _bytes(kustomize.manager_container(prod[0])["resources"]["limits"]["memory"])
        assert operator.proc is not None
        assert _rss_bytes(operator.proc.pid) < limit
    finally:
        operator.stop()

    log = operator.log()
    forbidden = [
        line
        for line in log.splitlines()
        if re.search(r"\b403\b|Forbidden|forbidden|Not enough permissions", line)
        and not EXPECTED_FORBIDDEN.search(line)
    ]
    assert forbidden == [], "\n".join(forbidden[:10])
    assert "could not list HorizontalPodAutoscalers" not in log
    assert "watching namespaces" in log and "as given" in log

"""The RBAC we ship is exactly what the code calls, never a wildcard, never a Secret."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from api.v1 import groupversion_info as gv
from hack.gen import permissions, rbac
from tests.unit.packaging.conftest import CONFIG, ROOT, Render, entry_points

# Only the clients layer may talk to clusters; the controllers call kube.call for /version.
SOURCES = [ROOT / "nimbusguard" / "clients", ROOT / "controllers"]
API_METHOD = re.compile(r"^(read|get|list|create|patch|replace|delete)_(namespaced_)?[a-z_]+$")
Perm = tuple[str, str, str]  # (apiGroup, resource, verb)

# What kopf does for our handlers on its own (nimbusguard/clients never makes these calls).
KOPF: set[Perm] = {
    ("nimbusguard.io", "scalingpolicies", "list"),
    ("nimbusguard.io", "scalingpolicies", "watch"),
    ("", "events", "create"),  # handler errors (settings.posting.level = ERROR)
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
}
VERBS = {"read": "get", "get": "get", "list": "list", "create": "create", "patch": "patch",
         "replace": "update", "delete": "delete"}  # fmt: skip
# kubernetes-client method stem → (apiGroup, resource); extend when the code calls more.
RESOURCES = {
    "config_map": ("", "configmaps"),
    "event": ("", "events"),
    "pod": ("", "pods"),
    "lease": ("coordination.k8s.io", "leases"),
    "deployment": ("apps", "deployments"),
    "deployment_scale": ("apps", "deployments/scale"),
    "stateful_set": ("apps", "statefulsets"),
    "stateful_set_scale": ("apps", "statefulsets/scale"),
    "horizontal_pod_autoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "token_review": ("authentication.k8s.io", "tokenreviews"),
    "subject_access_review": ("authorization.k8s.io", "subjectaccessreviews"),
}
# Calls that need no RBAC (non-resource URLs every authenticated user may read: /version and
# API discovery, bound to system:authenticated by system:discovery).
FREE = {"get_code", "get_api_resources"}


def _value(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "gv"
    ):
        value: str = getattr(gv, node.attr)
        return value
    raise AssertionError(f"cannot resolve {ast.unparse(node)}: use a literal or a gv constant")


def _methods(arg: ast.expr, tree: ast.Module) -> list[str]:
    """API method names the first argument of kube.call may be: `api.method`, or a local
    name assigned from such attributes (e.g. a conditional choosing one of two)."""
    if isinstance(arg, ast.Attribute):
        return [arg.attr]
    if isinstance(arg, ast.Name):
        found = [
            a.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign | ast.AnnAssign)
            and node.value is not None
            and any(
                isinstance(t, ast.Name) and t.id == arg.id
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            )
            for a in ast.walk(node.value)
            if isinstance(a, ast.Attribute) and a.attr.split("_")[0] in VERBS
        ]
        assert found, f"cannot tell which API method {arg.id!r} holds"
        return found
    raise AssertionError(f"kube.call with {ast.unparse(arg)}: pass an API method")


def calls_in_code() -> Iterator[tuple[Perm, bool, str]]:
    """(permission, made in a target cluster, where) for every `kube.call(api.method, ...)`
    and `kube.call_json(api.method_without_preload_content, ...)`, and `kube.watch_events`
    of a list method (the watch verb)."""
    for path in sorted(p for source in SOURCES for p in source.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) in ("kube.call", "kube.call_json", "kube.watch_events")
                and node.args
            ):
                continue
            watch = ast.unparse(node.func) == "kube.watch_events"
            for method in _methods(node.args[0], tree):
                if method in FREE:
                    continue
                where = f"{path.name}:{node.lineno} {method}"
                group, resource, verb = _permission(method, node, where)
                if watch:  # a list method called with watch=True
                    assert verb == "list", f"{where}: watch a list method"
                    verb = "watch"
                yield (group, resource, verb), _in_target(node), where


def _in_target(call: ast.Call) -> bool:
    return any(k.arg == "cluster" for k in call.keywords)


def _permission(method: str, call: ast.Call, where: str) -> Perm:
    verb_word, _, rest = method.partition("_")
    verb = VERBS.get(verb_word)
    assert verb is not None, f"{where}: unknown verb {verb_word!r}"
    # The raw-JSON variant of a call needs the same permission as the call.
    stem = (
        rest.removeprefix("namespaced_")
        .removesuffix("_without_preload_content")
        .removesuffix("_for_all_namespaces")
    )
    args = call.args[1:]
    if stem in ("custom_object", "custom_object_status"):
        group, plural = _value(args[0]), _value(args[3])
        return group, plural + ("/status" if stem.endswith("status") else ""), verb
    if stem == "cluster_custom_object":  # across all namespaces: (group, version, plural)
        return _value(args[0]), _value(args[2]), verb
    if stem in RESOURCES:
        group, resource = RESOURCES[stem]
        return group, resource, verb
    raise AssertionError(f"{where}: add {stem!r} to RESOURCES in this test")


def test_every_api_call_goes_through_kube_call() -> None:
    # A direct `await core.list_namespaced_pod(...)` would escape the permission scan above.
    for path in sorted(p for source in SOURCES for p in source.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and "namespaced" in node.func.attr
                and API_METHOD.match(node.func.attr)
            ):
                raise AssertionError(
                    f"{path.name}:{node.lineno}: call {node.func.attr} via kube.call"
                )


def _rule_perms(rules: list[permissions.Rule]) -> set[Perm]:
    return {(r.api_group, res, v) for r in rules for res in r.resources for v in r.verbs}


def test_the_rules_are_exactly_the_code_and_kopf() -> None:
    code = {perm for perm, _, _ in calls_in_code()}
    assert code, "no API calls found: did nimbusguard/clients move?"
    declared = _rule_perms(list(permissions.RULES))
    assert declared - (code | KOPF) == set(), "granted but never used"
    assert (code | KOPF) - declared == set(), "used but not granted"


def test_target_cluster_calls_are_target_rules_and_the_rest_are_not() -> None:
    target_rules = _rule_perms(permissions.rules_for("target"))
    for perm, in_target, where in calls_in_code():
        if in_target:
            assert perm in target_rules, f"{where} runs in member clusters: scope it 'target'"
        else:
            assert perm not in target_rules or perm in _rule_perms(
                permissions.rules_for("hub", "operator-namespace")
            ), f"{where} runs in the hub only"


def _rbac_objects(obj: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, rule) for every RBAC rule in an object (Role, ClusterRole, or a CSV)."""
    if not isinstance(obj, dict):
        return
    kind = obj.get("kind")
    name = (obj.get("metadata") or {}).get("name", "?")
    if kind in ("Role", "ClusterRole"):
        for rule in obj.get("rules") or []:
            yield f"{kind} {name}", rule
    if kind == "ClusterServiceVersion":
        install = obj["spec"]["install"].get("spec") or {}
        for key in ("clusterPermissions", "permissions"):
            for entry in install.get(key) or []:
                for rule in entry["rules"]:
                    yield f"CSV {name} {key}", rule


def _shipped_rbac(render: Render) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted([*CONFIG.rglob("*.yaml"), *(ROOT / "bundle").rglob("*.yaml")]):
        for doc in yaml.safe_load_all(path.read_text()):
            found.extend((f"{path.relative_to(ROOT)}: {w}", r) for w, r in _rbac_objects(doc))
    for directory in entry_points():
        for obj in render(directory):
            found.extend((f"kustomize {directory.name}: {w}", r) for w, r in _rbac_objects(obj))
    return found


def test_no_wildcards_and_no_secrets_in_any_rbac_we_ship(render: Render) -> None:
    shipped = _shipped_rbac(render)
    assert len(shipped) > 20
    for where, rule in shipped:
        for key in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            values = rule.get(key) or []
            assert not any("*" in v for v in values), f"{where}: wildcard in {key}: {rule}"
        assert "secrets" not in (rule.get("resources") or []), f"{where}: Secret access: {rule}"


@pytest.mark.parametrize(
    ("resources", "verbs"), [(("pods",), ("*",)), (("*",), ("get",)), (("pods",), ("escalate",))]
)
def test_a_rule_cannot_be_declared_with_a_wildcard(
    resources: tuple[str, ...], verbs: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match=r"wildcard|not a verb"):
        permissions.Rule("", resources, verbs, "hub", ("clients",), "test")


def test_the_scan_finds_wildcards_in_roles_and_csvs() -> None:
    role = {"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": [{"verbs": ["*"]}]}
    csv = {
        "kind": "ClusterServiceVersion",
        "metadata": {"name": "c"},
        "spec": {"install": {"spec": {"permissions": [{"rules": [{"resources": ["*"]}]}]}}},
    }
    assert [w for w, _ in _rbac_objects(role)] == ["ClusterRole r"]
    assert [w for w, _ in _rbac_objects(csv)] == ["CSV c permissions"]


def test_the_committed_roles_are_generated_from_the_rules() -> None:
    committed = {
        CONFIG / "rbac" / "role.yaml": rbac.manager_role(),
        CONFIG / "rbac" / "leader_election_role.yaml": rbac.leader_election_role(),
        CONFIG / "member" / "role.yaml": rbac.member_role(),
        CONFIG / "rbac" / "metrics_auth_role.yaml": rbac.metrics_auth_role(),
    }
    for path, text in committed.items():
        assert path.read_text() == text, f"{path} is stale: run `make manifests`"
    hub = yaml.safe_load(rbac.manager_role())
    assert hub["kind"] == "ClusterRole"
    assert len(hub["rules"]) == len(permissions.hub_cluster_rules())
    leader = yaml.safe_load(rbac.leader_election_role())
    assert leader["kind"] == "Role"
    assert leader["rules"] == [r.policy_rule() for r in permissions.operator_namespace_rules()]


@pytest.mark.parametrize(
    ("path", "rules"),
    [
        ("config/rbac/role.yaml", permissions.hub_cluster_rules()),
        ("config/rbac/leader_election_role.yaml", permissions.operator_namespace_rules()),
        ("config/member/role.yaml", permissions.member_cluster_rules()),
        ("config/rbac/metrics_auth_role.yaml", permissions.metrics_auth_rules()),
    ],
)
def test_each_generated_rule_says_why(path: str, rules: list[permissions.Rule]) -> None:
    comments = " ".join(
        line.removeprefix("# ")
        for line in (ROOT / path).read_text().splitlines()
        if line[:1] == "#"
    )
    for rule in rules:
        assert rule.why in comments


def test_cluster_wide_writes_are_scale_status_and_events_only() -> None:
    """Least privilege, measured: every write the hub ClusterRole grants is one of
    CLUSTER_WIDE_WRITES; all other writes are confined to the operator's namespace."""
    writes = {
        perm
        for perm in _rule_perms(permissions.hub_cluster_rules())
        if perm[2] in permissions.WRITE_VERBS
    }
    assert writes == permissions.CLUSTER_WIDE_WRITES
    reads = {p for p in _rule_perms(permissions.hub_cluster_rules()) if p not in writes}
    assert {verb for _, _, verb in reads} <= {"get", "list", "watch"}
    # Pods: exactly what the CPU source does, one label-selected list.
    assert {p for p in reads if p[1] == "pods"} == {
        ("", "pods", "list"),
        ("metrics.k8s.io", "pods", "list"),
    }
    # The review ClusterRole stores nothing: reviews are questions.
    assert _rule_perms(permissions.metrics_auth_rules()) == {
        ("authentication.k8s.io", "tokenreviews", "create"),
        ("authorization.k8s.io", "subjectaccessreviews", "create"),
    }


def test_the_shipped_hub_role_grants_no_other_write(render: Render) -> None:
    for obj in render(CONFIG / "default"):
        if obj.get("kind") != "ClusterRole" or not obj["metadata"]["name"].endswith("manager-role"):
            continue
        for rule in obj["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        if verb in permissions.WRITE_VERBS:
                            assert (group, resource, verb) in permissions.CLUSTER_WIDE_WRITES

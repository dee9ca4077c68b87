"""Every Kubernetes permission the operator needs: the single source of all RBAC we ship.

`config/rbac/role.yaml` (the hub ClusterRole), `config/rbac/leader_election_role.yaml` (the
Role in the operator's namespace), `config/member/role.yaml` (what a member cluster grants)
and the bundle's clusterPermissions/permissions are all rendered from `RULES`.

Each rule names who needs it: `clients` rules are the calls in `nimbusguard/clients/` (a unit
test parses those calls and fails when code and rules disagree in either direction); `kopf`
rules are what the framework itself does for our handlers. Scopes:

- `hub`: cluster-wide in the hub, because ScalingPolicies may live in any namespace;
- `target`: in every cluster that holds targets (the hub and each member cluster);
- `operator-namespace`: only in the namespace the operator runs in (leader election, the
  policies' own Q-tables, the tenancy grants);
- `metrics-auth`: the reviews behind /metrics authentication, in their own ClusterRole as
  kubebuilder's scaffold has it (reviews are questions to the API server, nothing is stored).

Cluster-wide writes are limited to the scale subresources, the policies' status and Events
(`CLUSTER_WIDE_WRITES`, checked by a unit test).

No Secret permission anywhere: the member-clusters kubeconfig Secret is mounted as a volume,
so the kubelet reads it and the operator never calls the Secrets API.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

Scope = Literal["hub", "target", "operator-namespace", "metrics-auth"]
Needer = Literal["clients", "kopf"]

# Verbs in the order kubectl and controller-gen print them.
VERB_ORDER = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


@dataclasses.dataclass(frozen=True)
class Rule:
    """One group of resources with the verbs the operator uses on them, and why."""

    api_group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    scope: Scope
    needed_by: tuple[Needer, ...]
    why: str

    def __post_init__(self) -> None:
        # Wildcards cannot even be declared: every verb and resource is named.
        for verb in self.verbs:
            if verb not in VERB_ORDER:
                raise ValueError(f"{verb!r} is not a verb we grant (one of {VERB_ORDER})")
        for name in (self.api_group, *self.resources):
            if "*" in name:
                raise ValueError(f"wildcard {name!r} in a rule for {self.resources}")

    def policy_rule(self) -> dict[str, list[str]]:
        """The rule as an RBAC PolicyRule."""
        return {
            "apiGroups": [self.api_group],
            "resources": list(self.resources),
            "verbs": sorted(self.verbs, key=VERB_ORDER.index),
        }


WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
# The only writes the operator may make outside its own namespace.
CLUSTER_WIDE_WRITES = frozenset(
    {
        ("nimbusguard.io", "scalingpolicies/status", "patch"),
        ("", "events", "create"),
        ("apps", "deployments/scale", "patch"),
        ("apps", "statefulsets/scale", "patch"),
    }
)

RULES: tuple[Rule, ...] = (
    Rule(
        "nimbusguard.io",
        ("scalingpolicies",),
        ("get", "list", "watch"),
        "hub",
        ("kopf", "clients"),
        "kopf lists and watches policies (event handlers only: it never writes them); the "
        "reconciler re-reads a policy before it records a scale intent and looks up the "
        "owner of a Q-table",
    ),
    Rule(
        "nimbusguard.io",
        ("scalingpolicies/status",),
        ("patch",),
        "hub",
        ("clients",),
        "the reconciler is the only writer of .status (merge patches)",
    ),
    Rule(
        "",
        ("events",),
        ("create",),
        "hub",
        ("kopf", "clients"),
        "Events on policies for every scale action, phase change and error (and kopf's "
        "handler errors), in the policy's namespace",
    ),
    Rule(
        "",
        ("configmaps",),
        ("get",),
        "hub",
        ("clients",),
        "read-only in tenants' namespaces: a policy's warm-start table "
        "(aiConfig.qLearning.warmStart), and once the table an older release kept there",
    ),
    Rule(
        "apiextensions.k8s.io",
        ("customresourcedefinitions",),
        ("list", "watch"),
        "hub",
        ("kopf",),
        "kopf's resource observer: without it an operator started before its CRD is "
        "Established never notices the CRD until restarted (read-only)",
    ),
    Rule(
        "apps",
        ("deployments", "statefulsets"),
        ("get", "list", "watch"),
        "target",
        ("clients",),
        "read the targets: replicas, ready replicas, pod selector (one watch per cluster "
        "and kind; a GET where the watch cannot vouch for the answer)",
    ),
    Rule(
        "apps",
        ("deployments/scale", "statefulsets/scale"),
        ("patch",),
        "target",
        ("clients",),
        "scale the target through its scale subresource (never the workload object itself)",
    ),
    Rule(
        "autoscaling",
        ("horizontalpodautoscalers",),
        ("list",),
        "target",
        ("clients",),
        "find an HPA that also scales the target (one autoscaler per target)",
    ),
    Rule(
        "",
        ("pods",),
        ("list",),
        "target",
        ("clients",),
        "the CPU metric: the target's pods, their readiness and CPU requests",
    ),
    Rule(
        "metrics.k8s.io",
        ("pods",),
        ("list",),
        "target",
        ("clients",),
        "the CPU metric: pod usage from metrics.k8s.io (as the HPA reads it)",
    ),
    Rule(
        "coordination.k8s.io",
        ("leases",),
        ("get", "list", "create", "update"),
        "operator-namespace",
        ("clients",),
        "leader election on one Lease in the operator's namespace (--lease-name); with "
        "--shards, the shard Leases and each replica's presence Lease (listed by label)",
    ),
    Rule(
        "",
        ("configmaps",),
        ("get", "list", "create", "patch", "delete"),
        "operator-namespace",
        ("clients",),
        "the policies' own Q-tables (nimbusguard-qtable-<policy uid>: written, listed and "
        "deleted with their policy) and the tenancy grants (read), all in the operator's "
        "namespace only",
    ),
)


METRICS_AUTH_RULES: tuple[Rule, ...] = (
    Rule(
        "authentication.k8s.io",
        ("tokenreviews",),
        ("create",),
        "metrics-auth",
        ("clients",),
        "who is scraping /metrics: the caller's bearer token is reviewed by the API server",
    ),
    Rule(
        "authorization.k8s.io",
        ("subjectaccessreviews",),
        ("create",),
        "metrics-auth",
        ("clients",),
        "may that caller get /metrics: RBAC decides (nonResourceURLs, see "
        "metrics_reader_role.yaml)",
    ),
)
RULES = (*RULES, *METRICS_AUTH_RULES)


def rules_for(*scopes: Scope) -> list[Rule]:
    """The rules of the given scopes, in declaration order."""
    return [r for r in RULES if r.scope in scopes]


def hub_cluster_rules() -> list[Rule]:
    """The hub ClusterRole: cluster-wide needs plus the targets that live in the hub."""
    return rules_for("hub", "target")


def member_cluster_rules() -> list[Rule]:
    """What a member cluster grants the operator's identity there."""
    return rules_for("target")


def operator_namespace_rules() -> list[Rule]:
    """The Role in the operator's own namespace."""
    return rules_for("operator-namespace")


def metrics_auth_rules() -> list[Rule]:
    """The ClusterRole behind /metrics authentication and authorization."""
    return rules_for("metrics-auth")

"""Which workloads a ScalingPolicy may target: namespace sameness plus explicit grants (pure).

The rule, enforced twice (the ValidatingAdmissionPolicy in config/admission at admission, and
`check` at every evaluation, so a policy that slipped through is refused and never acted on):

- a policy may target workloads in the namespace of its own name, in any cluster (SIG
  Multicluster's *namespace sameness*): hub namespace `team-a` → `team-a` in the hub and in
  every member cluster;
- anything else needs a grant in the operator-owned tenancy ConfigMap (`nimbusguard-tenancy` in
  the operator's namespace): one key per hub namespace, whose value lists the extra targets as
  comma-separated `<cluster>/<namespace>` entries; `*` as the cluster means every member
  cluster. Example: `team-a: "prod-eu/team-a-legacy, */shared-batch"`.

A member context that happens to point at the hub (say `cluster: hub` with an admin
kubeconfig) gets no special treatment: it is a cluster like any other, so the rule confines it
to the policy's own namespace too. Matching is exact string comparison of
`<cluster>/<namespace>` against the trimmed entries, which is what the admission policy's CEL
does, so both enforcements agree on every input; entries that are not well-formed are reported
by `Grants.problems` and simply never match.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from api.v1 import scalingpolicy_types as types

CONFIG_MAP = "nimbusguard-tenancy"
ANY_CLUSTER = "*"
REASON = "TargetNotPermitted"
FIELD = "spec.target.namespace"

_DNS_LABEL = re.compile(types.DNS_LABEL)
_CLUSTER = re.compile(types.CONTEXT)  # what target.cluster admits


def entries(value: str) -> list[str]:
    """The entries of one grant value, as the admission policy splits them."""
    return [part.strip() for part in value.split(",") if part.strip()]


@dataclasses.dataclass(frozen=True)
class Grants:
    """Hub namespace → extra `<cluster>/<namespace>` targets it may use (the ConfigMap's data)."""

    data: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def none(cls) -> Grants:
        """No grants: namespace sameness only (also what a missing ConfigMap means)."""
        return cls({})

    def allows(self, policy_namespace: str, cluster: str, target_namespace: str) -> bool:
        """True when the grants of `policy_namespace` name this member target."""
        listed = entries(self.data.get(policy_namespace, ""))
        return (
            f"{cluster}/{target_namespace}" in listed
            or f"{ANY_CLUSTER}/{target_namespace}" in listed
        )

    def targets(self, cluster: str) -> dict[str, set[str]]:
        """Member namespace → hub namespaces granted it in `cluster` (for RoleBindings)."""
        found: dict[str, set[str]] = {}
        for hub_namespace, value in sorted(self.data.items()):
            for entry in entries(value):
                where, _, namespace = entry.rpartition("/")
                if where in (cluster, ANY_CLUSTER) and _DNS_LABEL.match(namespace):
                    found.setdefault(namespace, set()).add(hub_namespace)
        return found

    def problems(self) -> list[str]:
        """Keys and entries that can never match anything, each said once (for the log)."""
        found: list[str] = []
        for key, value in sorted(self.data.items()):
            if not _DNS_LABEL.match(key):
                found.append(f"key {key!r} is not a namespace name")
            for entry in entries(value):
                cluster, slash, namespace = entry.rpartition("/")
                if not slash or not _CLUSTER.match(cluster) or not _DNS_LABEL.match(namespace):
                    found.append(
                        f"entry {entry!r} of {key!r} is not <cluster>/<namespace> "
                        f"(or {ANY_CLUSTER}/<namespace>)"
                    )
        return found


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why a policy may not act on its target: a condition reason and a message that names
    the field and the rule (and only what the policy itself says)."""

    reason: str
    message: str


def check(
    policy_namespace: str, cluster: str | None, target_namespace: str | None, grants: Grants
) -> Refusal | None:
    """None when the policy may target (`cluster`, `target_namespace`); else the refusal.

    `cluster` None is the hub, where the target is always in the policy's own namespace (the
    CRD refuses `target.namespace` without `target.cluster`; a body that slipped past it is
    refused here).
    """
    wanted = target_namespace or policy_namespace
    if wanted == policy_namespace:
        return None
    # The schema admits only namespace names here; anything else could splice a grant.
    if (
        cluster is not None
        and _DNS_LABEL.match(wanted)
        and grants.allows(policy_namespace, cluster, wanted)
    ):
        return None
    where = f"in cluster {cluster!r}" if cluster is not None else "in the hub cluster"
    return Refusal(
        REASON,
        f"{FIELD}: a policy in namespace {policy_namespace!r} may target only namespace "
        f"{policy_namespace!r}, in any cluster (namespace sameness); namespace {wanted!r} "
        f"{where} needs a grant for {policy_namespace!r} in the operator's tenancy "
        f"configuration (ConfigMap {CONFIG_MAP}); this policy does not act",
    )


def member_role_bindings(
    cluster: str,
    tenant_namespaces: Iterable[str],
    grants: Grants,
    *,
    role: str = "nimbusguard-member-role",
    service_account: str = "nimbusguard-member-scaler",
    service_account_namespace: str = "nimbusguard-system",
) -> list[dict[str, Any]]:
    """RoleBindings that let the member identity act in exactly the namespaces policies may
    target in `cluster`: the tenants' own (sameness) plus what the grants name there."""
    namespaces = set(tenant_namespaces) | set(grants.targets(cluster))
    bindings: list[dict[str, Any]] = []
    for namespace in sorted(namespaces):
        if not _DNS_LABEL.match(namespace):
            raise ValueError(f"{namespace!r} is not a namespace name")
        bindings.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {
                    "name": "nimbusguard-member",
                    "namespace": namespace,
                    "labels": {"app.kubernetes.io/name": "nimbusguard-operator"},
                },
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": [
                    {
                        "kind": "ServiceAccount",
                        "name": service_account,
                        "namespace": service_account_namespace,
                    }
                ],
            }
        )
    return bindings

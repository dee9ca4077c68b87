"""Refuse chosen writes of one user with a ValidatingAdmissionPolicy, and lift the refusal.

The API server answers the refused request with an error, as it would for an RBAC change, a
webhook outage or a quota: the operator's request reached the server and failed there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.e2e import support


class Denial:
    """A ValidatingAdmissionPolicy + binding denying `operations` on `resource` (e.g.
    `deployments/scale` in group `apps`) by `user` in `namespace` when `condition` (CEL over
    `object`, `oldObject`, `request`) holds."""

    def __init__(
        self,
        clusters: support.E2EClusters,
        name: str,
        *,
        group: str,
        resource: str,
        user: str,
        namespace: str,
        condition: str = "true",
        operations: tuple[str, ...] = ("UPDATE",),
    ) -> None:
        self.clusters, self.name = clusters, name
        match = {
            "resourceRules": [
                {
                    "apiGroups": [group],
                    "apiVersions": ["*"],
                    "operations": list(operations),
                    "resources": [resource],
                }
            ]
        }
        self.policy: dict[str, Any] = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": match,
                "matchConditions": [
                    {"name": "the-user", "expression": f"request.userInfo.username == '{user}'"}
                ],
                "validations": [
                    {
                        "expression": f"!({condition})",
                        "message": f"chaos: {resource} denied by {name}",
                        "reason": "Forbidden",
                    }
                ],
            },
        }
        self.binding: dict[str, Any] = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                },
            },
        }
        self.active = False

    def _kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> None:
        self.clusters.kubectl(self.clusters.hub_context, *args, stdin=stdin, check=check)

    def deny(self, probe: Callable[[], bool] | None = None) -> None:
        """Install; `probe` (True while the write would be refused) is awaited if given."""
        docs = json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": [self.policy, self.binding]}
        )
        self._kubectl("apply", "--server-side", "-f", "-", stdin=docs)
        self.active = True
        if probe is not None:
            support.wait_until(probe, timeout=30, what=f"{self.name} enforced")

    def allow(self, probe: Callable[[], bool] | None = None) -> None:
        """Remove the binding (the refusal ends); `probe` (True once the write would pass) is
        awaited if given."""
        self._kubectl("delete", "validatingadmissionpolicybinding", self.name, "--ignore-not-found")
        self.active = False
        if probe is not None:
            support.wait_until(probe, timeout=30, what=f"{self.name} lifted")

    def remove(self) -> None:
        for kind in ("validatingadmissionpolicybinding", "validatingadmissionpolicy"):
            self._kubectl("delete", kind, self.name, "--ignore-not-found", check=False)


def scale_refused(clusters: support.E2EClusters, namespace: str, name: str, user: str) -> bool:
    """Whether the server refuses `user` scaling Deployment `name` (a server-side dry run)."""
    result = clusters.kubectl(
        clusters.hub_context,
        "scale",
        f"deployment/{name}",
        "-n",
        namespace,
        "--replicas=1",
        f"--as={user}",
        "--as-group=system:masters",
        "--dry-run=server",
        check=False,
    )
    return result.returncode != 0 and "denied" in result.stderr


def status_write_refused(
    clusters: support.E2EClusters, namespace: str, name: str, user: str, status: dict[str, Any]
) -> bool:
    """Whether the server refuses `user` merge-patching ScalingPolicy `name`'s status with
    `status` (a server-side dry run)."""
    result = clusters.kubectl(
        clusters.hub_context,
        "patch",
        "scalingpolicy",
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
        f"--as={user}",
        "--as-group=system:masters",
        "--dry-run=server",
        check=False,
    )
    return result.returncode != 0 and "denied" in result.stderr

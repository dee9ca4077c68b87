"""The hub's own record of who wrote what: a kube-apiserver audit policy, its flags, and a
reader of the JSON-lines log.

Chaos tests check their invariants from this server-side evidence rather than from the
timing of their own polls: every write to the resources the operator touches (Leases,
ScalingPolicies and their status, Deployments and their scale, ConfigMaps, Events) is logged
with the authenticated user, the verb, the object, the response code and the server's
timestamps. Reads are not logged (the log stays small on a shared test cluster), except the
Deployment reads of users in READS_GROUP: reading its target is the one request every
evaluation makes, so for an operator in that group the log says who evaluated which policy
when. Requests to nimbusguard.io, to the scale subresource and to Leases are logged with
their bodies (`Request` level), so a test can see which status fields a write carried and
whom a Lease write named as its holder.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
READS_GROUP = "nimbusguard:audited-reads"

_WATCHED = [
    {"group": "coordination.k8s.io", "resources": ["leases"]},
    {"group": "apps", "resources": ["deployments", "deployments/scale", "statefulsets/scale"]},
    {"group": "", "resources": ["configmaps", "events"]},
    {"group": "events.k8s.io", "resources": ["events"]},
]


def policy() -> dict[str, Any]:
    """The audit policy: writes only, bodies for nimbusguard.io and scale requests."""
    detailed = [
        {"group": "nimbusguard.io"},
        {"group": "apps", "resources": ["deployments/scale", "statefulsets/scale"]},
        {"group": "coordination.k8s.io", "resources": ["leases"]},
    ]
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        # One event per request, when its response is complete.
        "omitStages": ["RequestReceived", "ResponseStarted"],
        "rules": [
            {
                "level": "Metadata",
                "userGroups": [READS_GROUP],
                "verbs": ["get"],
                "resources": [{"group": "apps", "resources": ["deployments"]}],
            },
            {"level": "None", "verbs": ["get", "list", "watch"]},
            # kwok renews its fake nodes' Leases every few seconds: noise.
            {"level": "None", "namespaces": ["kube-node-lease"]},
            {"level": "Request", "verbs": list(WRITE_VERBS), "resources": detailed},
            {"level": "Metadata", "verbs": list(WRITE_VERBS), "resources": _WATCHED},
            {"level": "None"},
        ],
    }


def apiserver_flags(policy_file: Path, log_file: Path) -> list[str]:
    """kube-apiserver flags that write `policy()` events to `log_file` (written beforehand
    with `write_policy`). Blocking mode: an event is on disk before the response is sent."""
    return [
        f"--audit-policy-file={policy_file}",
        f"--audit-log-path={log_file}",
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
        # No rotation during a test session: readers keep a byte offset into one file.
        "--audit-log-maxsize=0",
    ]


def write_policy(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(policy(), sort_keys=False))


def _time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class AuditEvent:
    """One completed request as the API server saw it."""

    user: str
    verb: str
    api_group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: int
    received: datetime.datetime
    completed: datetime.datetime
    user_agent: str = ""
    request: dict[str, Any] | None = field(default=None, compare=False)
    # The Pod a ServiceAccount token was bound to (the kubelet's projected tokens carry it):
    # tells apart the replicas of one Deployment, which share their user name.
    pod: str = ""

    @property
    def write(self) -> bool:
        return self.verb in WRITE_VERBS

    @property
    def succeeded(self) -> bool:
        return 200 <= self.code < 300

    @property
    def kind(self) -> str:
        """`resource` or `resource/subresource`, e.g. `deployments/scale`."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> AuditEvent | None:
        """The event of one JSON line, or None for lines without an object reference."""
        ref = raw.get("objectRef")
        received = _time(raw.get("requestReceivedTimestamp"))
        completed = _time(raw.get("stageTimestamp"))
        if not ref or received is None or completed is None:
            return None
        user = raw.get("user") or {}
        pods = (user.get("extra") or {}).get("authentication.kubernetes.io/pod-name") or [""]
        return cls(
            user=str(user.get("username", "")),
            verb=str(raw.get("verb", "")),
            api_group=str(ref.get("apiGroup", "")),
            resource=str(ref.get("resource", "")),
            subresource=str(ref.get("subresource", "")),
            namespace=str(ref.get("namespace", "")),
            name=str(ref.get("name", "")),
            code=int((raw.get("responseStatus") or {}).get("code", 0)),
            received=received,
            completed=completed,
            user_agent=str(raw.get("userAgent", "")),
            request=raw.get("requestObject"),
            pod=str(pods[0]),
        )


class AuditLog:
    """Reads the events appended to an audit log file since a mark.

    `mark()` at the start of a test, then `events(since=mark)`: a shared cluster's log holds
    every test's requests, so callers filter by namespace and user.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """The current end of the log (a byte offset)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def events(self, since: int = 0) -> Iterator[AuditEvent]:
        """Every complete event written after byte offset `since`, in log order."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            handle.seek(since)
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # being written: the next read gets it whole
                try:
                    raw = json.loads(line)
                except ValueError:
                    continue
                event = AuditEvent.parse(raw)
                if event is not None:
                    yield event

    def writes(self, *, since: int = 0, **filters: Any) -> list[AuditEvent]:
        """Write requests after `since`, filtered as `requests` filters them."""
        return self.requests(since=since, writes=True, **filters)

    def requests(
        self,
        *,
        since: int = 0,
        writes: bool | None = None,
        namespace: str | None = None,
        user: str | None = None,
        resource: str | None = None,
        name: str | None = None,
        succeeded: bool | None = None,
    ) -> list[AuditEvent]:
        """Requests after `since`, filtered (`writes`: only writes, only reads, or both);
        `resource` matches `AuditEvent.kind`."""
        found = []
        for event in self.events(since):
            if writes is not None and event.write != writes:
                continue
            if namespace is not None and event.namespace != namespace:
                continue
            if user is not None and event.user != user:
                continue
            if resource is not None and event.kind != resource:
                continue
            if name is not None and event.name != name:
                continue
            if succeeded is not None and event.succeeded != succeeded:
                continue
            found.append(event)
        return found

"""What a chaos scenario works with: clusters with an audit log, a namespace, a scripted
Prometheus, and operators that each authenticate as a user of their own (so the hub's audit
log attributes every write), optionally through a proxy that can blackhole them."""

from __future__ import annotations

import base64
import datetime
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes

from api.v1 import scalingpolicy_types as types
from controllers import learning
from hack.localcluster import LocalClusters, identity, pki
from hack.localcluster.audit import READS_GROUP, AuditEvent, AuditLog
from hack.localcluster.proxy import TcpProxy
from nimbusguard.clients import qtables
from nimbusguard.scaling import promotion
from nimbusguard.workflow import runtime
from tests.e2e import support
from tests.e2e.chaos import fakeprom
from tests.e2e.chaos.fakeprom import FakePrometheus
from tests.e2e.chaos.history import ScaleHistory, StatusHistory
from tests.e2e.controller import helpers as h
from tests.e2e.operator_process import OperatorProcess

QUERY = "nimbusguard_chaos_demand"  # the fake Prometheus answers by path, not by query


@dataclass
class Operator:
    """A started operator, the audit user it writes as, and its proxy (if any)."""

    process: OperatorProcess
    user: str
    proxy: TcpProxy | None = None


@dataclass
class Chaos:
    """One scenario's environment (see the module docstring)."""

    clusters: support.E2EClusters
    local: LocalClusters
    api: Any
    member_api: Any
    ns: str
    prom: FakePrometheus
    tmp: Path
    logs: Any  # the e2e_logs registry
    audit: AuditLog = field(init=False)
    mark: int = field(init=False)
    started: list[Operator] = field(default_factory=list)
    watches: list[ScaleHistory | StatusHistory] = field(default_factory=list)
    member_namespaces: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.audit = AuditLog(self.local.audit_log(self.clusters.hub_context))
        self.mark = self.audit.mark()

    # ------------------------------------------------------------ objects

    def deployment(
        self, name: str, replicas: int, *, api: Any = None, ns: str | None = None
    ) -> None:
        h.create_deployment(api or self.api, ns or self.ns, name, replicas)

    def policy(
        self,
        name: str,
        target: str,
        *,
        mode: str | None = None,
        ns: str | None = None,
        query_timeout: int | None = None,
        spec: dict[str, Any] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        """Create a ScalingPolicy reading the fake Prometheus: the series named like the
        policy, or the scripted answer `mode`; `query_timeout` in seconds (default 2); `spec`
        adds top-level spec fields (e.g. aiConfig). Returns the body."""
        tag = f"~{ns or self.ns}"
        address = self.prom.address(mode + tag) if mode else self.prom.series(name + tag)
        kw.setdefault("query", QUERY)
        kw.setdefault("prometheus_url", address)
        body = h.policy_body(name, target, **kw)
        body["spec"].update(spec or {})
        if query_timeout is not None:
            body["spec"]["metrics"]["prometheus"]["timeoutSeconds"] = query_timeout
        h.create_policy(self.api, ns or self.ns, body)
        return body

    def seed_active_table(self, policy: str) -> str:
        """Store a Q-table in phase Active for `policy` where the operator (whose namespace is
        this scenario's) keeps it, as if the learner had been promoted; the ConfigMap name."""
        obj = h.get_policy(self.api, self.ns, policy)
        parsed = types.ScalingPolicy.model_validate(obj)
        uid = str(obj["metadata"]["uid"])
        learner = runtime.new_learner(f"{self.ns}/{policy}", parsed.spec)
        learner.promotion.phase = promotion.ACTIVE
        name = qtables.table_name(uid)
        body = {
            "metadata": {
                "name": name,
                "labels": {**learning.LABELS, qtables.UID_LABEL: uid},
                "annotations": {qtables.POLICY_ANNOTATION: f"{self.ns}/{policy}"},
                "ownerReferences": [
                    {
                        "apiVersion": f"{h.GROUP}/{h.VERSION}",
                        "kind": "ScalingPolicy",
                        "name": policy,
                        "uid": uid,
                        "controller": True,
                        "blockOwnerDeletion": False,
                    }
                ],
            },
            "binaryData": {learning.KEY: base64.b64encode(learner.to_bytes()).decode()},
        }
        support.core_v1(self.api).create_namespaced_config_map(self.ns, body)
        return name

    def member_namespace(self) -> str:
        """The namespace of this scenario's name in the member cluster (what its policies may
        target without a tenancy grant); deleted at the end."""
        support.create_namespace(self.member_api, self.ns)
        self.member_namespaces.append(self.ns)
        return self.ns

    def demand(self, policy: str, value: float, *, ns: str | None = None) -> None:
        """What the fake Prometheus answers for `policy`'s series (1 per replica on target)."""
        self.prom.set(f"{policy}~{ns or self.ns}", value)

    def no_demand(self, policy: str, *, ns: str | None = None) -> None:
        """`policy`'s series answers an empty vector (a sum over zero pods)."""
        self.prom.clear(f"{policy}~{ns or self.ns}")

    def queries(self, policy: str, *, ns: str | None = None) -> list[float]:
        """When the queries of `policy`'s series reached the fake Prometheus."""
        return self.prom.arrivals(f"{fakeprom.SERIES}{policy}~{ns or self.ns}")

    def arrivals(self, mode: str, *, ns: str | None = None) -> list[float]:
        """When the queries of policies on `mode` reached the fake Prometheus."""
        return self.prom.arrivals(f"{mode}~{ns or self.ns}")

    def scale_history(self, name: str, *, api: Any = None, ns: str | None = None) -> ScaleHistory:
        watch = ScaleHistory(api or self.api, ns or self.ns, name)
        self.watches.append(watch)
        return watch

    def status_history(self, name: str) -> StatusHistory:
        watch = StatusHistory(self.api, self.ns, name)
        self.watches.append(watch)
        return watch

    # ------------------------------------------------------------ operators

    def operator(
        self,
        name: str,
        *,
        namespaces: tuple[str, ...] = (),
        proxied: bool = False,
        member_kubeconfig: Path | None = None,
        leader_elect: bool = False,
        wait: str | None = "ready",
        extra_args: tuple[str, ...] = (),
        audit_reads: bool = False,
    ) -> Operator:
        """Start an operator authenticating to the hub as user `chaos-<ns>-<name>` (also its
        Lease identity); `proxied`: through a TcpProxy of its own. `wait`: "ready",
        "leader", "standby" or None. `audit_reads`: the hub's audit log records its reads of
        Deployments too (one per evaluation with --target-reads=get, see `evaluations`)."""
        hub = self.local.cluster(self.clusters.hub_context)
        user = f"chaos-{self.ns}-{name}"[:60]
        groups = (pki.ADMIN_GROUP, *((READS_GROUP,) if audit_reads else ()))
        proxy = TcpProxy("127.0.0.1", int(hub.server.rsplit(":", 1)[1])) if proxied else None
        servers = {hub.name: f"https://{proxy.address}"} if proxy else {}
        kubeconfig = identity.kubeconfig_with(
            self.tmp / f"{name}.kubeconfig",
            [identity.issue_user(hub, user, groups).entry()],
            servers=servers,
        )
        log = self.tmp / f"operator-{name}.log"
        process = OperatorProcess(
            kubeconfig=kubeconfig,
            context=hub.name,
            namespaces=namespaces or (self.ns,),
            log_file=log,
            member_kubeconfig=member_kubeconfig or self.clusters.kubeconfig,
            leader_elect=leader_elect,
            lease_namespace=self.ns if leader_elect else None,
            identity=user,
            extra_args=extra_args,
        )
        self.logs.register(log, f"operator {name}")
        operator = Operator(process, user, proxy)
        self.started.append(operator)
        process.start()
        if wait == "ready":
            process.wait_ready()
        elif wait:
            process.wait_ready(role=wait)
        return operator

    # ------------------------------------------------------------ evidence

    def writes(self, **filters: Any) -> list[AuditEvent]:
        """Writes in this scenario's namespace since it began (see AuditLog.writes)."""
        filters.setdefault("namespace", self.ns)
        return self.audit.writes(since=self.mark, **filters)

    def evaluations(self, since: int | None = None) -> list[AuditEvent]:
        """The target reads of operators started with `audit_reads`, one per evaluation, in
        this scenario's namespace since `since` (default: since it began)."""
        return self.audit.requests(
            since=self.mark if since is None else since,
            writes=False,
            namespace=self.ns,
            resource="deployments",
            succeeded=True,
        )

    def scales(self, user: str | None = None, name: str | None = None) -> list[AuditEvent]:
        """Successful writes to a Deployment's replicas (scale subresource or spec) by `user`."""
        found = [
            e
            for e in self.writes(user=user, name=name, succeeded=True)
            if e.kind in ("deployments/scale", "statefulsets/scale")
        ]
        return found

    def close(self) -> None:
        for watch in self.watches:
            watch.stop()
        for operator in self.started:
            operator.process.stop()
            if operator.proxy is not None:
                operator.proxy.close()
        for ns in self.member_namespaces:
            try:
                support.core_v1(self.member_api).delete_namespace(ns)
            except kubernetes.client.ApiException as error:
                if error.status != 404:
                    raise


def conditions(chaos: Chaos, name: str) -> dict[str, tuple[str, str]]:
    """Policy `name`'s conditions: type -> (status, reason)."""
    return {
        c["type"]: (c["status"], c["reason"])
        for c in h.status(chaos.api, chaos.ns, name).get("conditions", [])
    }


def gaps(events: list[AuditEvent]) -> list[float]:
    """Seconds between consecutive events (server receive times)."""
    times = [e.received for e in events]
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)

"""One evaluation of a ScalingPolicy, and the status, Events and metrics it leaves behind.

    permits → target client → ownership (claims, HPAs) → Q-table load → the workflow graph
    (observe → decide → act → reward → learn; the scale record in between, see
    controllers/intents.py) → phase → Q-table persist (its outcome is a condition) → status
    (written only when it says something new, or once a minute) → Events → metrics

`Evaluator.run` does one pass for a policy whose loop (controllers/reconciler.py) holds its
lock; every write goes through the leadership fence `may_write`. Nothing here starts tasks
or keeps loops: that is the reconciler's job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import pydantic

from api.v1 import groupversion_info as gv, scalingpolicy_types as types
from controllers import (
    claims as claims_,
    compact,
    conditions as cond,
    health,
    intents,
    learning,
    notices,
    observability,
    permits as permits_,
    phases,
    refresh,
    status,
)
from nimbusguard import tenancy
from nimbusguard.clients import (
    endpoints,
    errors,
    events,
    kube,
    policies,
    resource_metrics,
    sources,
    workloads,
)
from nimbusguard.workflow import graph as graph_, runtime as runtime_, state as st

logger = logging.getLogger(__name__)

MAX_BACKOFF = 60.0

# What changes without saying anything that must be seen at once: left out when deciding
# whether a status write is needed now (it goes with the next write, at the latest in the
# policy's next refresh: controllers/refresh.py). The scale record has its own writes.
_VOLATILE = (
    "metrics",
    "learning",
    "metricSummary",
    "readyReplicas",
    "targetReplicas",
    *intents.RECORD_FIELDS,
)


# Decision modes that say the decision was held back: becoming one is news. The others
# (baseline, explore, exploit) alternate as a learner explores, which is routine.
_HELD_MODES = ("cooldown", "fallback")


def _essence(status: types.ScalingPolicyStatus) -> dict[str, Any]:
    """What must be written at once when it changes: the phase, the conditions (type, status,
    reason), the replicas the target has, the last decision's action and whether it was held
    back (a hold becoming a cooldown is news; its reasoning, numbers and time are not) and
    where the Q-table lives."""
    data = {k: v for k, v in status.to_json_dict().items() if k not in _VOLATILE}
    decision = data.get("lastDecision")
    if decision is not None:
        mode = decision.get("mode")
        data["lastDecision"] = [decision.get("action"), mode if mode in _HELD_MODES else None]
    learned = status.learning
    if learned is not None:
        data["learning"] = learned.q_table_config_map
    data["conditions"] = sorted(
        (c.get("type"), c.get("status"), c.get("reason")) for c in data.get("conditions") or []
    )
    return data


def _adopt_observed(
    policy: types.ScalingPolicy, memory: PolicyMemory, now: float, period: float
) -> None:
    """Take the status the API server shows as the last one written, when this instance has
    written none it is sure of (it has just started or taken the lead, or its last write
    failed). Without it a new leader wrote every policy's status at its first evaluation, a
    round of writes and watch echoes on top of the round itself. The refresh clock starts at
    the observed decision's time, so the fleet's refreshes keep their place, except that a
    refresh already due (the old leader's last writes are a minute old and more after the
    Lease expired) waits for a window that opens an evaluation interval or more from now: the
    first round writes news only, and a window open at the takeover is not crowded with the
    refreshes that fell due while no one led (`refresh.due`). A status
    with no decision was never written by an evaluation and is written in full."""
    observed = policy.status
    decision = observed.last_decision
    if decision is None:
        return
    memory.written = observed
    memory.written_essence = _essence(observed)
    interval = float(policy.spec.scaling.evaluation_interval)
    memory.written_at = min(
        now, max(decision.time.timestamp(), now - refresh.min_gap(period) + interval)
    )
    memory.refresh_paid = refresh.paid_until(0.0, memory.written_at, period)


@dataclasses.dataclass
class PolicyMemory:
    """Per-policy state kept between evaluations, next to the workflow's runtime."""

    runtime: runtime_.PolicyRuntime
    body: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # newest seen
    # The last body parsed and its model: a body is parsed once, not once per evaluation (a
    # watch event brings a new body object; models are never changed in place).
    parsed: tuple[Mapping[str, Any], types.ScalingPolicy] | None = None
    claims: claims_.Claims = lambda _: []
    generation: int | None = None
    status: types.ScalingPolicyStatus | None = None  # what the last evaluation built
    written: types.ScalingPolicyStatus | None = None  # what was last written (None: unsure)
    written_at: float = 0.0
    refresh_paid: float = 0.0  # no routine refresh before this (refresh.paid_until)
    written_essence: dict[str, Any] | None = None  # _essence(written), kept: not redone each time
    # The newest scale record this instance wrote or saw, whether or not the status write
    # that followed succeeded: never decide from an older one.
    record: types.ScalingPolicyStatus | None = None
    failures: int = 0
    crashes: int = 0  # evaluations in a row that raised
    gone: bool = False  # found deleted (or re-created under its name) by an evaluation
    seen_at: float = dataclasses.field(default_factory=time.monotonic)  # first sight
    started_at: float = float("-inf")  # monotonic start of this instance's last evaluation
    not_before: float = float("-inf")  # monotonic; no evaluation before (a takeover's round)
    wake: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Evaluator:
    """Everything one evaluation needs, shared by all policies of the operator."""

    def __init__(
        self,
        *,
        clients: kube.ClusterClients,
        permits: permits_.Permits,
        metrics: observability.Metrics,
        readiness: health.Readiness,
        graph: graph_.Compiled,
        identity: str,
        ownership: claims_.Ownership,
        clock: Callable[[], float] = time.time,
        may_write: Callable[[], bool] = lambda: True,
        targets: workloads.Reader = workloads.GETS,
        status_refresh: float = refresh.STATUS_REFRESH_SECONDS,
    ) -> None:
        self.clients = clients
        self.targets = targets
        # How often a status with nothing new is written anyway (controllers/refresh.py).
        self.status_refresh = status_refresh
        self.permits = permits
        self.metrics = metrics
        self.readiness = readiness
        self.graph = graph
        self.identity = identity
        self.ownership = ownership
        self.clock = clock
        # The leadership fence: False once this instance may no longer be the only writer.
        # Every write (status, scale record, scale, Event, ConfigMap) checks it.
        self.may_write = may_write
        self.phases: dict[str, str] = {}  # uid → phase, for the per-phase gauge

    def drop(self, uid: str) -> bool:
        """Forget a policy's phase; True when it had one."""
        had = self.phases.pop(uid, None)
        self.metrics.move_phase(had, None)
        return had is not None

    def _phase(self, uid: str, phase: str) -> None:
        self.metrics.move_phase(self.phases.get(uid), phase)
        self.phases[uid] = phase

    @property
    def store(self) -> learning.Store:
        """Where the policies' own Q-tables live (the operator's namespace)."""
        return learning.Store(self.clients.hub, self.permits.operator_namespace)

    async def run(
        self,
        policy: types.ScalingPolicy,
        memory: PolicyMemory,
        claims: claims_.Claims,
    ) -> float:
        """One evaluation of `policy` (its loop holds the runtime's lock); the seconds until
        the next one. Sets `memory.gone` when the policy turned out deleted or replaced."""
        spec, meta = policy.spec, policy.metadata
        namespace = meta.namespace or "default"
        memory.runtime.reconfigure(spec)
        previous = intents.newest(memory.status or policy.status, policy.status, memory.record)
        now, begun = self.clock(), time.monotonic()
        log = observability.policy_logger(logger, namespace, meta.name, spec.target.cluster)
        permit = await self.permits.check(policy)
        if permit.refusal is not None:
            return await self._refused(policy, memory, previous, permit.refusal, now)

        ref = workloads.TargetRef(
            kind=spec.target.kind,
            name=spec.target.name,
            namespace=(spec.target.namespace or namespace) if spec.target.cluster else namespace,
            cluster=spec.target.cluster,
        )
        api: Any | None = None
        api_error: errors.ClientError | None = None
        try:
            api = await self.clients.get(spec.target.cluster)
        except errors.ClientError as exc:
            api_error = exc

        conflict = self.ownership.conflict(policy, claims)
        conflict_known = True
        if conflict is None and api is not None:
            conflict, conflict_known = await self.ownership.hpa_conflict(api, ref, log)

        rt = memory.runtime
        extra: list[cond.Update] = []
        posted: list[notices.Notice] = []
        if not rt.learner_ready:
            loaded = await learning.load(self.store, policy, rt)
            if loaded.condition is not None:
                extra.append(loaded.condition)
            if loaded.baseline_beaten is not None:
                extra.append(loaded.baseline_beaten)
            posted.extend(loaded.notices)
        if rt.reset_reason is not None:
            kept = await learning.keep_replaced(self.store, policy, rt)
            message = f"the learner starts afresh: {rt.reset_reason}" + (
                f"; the old Q-table is kept as ConfigMap {kept}" if kept else ""
            )
            extra.append(cond.Update(cond.QTABLE_LOADED, False, "QTableReset", message))
            posted.append(notices.Notice("Warning", "QTableReset", message))
            rt.reset_reason = None

        decisions_so_far = previous.metrics.total_decisions if previous.metrics else 0
        inp = st.EvaluationInput(
            policy=memory.runtime.key,
            spec=spec,
            now=now,
            # Unique per attempt: a record is never mistaken for another evaluation's.
            evaluation_id=(
                f"{(meta.uid or '')[:8]}-g{meta.generation or 0}-d{decisions_so_far + 1}-"
                f"{secrets.token_hex(3)}"
            ),
            may_act=not spec.paused and conflict is None,
            last_scaling_time=intents.last_scaling(previous),
        )
        recorder = intents.Recorder(
            api=self.clients.hub,
            policy=policy,
            previous=previous,
            clock=self.clock,
            may_write=self.may_write,
            log=log,
        )

        async def record_outcome(succeeded: bool) -> None:
            await recorder.finish(succeeded=succeeded)

        ctx = st.EvaluationContext(
            target=ref,
            api=api,
            api_error=api_error,
            sources=self.sources(memory.runtime.key, spec, api, ref, permit.endpoint),
            runtime=memory.runtime,
            record_intent=recorder.begin,
            record_outcome=record_outcome,
            targets=self.targets,
        )
        if not self.may_write():  # the shard or the Lease went while this waited: read nothing
            return min(MAX_BACKOFF, float(spec.scaling.evaluation_interval))
        try:
            final = await graph_.run(self.graph, inp, ctx)
        finally:
            self.metrics.status_writes.labels(why="record").inc(recorder.written)
        outcome = status.Outcome.from_state(final)
        baseline_beaten = learning.baseline_condition(rt, outcome.learned)
        if baseline_beaten is not None:
            extra.append(baseline_beaten)
        transition = learning.transition_notice(outcome.learned)
        if transition is not None:
            posted.append(transition)
        learner_active = (
            rt.learner.phase == "Active" if rt.learner_ready else previous.phase == "Active"
        )
        target_error = final.get("error")
        if (
            spec.target.cluster
            and isinstance(target_error, errors.ApiError)
            and target_error.status == 401
        ):
            self.clients.invalidate(spec.target.cluster)  # re-read the credentials next time
        evaluated = target_error is None and not spec.paused and conflict is None
        verdict = phases.assess(
            phases.Facts(
                paused=spec.paused,
                target=ref.describe(),
                target_error=target_error,
                conflict=conflict,
                learner_active=learner_active,
                previous_phase=previous.phase,
                evaluated=evaluated,
                conflict_known=conflict_known,
            )
        )
        if recorder.gone:  # deleted, or re-created under the same name: not ours to write
            memory.gone = True
            return MAX_BACKOFF
        # The table is written before the status, so the status says whether it was.
        if self.may_write() and (saved := await learning.save(self.store, policy, rt, now)):
            extra.append(saved)
        new_status = status.build(
            previous=previous,
            spec=spec,
            generation=meta.generation,
            verdict=verdict,
            outcome=outcome,
            evaluated=evaluated and outcome.decision is not None,
            now=now,
            last_scale=recorder.action,
            learning=learning.learning_status(self.store, policy, rt, previous.learning),
            extra_conditions=tuple(extra),
        )
        memory.record = intents.newest(new_status, memory.record)
        written = await self.write(policy, new_status, memory)
        for notice in [*notices.derive(previous, new_status, outcome), *posted]:
            await self.post(policy, notice)
        read_at = rt.read_at
        observed = None if read_at is None or read_at < begun else now + (read_at - begun)
        self._count(policy, memory, verdict, outcome, log, observed)

        transient = (
            not written
            or outcome.scale_error is not None
            or (target_error is not None and verdict.phase != "Error")
        )
        memory.failures = memory.failures + 1 if transient else 0
        interval = float(spec.scaling.evaluation_interval)
        if memory.failures:
            # Retry sooner while a fault is fresh, then settle at the normal cadence.
            return min(interval, MAX_BACKOFF, 2.0 ** min(memory.failures, 6))
        return interval

    async def failed(self, memory: PolicyMemory, exc: Exception) -> None:
        policy = types.ScalingPolicy.model_validate(dict(memory.body))
        previous = intents.newest(memory.status or policy.status, policy.status, memory.record)
        message = f"the evaluation failed: {type(exc).__name__}: {exc}"[:1024]
        ready = cond.Update(cond.READY, False, "EvaluationFailed", message)
        new = previous.model_copy(
            update={
                "conditions": cond.apply(
                    previous.conditions,
                    [ready],
                    now=datetime.datetime.fromtimestamp(self.clock(), datetime.UTC),
                    generation=policy.metadata.generation,
                )
            }
        )
        was = cond.get(previous.conditions, cond.READY)
        await self.write(policy, new, memory)
        if was is None or (was.reason, was.message) != ("EvaluationFailed", message):
            await self.post(policy, notices.Notice("Warning", "EvaluationFailed", message))

    async def _refused(
        self,
        policy: types.ScalingPolicy,
        memory: PolicyMemory,
        previous: types.ScalingPolicyStatus,
        refusal: tenancy.Refusal,
        now: float,
    ) -> float:
        """The operator's configuration forbids this policy: Error, a condition and an Event
        in its own namespace, and nothing else (no target read, no query, no scale)."""
        spec, meta = policy.spec, policy.metadata
        verdict = phases.assess(
            phases.Facts(
                paused=spec.paused,
                target=spec.target.name,
                target_error=None,
                conflict=None,
                learner_active=False,
                previous_phase=previous.phase,
                evaluated=False,
                refusal=(refusal.reason, refusal.message),
            )
        )
        outcome = status.Outcome()
        new_status = status.build(
            previous=previous,
            spec=spec,
            generation=meta.generation,
            verdict=verdict,
            outcome=outcome,
            evaluated=False,
            now=now,
            last_scale=None,
            learning=previous.learning,
        )
        await self.write(policy, new_status, memory)
        for notice in notices.derive(previous, new_status, outcome):
            await self.post(policy, notice)
        self._phase(meta.uid or "", verdict.phase)
        return float(spec.scaling.evaluation_interval)

    def initial_status(self, policy: types.ScalingPolicy) -> types.ScalingPolicyStatus:
        now = self.clock()
        return types.ScalingPolicyStatus(
            phase="Initializing",
            observed_generation=policy.metadata.generation,
            conditions=cond.apply(
                [],
                [cond.Update(cond.READY, None, "Initializing", "validating the target")],
                now=datetime.datetime.fromtimestamp(now, datetime.UTC),
                generation=policy.metadata.generation,
            ),
        )

    def sources(
        self,
        key: str,
        spec: types.ScalingPolicySpec,
        api: Any | None,
        ref: workloads.TargetRef,
        endpoint: endpoints.Endpoint | None,
    ) -> list[sources.MetricSource]:
        found: list[sources.MetricSource] = []
        prom = spec.metrics.prometheus
        if prom is not None and endpoint is not None:
            found.append(self.permits.prometheus_source(key, prom, endpoint))
        cpu = spec.metrics.cpu
        if cpu is not None and api is not None:
            found.append(
                resource_metrics.CpuSource(
                    api=api,
                    namespace=ref.namespace,
                    target_utilization=cpu.target_utilization,
                    cluster=ref.cluster,
                )
            )
        return found

    async def write(
        self, policy: types.ScalingPolicy, new: types.ScalingPolicyStatus, memory: PolicyMemory
    ) -> bool:
        """Write the evaluation's status, unless nothing but counters and times changed since
        the last write and no refresh is due (then it is only remembered)."""
        now = self.clock()
        if memory.written is None:
            _adopt_observed(policy, memory, now, self.status_refresh)
        previous_write = memory.written or policy.status
        memory.status = compact.shared(new)  # kept until the next evaluation
        essence = _essence(new)
        if memory.written is None:
            why = "unsure"
        elif essence != memory.written_essence:
            why = "news"
        elif refresh.due(
            memory.written_at,
            memory.refresh_paid,
            now,
            refresh.phase(policy.metadata.uid or "", self.status_refresh),
            float(policy.spec.scaling.evaluation_interval),
            self.status_refresh,
        ):
            why = "refresh"
        else:
            return True
        if not self.may_write():
            return False
        # The scale record is written by its own state machine only (controllers/intents.py):
        # this write can never move it back, whatever view of the status it was built from.
        body = {k: v for k, v in new.to_json_dict().items() if k not in intents.RECORD_FIELDS}
        old = previous_write.to_json_dict()
        # Fields that disappeared must be nulled explicitly in a merge patch.
        for key in old:
            if key not in intents.RECORD_FIELDS:
                body.setdefault(key, None)
        try:
            await policies.patch_status(
                self.clients.hub,
                policy.metadata.namespace or "default",
                policy.metadata.name,
                body,
                uid=policy.metadata.uid,
                answer=False,  # nothing here reads the object back
            )
        except errors.ClientError as exc:
            logger.warning("status of %s not written: %s", memory.runtime.key, exc)
            memory.written = None  # unknown now: the next evaluation writes in full
            return False
        memory.written, memory.written_at, memory.written_essence = new, now, essence
        memory.refresh_paid = refresh.paid_until(memory.refresh_paid, now, self.status_refresh)
        self.metrics.status_writes.labels(why=why).inc()
        self.readiness.hub_ok_at = time.monotonic()
        return True

    async def post(self, policy: types.ScalingPolicy, notice: notices.Notice) -> None:
        if not self.may_write():
            return
        meta = policy.metadata
        await events.post(
            self.clients.hub,
            events.InvolvedObject(
                api_version=gv.API_VERSION,
                kind=gv.KIND,
                name=meta.name,
                namespace=meta.namespace or "default",
                uid=meta.uid or "",
            ),
            type_=notice.type,
            reason=notice.reason,
            message=notice.message,
            instance=self.identity,
        )

    async def reject(self, body: Mapping[str, Any], exc: pydantic.ValidationError) -> bool:
        """A body the models refuse (the schema should have): phase Error, never a crash.
        False when it could not be written (a standby, a failed write): report it again."""
        meta = body.get("metadata", {})
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = f"invalid spec at {where}: {first['msg']}"
        logger.error("policy %s/%s: %s", meta.get("namespace"), meta.get("name"), message)
        now = datetime.datetime.fromtimestamp(self.clock(), datetime.UTC)
        ready = types.Condition(
            type=cond.READY,
            status="False",
            reason="InvalidSpec",
            message=message,
            last_transition_time=now,
            observed_generation=meta.get("generation"),
        )
        patch = {"phase": "Error", "conditions": [ready.to_json_dict()]}
        if not self.may_write():
            return False
        try:
            await policies.patch_status(
                self.clients.hub,
                meta.get("namespace", "default"),
                meta.get("name", ""),
                patch,
                answer=False,
            )
        except errors.ClientError as write_error:
            logger.warning("could not record the invalid spec: %s", write_error)
            return False
        self.metrics.status_writes.labels(why="invalid").inc()
        return True

    def _count(
        self,
        policy: types.ScalingPolicy,
        memory: PolicyMemory,
        verdict: phases.Verdict,
        outcome: status.Outcome,
        log: logging.LoggerAdapter[logging.Logger],
        observed: float | None = None,
    ) -> None:
        """Count the evaluation in /metrics and log its decision, with `observed`: when the
        target's read was answered (the clock's time), from which the gaps between one
        policy's observations are measured (benchmarks/scale_decisions.py)."""
        m = self.metrics
        m.workflows.inc()
        decision = outcome.decision
        if decision is not None and outcome.scale_error is None:
            m.workflows_successful.inc()
        if decision is not None:
            m.decisions.labels(action=decision.action, mode=decision.mode).inc()
            if observed is not None:
                log = logging.LoggerAdapter(log.logger, {**(log.extra or {}), "observed": observed})
            log.info(
                "decision %s %d→%d (%s): %s",
                decision.action,
                decision.from_replicas,
                decision.to_replicas,
                decision.mode,
                decision.reasoning,
            )
        if outcome.scaled_to is not None and decision is not None:
            direction = "up" if outcome.scaled_to > decision.from_replicas else "down"
            m.scaling_actions.labels(direction=direction).inc()
        key = memory.runtime.key
        if outcome.fallback_rung is not None:
            m.fallbacks.labels(policy=key, rung=outcome.fallback_rung).inc()
        if outcome.target is not None:
            current = (
                outcome.scaled_to if outcome.scaled_to is not None else outcome.target.replicas
            )
            m.replicas.labels(policy=key, kind="current").set(current)
            m.replicas.labels(policy=key, kind="ready").set(outcome.target.ready_replicas)
        if decision is not None:
            m.replicas.labels(policy=key, kind="desired").set(decision.to_replicas)
        if outcome.reading is not None:
            m.utilization.labels(policy=key).set(outcome.reading.utilization)
        rt = memory.runtime
        if rt.learner_ready:
            m.epsilon.labels(policy=key).set(rt.learner.epsilon)
            vetoes = rt.learner.shield_interventions - rt.shield_seen
            if vetoes > 0:
                m.shield_interventions.labels(policy=key).inc(vetoes)
            rt.shield_seen = rt.learner.shield_interventions
        if outcome.learned is not None:
            m.reward.labels(policy=key).set(outcome.learned.reward)
            rt.regret_total += outcome.learned.regret
            m.regret.labels(policy=key).set(rt.regret_total)
        self._phase(policy.metadata.uid or "", verdict.phase)

"""Evaluate ScalingPolicies: the glue between kopf, the workflow, the clients and status.

One `Reconciler` per operator process. Each policy is evaluated by one daemon task at a time
(its per-policy lock also serializes the change handlers). The reconciler is the only writer
of `.status`; it keeps what it last wrote, because the watch may deliver our own writes late.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import pydantic

from api.v1 import groupversion_info as gv, scalingpolicy_types as types
from controllers import (
    conditions as cond,
    health,
    intents,
    learning,
    notices,
    observability,
    permits as permits_,
    phases,
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
from nimbusguard.workflow import runtime as runtime_, state as st

logger = logging.getLogger(__name__)

# (cluster or "", namespace, kind, name) of a target; the kopf index is keyed by it.
TargetKey = tuple[str, str, str, str]
# (creationTimestamp, namespace, name, uid) of a policy naming a target.
Claim = tuple[str, str, str, str]
Claims = Callable[[TargetKey], list[Claim]]

HPA_CACHE_SECONDS = 30.0
MAX_BACKOFF = 60.0
SWEEP_SECONDS = 60.0


def target_key(namespace: str, spec: Mapping[str, Any]) -> TargetKey:
    target = spec.get("target") or {}
    cluster = target.get("cluster") or ""
    ns = (target.get("namespace") or namespace) if cluster else namespace
    return (cluster, ns, target.get("kind") or "Deployment", target.get("name") or "")


def first_claim(claims: Iterable[Claim]) -> Claim | None:
    """The policy that owns a target: the oldest, ties broken by namespace/name."""
    return min(claims, default=None)


@dataclasses.dataclass
class _Memory:
    """Per-policy state the reconciler keeps next to the workflow's runtime."""

    runtime: runtime_.PolicyRuntime
    body: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # newest seen
    claims: Callable[[TargetKey], list[Claim]] = lambda _: []
    generation: int | None = None
    status: types.ScalingPolicyStatus | None = None  # what we last wrote
    # The newest scale record this instance wrote or saw, whether or not the status write
    # that followed succeeded: never decide from an older one.
    record: types.ScalingPolicyStatus | None = None
    failures: int = 0
    crashes: int = 0  # evaluations in a row that raised
    seen_at: float = dataclasses.field(default_factory=time.monotonic)  # first sight
    wake: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Reconciler:
    def __init__(
        self,
        *,
        clients: kube.ClusterClients,
        permits: permits_.Permits,
        metrics: observability.Metrics,
        readiness: health.Readiness,
        graph: Any,
        identity: str,
        clock: Callable[[], float] = time.time,
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        self.clients = clients
        self.permits = permits
        self.metrics = metrics
        self.readiness = readiness
        self.graph = graph
        self.identity = identity
        self.clock = clock
        # The leadership fence: False once this instance may no longer be the only writer.
        self.may_write = may_write
        self._memory: dict[str, _Memory] = {}
        self._phases: dict[str, str] = {}
        # Per (cluster, namespace): when listed, and every HPA's target there.
        self._hpas: dict[tuple[str, str], tuple[float, list[workloads.HpaTarget]]] = {}
        self._rejected: dict[str, int | None] = {}  # uid → generation already reported
        # uids of policies known to be gone: their claims in kopf's index (which a relist
        # never purges) no longer count.
        self._vanished: set[str] = set()
        self._claimed: set[str] = set()  # uids seen claiming a target

    @property
    def _store(self) -> learning.Store:
        """Where the policies' own Q-tables live (the operator's namespace)."""
        return learning.Store(self.clients.hub, self.permits.operator_namespace)

    # -- entry points used by the kopf handlers ----------------------------------------------

    async def observe(self, body: Mapping[str, Any], claims: Claims, *, wake: bool = False) -> None:
        """A policy was seen: keep its newest body, start its evaluation loop on first sight,
        and wake the loop when the spec changed (or `wake`). Cheap, because our own status
        writes come back here as watch events too."""
        meta = body["metadata"]
        uid = meta["uid"]
        memory = self._memory.get(uid)
        if memory is not None:
            memory.body, memory.claims = body, claims
            if wake or meta.get("generation") != memory.generation:
                memory.generation = meta.get("generation")
                memory.wake.set()
            return
        try:
            policy = types.ScalingPolicy.model_validate(dict(body))
        except pydantic.ValidationError as exc:
            if self._rejected.get(uid) != meta.get("generation"):
                self._rejected[uid] = meta.get("generation")
                await self._reject(body, exc)
            return
        self._rejected.pop(uid, None)
        self._vanished.discard(uid)
        memory = self._remember(uid, policy)
        memory.body, memory.claims, memory.generation = body, claims, meta.get("generation")
        self.metrics.policies.inc()
        if policy.status.phase is None:
            await self._write(policy, self._initial_status(policy), memory)
        memory.task = asyncio.create_task(self._loop(uid), name=f"evaluate {memory.runtime.key}")

    async def _loop(self, uid: str) -> None:
        """Evaluate one policy, then wait for its interval or a wake-up; until forgotten."""
        # Spread the first evaluations of many policies found at start-up.
        await asyncio.sleep(random.uniform(0.0, 0.5))  # noqa: S311 (not security-relevant)
        while (memory := self._memory.get(uid)) is not None:
            memory.wake.clear()
            delay = await self.run_once(uid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(memory.wake.wait(), timeout=delay)

    async def run_once(self, uid: str) -> float:
        """One evaluation of a remembered policy; the seconds until the next one.

        Any exception is the policy's fault to report, not the loop's end: Ready=False with
        reason EvaluationFailed naming it, an Event, and a retry that backs off to
        MAX_BACKOFF but never stops."""
        memory = self._memory.get(uid)
        if memory is None:
            return MAX_BACKOFF
        try:
            delay = await self.evaluate(memory.body, memory.claims)
        except Exception as exc:
            memory.crashes += 1
            delay = min(MAX_BACKOFF, 2.0**memory.crashes)
            logger.exception("evaluating %s failed; retrying in %.0fs", memory.runtime.key, delay)
            try:
                await self._failed(memory, exc)
            except Exception:
                logger.exception("could not report the failure of %s", memory.runtime.key)
            return delay
        memory.crashes = 0
        return delay

    async def _failed(self, memory: _Memory, exc: Exception) -> None:
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
        await self._write(policy, new, memory)
        if was is None or (was.reason, was.message) != ("EvaluationFailed", message):
            await self._post(policy, notices.Notice("Warning", "EvaluationFailed", message))

    async def sweep(self, live: set[str], listed_at: float) -> int:
        """Forget every policy whose uid is not in `live`, a LIST that started at
        `listed_at` (monotonic): the deletions a watch that relisted after a gap never
        reported. Policies first seen after the LIST started are left alone. Returns how
        many were forgotten."""
        gone = [
            memory.body
            for uid, memory in list(self._memory.items())
            if uid not in live and memory.seen_at < listed_at and memory.body.get("metadata")
        ]
        stale_claims = set(self._claimed) - live
        self._vanished |= stale_claims
        for body in gone:
            logger.warning(
                "%s/%s is gone (missed by the watch); stopping its evaluations",
                body["metadata"].get("namespace"),
                body["metadata"].get("name"),
            )
            await self.forget(body)
        return len(gone)

    async def sweep_forever(
        self, list_uids: Callable[[], Awaitable[set[str]]], period: float = SWEEP_SECONDS
    ) -> None:
        """`sweep` against a fresh LIST every `period` seconds, until cancelled."""
        while True:
            await asyncio.sleep(period)
            try:
                listed_at = time.monotonic()
                await self.sweep(await list_uids(), listed_at)
            except errors.ClientError as exc:
                logger.warning("could not list ScalingPolicies to find vanished ones: %s", exc)

    async def forget(self, body: Mapping[str, Any]) -> None:
        """The policy is gone (or going): stop its loop, drop its series and memory. The target
        keeps its replicas."""
        meta = body["metadata"]
        uid = meta["uid"]
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        memory = self._memory.pop(uid, None)
        self._rejected.pop(uid, None)
        self._vanished.add(uid)
        if (
            memory is not None
            and memory.task is not None
            and memory.task is not asyncio.current_task()
        ):
            memory.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await memory.task
        if memory is not None:
            await learning.discard(self._store, uid, key)
        if self._phases.pop(uid, None) is not None or memory is not None:
            self.metrics.forget_policy(key)
            self.metrics.set_phases(self._phases)
            logger.info("forgot %s; its target keeps its replicas", key)

    async def shutdown(self) -> None:
        """The operator is stopping: let evaluations in flight finish, stop the loops, and
        write every Q-table that learned since its last write."""
        now = self.clock()
        for memory in list(self._memory.values()):
            async with memory.runtime.lock:
                if memory.task is not None:
                    memory.task.cancel()
                try:
                    policy = types.ScalingPolicy.model_validate(dict(memory.body))
                except pydantic.ValidationError:
                    continue
                await learning.persist(self._store, policy, memory.runtime, now, force=True)
        for memory in list(self._memory.values()):
            if memory.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await memory.task

    # -- one evaluation ----------------------------------------------------------------------

    async def evaluate(
        self, body: Mapping[str, Any], claims: Callable[[TargetKey], list[Claim]]
    ) -> float:
        """Evaluate one adopted policy now; returns the seconds until the next evaluation."""
        uid = body["metadata"]["uid"]
        try:
            policy = types.ScalingPolicy.model_validate(dict(body))
        except pydantic.ValidationError as exc:
            if self._rejected.get(uid) != body["metadata"].get("generation"):
                self._rejected[uid] = body["metadata"].get("generation")
                await self._reject(body, exc)
            return MAX_BACKOFF
        memory = self._memory.get(uid)
        if memory is None:  # forgotten meanwhile
            return MAX_BACKOFF
        async with memory.runtime.lock:
            started = time.perf_counter()
            try:
                return await self._evaluate(policy, memory, claims)
            finally:
                self.metrics.reconcile_duration.labels(handler="evaluate").observe(
                    time.perf_counter() - started
                )

    async def _evaluate(
        self,
        policy: types.ScalingPolicy,
        memory: _Memory,
        claims: Callable[[TargetKey], list[Claim]],
    ) -> float:
        spec, meta = policy.spec, policy.metadata
        namespace = meta.namespace or "default"
        memory.runtime.reconfigure(spec)
        previous = intents.newest(memory.status or policy.status, policy.status, memory.record)
        now = self.clock()
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

        conflict = self._conflict(policy, claims)
        conflict_known = True
        if conflict is None and api is not None:
            conflict, conflict_known = await self._hpa_conflict(api, ref, log)

        rt = memory.runtime
        extra: list[cond.Update] = []
        posted: list[notices.Notice] = []
        if not rt.learner_ready:
            loaded = await learning.load(self._store, policy, rt)
            if loaded.condition is not None:
                extra.append(loaded.condition)
            posted.extend(loaded.notices)
        if rt.reset_reason is not None:
            kept = await learning.keep_replaced(self._store, policy, rt)
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
            sources=self._sources(memory.runtime.key, spec, api, ref, permit.endpoint),
            runtime=memory.runtime,
            record_intent=recorder.begin,
            record_outcome=record_outcome,
        )
        final: st.EvaluationState = await self.graph.ainvoke({"input": inp}, context=ctx)
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
        new_status = status.build(
            previous=previous,
            spec=spec,
            generation=meta.generation,
            verdict=verdict,
            outcome=outcome,
            evaluated=evaluated and outcome.decision is not None,
            now=now,
            last_scale=recorder.action,
            learning=learning.learning_status(self._store, policy, rt, previous.learning),
            extra_conditions=tuple(extra),
        )
        if recorder.gone:  # deleted, or re-created under the same name: not ours to write
            await self.forget(policy.model_dump(by_alias=True, mode="json"))
            return MAX_BACKOFF
        memory.record = intents.newest(new_status, memory.record)
        written = await self._write(policy, new_status, memory)
        for notice in [*notices.derive(previous, new_status, outcome), *posted]:
            await self._post(policy, notice)
        await learning.persist(self._store, policy, rt, now, force=False)
        self._count(policy, memory, verdict, outcome, log)

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

    async def _refused(
        self,
        policy: types.ScalingPolicy,
        memory: _Memory,
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
        await self._write(policy, new_status, memory)
        for notice in notices.derive(previous, new_status, outcome):
            await self._post(policy, notice)
        self._phases[meta.uid or ""] = verdict.phase
        self.metrics.set_phases(self._phases)
        return float(spec.scaling.evaluation_interval)

    # -- pieces ------------------------------------------------------------------------------

    def _remember(self, uid: str, policy: types.ScalingPolicy) -> _Memory:
        memory = self._memory.get(uid)
        if memory is None:
            key = f"{policy.metadata.namespace}/{policy.metadata.name}"
            memory = _Memory(runtime=runtime_.PolicyRuntime.create(key, policy.spec))
            self._memory[uid] = memory
        return memory

    def _initial_status(self, policy: types.ScalingPolicy) -> types.ScalingPolicyStatus:
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

    def _conflict(
        self, policy: types.ScalingPolicy, claims: Callable[[TargetKey], list[Claim]]
    ) -> str | None:
        namespace = policy.metadata.namespace or "default"
        key = target_key(namespace, policy.spec.model_dump(by_alias=True))
        found = claims(key)
        self._claimed.update(c[3] for c in found)
        owner = first_claim(c for c in found if c[3] not in self._vanished)
        if owner is None or owner[3] == policy.metadata.uid:
            return None
        # Another tenant's policy is not named to this one.
        who = (
            f"ScalingPolicy {owner[1]}/{owner[2]}"
            if owner[1] == namespace
            else ("a ScalingPolicy of another namespace")
        )
        return f"{who} already scales this target (the oldest policy wins); this one will not act"

    async def _hpa_conflict(
        self, api: Any, ref: workloads.TargetRef, log: logging.LoggerAdapter[logging.Logger]
    ) -> tuple[str | None, bool]:
        """(why an HPA owns the target, or None; whether that could be checked at all).

        Fails closed: when the HPAs cannot be listed, the policy does not act (Conflict
        Unknown) rather than fight an autoscaler it cannot see."""
        cache_key = (ref.cluster or "", ref.namespace)
        cached = self._hpas.get(cache_key)
        now = time.monotonic()
        if cached is None or now - cached[0] > HPA_CACHE_SECONDS:
            try:
                targets = await workloads.hpa_targets(api, ref.namespace, ref.cluster)
            except errors.ClientError as exc:
                log.info("could not list HorizontalPodAutoscalers: %s", exc)
                return (
                    f"cannot tell whether a HorizontalPodAutoscaler also scales "
                    f"{ref.describe()} (listing them failed: {exc.message}); not acting until "
                    "it can be checked",
                    False,
                )
            cached = (now, targets)
            self._hpas[cache_key] = cached
        hpas = workloads.competing_hpas(cached[1], ref)
        if not hpas:
            return None, True
        return (
            f"HorizontalPodAutoscaler {', '.join(hpas)} also scales {ref.describe()}; remove it "
            "or this policy",
            True,
        )

    def _sources(
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

    async def _write(
        self, policy: types.ScalingPolicy, new: types.ScalingPolicyStatus, memory: _Memory
    ) -> bool:
        # The scale record is written by its own state machine only (controllers/intents.py):
        # this write can never move it back, whatever view of the status it was built from.
        body = {k: v for k, v in new.to_json_dict().items() if k not in intents.RECORD_FIELDS}
        old = (memory.status or policy.status).to_json_dict()
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
            )
        except errors.ClientError as exc:
            logger.warning("status of %s not written: %s", memory.runtime.key, exc)
            return False
        memory.status = new
        self.readiness.hub_ok_at = time.monotonic()
        return True

    async def _post(self, policy: types.ScalingPolicy, notice: notices.Notice) -> None:
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

    async def _reject(self, body: Mapping[str, Any], exc: pydantic.ValidationError) -> None:
        """A body the models refuse (the schema should have): phase Error, never a crash."""
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
        try:
            await policies.patch_status(
                self.clients.hub, meta.get("namespace", "default"), meta.get("name", ""), patch
            )
        except errors.ClientError as write_error:
            logger.warning("could not record the invalid spec: %s", write_error)

    def _count(
        self,
        policy: types.ScalingPolicy,
        memory: _Memory,
        verdict: phases.Verdict,
        outcome: status.Outcome,
        log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        m = self.metrics
        m.workflows.inc()
        decision = outcome.decision
        if decision is not None and outcome.scale_error is None:
            m.workflows_successful.inc()
        if decision is not None:
            m.decisions.labels(action=decision.action, mode=decision.mode).inc()
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
        self._phases[policy.metadata.uid or ""] = verdict.phase
        m.set_phases(self._phases)

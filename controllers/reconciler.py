"""The per-policy evaluation loops: their lifecycle, from first sight to forgetting.

One `Reconciler` per operator process, fed by the kopf handlers (controllers/handlers.py):

    observe (first sight) → loop: [first delay] → evaluate → wait(interval | wake-up) → …
    forget  (DELETED, or missing from a periodic LIST: `sweep`) → the loop is cancelled
    stop    (shutdown / lost Lease) → every loop cancelled at once; nothing starts again

A standby (leader election) runs the same loops without evaluating: each reads its policy's
Q-table as it is written (`prepare`, against the tables' resourceVersions listed every
TABLES_SECONDS), so that on `take_over` the new leader re-reads only the tables written since
and every policy's next evaluation comes at its own place in the interval, as the previous
leader's did, rather than all at once after a listing and a thousand table reads.

Each policy is evaluated by its own task, one evaluation at a time (its runtime's lock). The
evaluation itself is controllers/evaluation.py; ownership checks controllers/claims.py; the
write-ahead scale record controllers/intents.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pydantic

from api.v1 import scalingpolicy_types as types
from controllers import (
    cadence as cadence_,
    claims as claims_,
    compact,
    evaluation,
    health,
    learning,
    observability,
    permits as permits_,
    refresh,
)
from nimbusguard.clients import errors, kube, qtables, workloads
from nimbusguard.workflow import graph as graph_, runtime as runtime_

logger = logging.getLogger(__name__)

MAX_BACKOFF = evaluation.MAX_BACKOFF
SWEEP_SECONDS = 60.0
# Policies seen this soon after start (or takeover) are the initial listing.
STARTUP_WINDOW = 10.0
# The initial listing is spread over one interval, but never over more than this: an hourly
# policy that was never evaluated must not wait an hour for its first phase.
STARTUP_SPREAD_MAX = 60.0
# The most one evaluation's due time moves toward its policy's place, as a share of the
# interval: what a stall's bunch recovers per round, and how much closer than an interval two
# reads of a policy may come (`toward_place`).
PLACE_PULL = 0.05
# A process whose most overdue policy waits this long past its due time is behind: it no
# longer retries failed evaluations early (see `paced`).
LAGGING_SECONDS = 5.0
# Evaluations in flight at once (`--max-concurrent-evaluations`). A few suffice to keep up
# (an evaluation mostly waits for its I/O); without a bound a process behind its schedule has
# every policy in flight, its requests queue for the event loop and the connection pool until
# they time out, and the failed writes and their retries are more load (docs/scaling.md).
MAX_CONCURRENT = 32
# How often a standby lists the Q-tables' resourceVersions to find those written since it
# read them (a metadata-only LIST; the tables found changed are read at their loop's next tick).
TABLES_SECONDS = 30.0
# The policy the current task evaluates: its writes are fenced by its shard as well as by the
# leader Lease (a task evaluates one policy at a time; see Reconciler.fence).
_EVALUATING: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "nimbusguard_evaluating", default=None
)


class Reconciler:
    def __init__(
        self,
        *,
        clients: kube.ClusterClients,
        permits: permits_.Permits,
        metrics: observability.Metrics,
        readiness: health.Readiness,
        graph: graph_.Compiled,
        identity: str,
        clock: Callable[[], float] = time.time,
        may_write: Callable[[], bool] = lambda: True,
        owns: Callable[[str], bool] = lambda _: True,
        handed_over: Callable[[str], float | None] = lambda _: None,
        max_concurrent: int = MAX_CONCURRENT,
        standby: bool = False,
        targets: workloads.Reader = workloads.GETS,
        status_refresh: float = refresh.STATUS_REFRESH_SECONDS,
    ) -> None:
        self.metrics = metrics
        # Set once this instance may evaluate: at once, or for a standby at `take_over`.
        self.acting = asyncio.Event()
        if not standby:
            self.acting.set()
        # What a standby read: policy uid → resourceVersion of the table it restored, and the
        # tables' newest resourceVersions (ConfigMap name → version) as last listed.
        self._prepared: dict[str, str] = {}
        self._listed: dict[str, str] = {}
        # Turns to evaluate: a policy waits here past its due time, which is its lag.
        self.turns = asyncio.Semaphore(max_concurrent)
        # Whether this instance evaluates a policy (uid): a hook for sharding; all by default.
        self.owns = owns
        # When another replica gave up the policy's shard to this one (monotonic), or None.
        self.handed_over = handed_over
        self.clock = clock
        # The leadership fence: False once this instance may no longer be the only writer.
        self.may_write = may_write
        self.ownership = claims_.Ownership()
        self.evaluator = evaluation.Evaluator(
            clients=clients,
            permits=permits,
            metrics=metrics,
            readiness=readiness,
            graph=graph,
            identity=identity,
            ownership=self.ownership,
            clock=clock,
            may_write=self.fence,
            targets=targets,
            status_refresh=status_refresh,
        )
        self.closing = False  # stopping: no new loops, no new evaluations
        self._started = time.monotonic()
        self._memory: dict[str, evaluation.PolicyMemory] = {}
        self._rejected: dict[str, int | None] = {}  # uid → generation already reported
        # The remembered policies this instance owned when last asked: kept per policy as
        # policies come and go (a start-up listing of N policies costs N `owns` calls, not
        # N²/2), recounted in full only when the shards held change.
        self._owned: set[str] = set()
        self.cadence = cadence_.Cadence(metrics)  # lag and overdue: is this process keeping up?

    def fence(self) -> bool:
        """Whether the current evaluation may still write: this instance leads (the Lease's
        fence) and, when sharded, still holds the evaluated policy's shard. A shard can be
        taken by another replica while an evaluation that began in time is under way (this
        process starved past its renew deadline); its writes stop then, as a lost leader's."""
        uid = _EVALUATING.get()
        return self.may_write() and (uid is None or self.owns(uid))

    # -- entry points used by the kopf handlers ----------------------------------------------

    async def observe(
        self, body: Mapping[str, Any], claims: claims_.Claims, *, wake: bool = False
    ) -> None:
        """A policy was seen: keep its newest body, start its evaluation loop on first sight,
        and wake the loop when the spec changed (or `wake`). Cheap, because our own status
        writes come back here as watch events too."""
        if self.closing:
            return
        body = slim(body)
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
            if self._rejected.get(uid) != meta.get("generation") and await self.evaluator.reject(
                body, exc
            ):
                self._rejected[uid] = meta.get("generation")
            return
        self._rejected.pop(uid, None)
        self.ownership.seen(uid)
        memory = self._remember(uid, policy)
        memory.body, memory.claims, memory.generation = body, claims, meta.get("generation")
        self.metrics.policies.inc()
        self._count_one(uid)
        initial = policy if policy.status.phase is None else None
        memory.task = asyncio.create_task(
            self._loop(uid, initial), name=f"evaluate {memory.runtime.key}"
        )

    def standing_by(self) -> bool:
        """A standby: it follows the policies and their tables, and evaluates nothing."""
        return not self.acting.is_set()

    def _count_one(self, uid: str) -> None:
        """A policy was remembered or forgotten: update the owned-policies gauge for it alone."""
        if uid in self._memory and self.owns(uid) and not self.standing_by():
            self._owned.add(uid)
        else:
            self._owned.discard(uid)
        self.metrics.owned_policies.set(len(self._owned))

    def _count_owned(self) -> None:
        """Recount every policy: the shards held changed, so any of them may have moved."""
        acting = not self.standing_by()
        self._owned = {uid for uid in self._memory if acting and self.owns(uid)}
        self.metrics.owned_policies.set(len(self._owned))

    async def _loop(self, uid: str, initial: types.ScalingPolicy | None = None) -> None:
        """Evaluate one policy, then wait for its interval or a wake-up; until forgotten.
        A policy without a phase first gets the Initializing status, in its turn like an
        evaluation: a start-up listing of a thousand new policies is not a thousand writes
        at once."""
        memory = self._memory.get(uid)
        if memory is None:
            return
        # Another shard's is written by its holder; a standby's by the leader.
        if initial is not None and self.owns(uid) and not self.standing_by():
            async with self.turns, memory.runtime.lock:
                try:
                    await self.evaluator.write(
                        initial, self.evaluator.initial_status(initial), memory
                    )
                except Exception:  # whatever happens to it, the policy is evaluated
                    logger.exception("could not write the initial status of %s", memory.runtime.key)
            initial = None  # this frame lives as long as the policy: keep no model of it
        await asyncio.sleep(self.first_delay(_interval(memory.body), uid))
        while (memory := self._memory.get(uid)) is not None and not self.closing:
            memory.wake.clear()
            if not self.owns(uid):  # another replica's shard: look again one interval later
                self.cadence.forget(uid)
                delay = min(MAX_BACKOFF, _interval(memory.body))
            elif self.standing_by():
                await self._prepare(uid, memory)
                delay = until_place(uid, _interval(memory.body), time.monotonic())
            elif (settle := self._settling(uid, memory)) > 0:
                delay = settle
            else:
                async with self.turns:
                    if self._memory.get(uid) is not memory or self.closing:
                        break  # forgotten while it waited for its turn
                    memory.started_at = time.monotonic()
                    self.cadence.started(uid)
                    interval = _interval(memory.body)
                    delay = self.paced(await self.run_once(uid), interval)
                    anchor = _anchor(memory)
                due = anchor + delay
                if delay >= interval:  # the regular cadence, not a retry
                    due = toward_place(uid, interval, due)
                self.cadence.scheduled(uid, due - anchor, since=anchor)
                delay = max(0.0, due - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(memory.wake.wait(), timeout=delay)

    async def _prepare(self, uid: str, memory: evaluation.PolicyMemory) -> None:
        """A standby's tick: read the policy's table when the last listing shows a version
        other than the one restored (or none restored yet). Not a turn's worth of evaluation,
        but a read and a decode: it takes a turn, so a standby starting next to a thousand
        policies reads at most `max_concurrent` tables at once."""
        listed = self._listed.get(qtables.table_name(uid))
        if listed is None or self._prepared.get(uid) == listed:
            return  # nothing stored yet (the leader writes it), or read at this version
        try:
            policy = self._parse(memory)
        except pydantic.ValidationError:
            return  # reported by the leader; nothing to prepare
        async with self.turns, memory.runtime.lock:
            if self._memory.get(uid) is not memory or not self.standing_by():
                return  # forgotten, or took over while this waited: `load` reads it then
            try:
                version = await learning.prepare(self.evaluator.store, policy, memory.runtime)
            except errors.ClientError as exc:
                self.metrics.standby_table_errors.labels(operation="read").inc()
                logger.info("standby: Q-table of %s not read: %s", memory.runtime.key, exc)
                return
            if not self.standing_by():  # took over during the read: it may be older
                memory.runtime.learner_ready = False
            else:
                # Also when nothing was restored (an unreadable table, left to the leader's
                # `load`): read again only once it is written again, not at every tick.
                self._prepared[uid] = version or listed

    async def follow_tables(self, period: float = TABLES_SECONDS) -> None:
        """While standing by, list the tables' resourceVersions every `period` seconds (the
        loops read the changed ones); returns once this instance acts."""
        while self.standing_by():
            try:
                self._listed = await learning.versions(self.evaluator.store)
            except errors.ClientError as exc:
                self.metrics.standby_table_errors.labels(operation="list").inc()
                logger.warning("standby: could not list the Q-tables: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.acting.wait(), timeout=period)

    async def take_over(self) -> None:
        """This instance leads now: keep each table read while standing by only if it is
        still the stored version (the previous leader may have written it since; it can no
        longer write once this one leads), then evaluate. A table not kept, or every one when
        the listing fails, is read by the policy's first evaluation, as at a cold start; one
        the listing does not hold is not asked for. Each policy is first evaluated at its
        place in the interval, the round shortened by PLACE_PULL."""
        try:
            listed: dict[str, str] | None = await learning.versions(self.evaluator.store)
        except errors.ClientError as exc:
            logger.warning("took over; the Q-tables read while standing by are read again: %s", exc)
            listed = None
        kept = absent = 0
        now = time.monotonic()
        for uid, memory in self._memory.items():
            name = qtables.table_name(uid)
            version = self._prepared.get(uid)
            if version is not None and listed is not None and listed.get(name) == version:
                kept += 1
            elif version is not None:
                memory.runtime.learner_ready = False
            if listed is not None and name not in listed and not memory.runtime.learner_ready:
                memory.runtime.table_listed_absent = True
                absent += 1
            # The round after a takeover ends 5 % of an interval early (the pull every schedule
            # allows), so that every policy is evaluated within one interval of leading, with
            # room for its turn; the next round is back at the places.
            interval = _interval(memory.body)
            memory.not_before = now + (1.0 - PLACE_PULL) * until_place(uid, interval, now)
            memory.wake.set()
        logger.info(
            "took over %d policies; %d of %d Q-tables read while standing by are current, "
            "%d policies have none stored yet",
            len(self._memory),
            kept,
            len(self._prepared),
            absent,
        )
        self._prepared.clear()
        self._listed = {}
        self.acting.set()
        self._count_owned()

    def _settling(self, uid: str, memory: evaluation.PolicyMemory) -> float:
        """Seconds to hold back the first evaluation of a policy whose shard another replica
        gave up: that replica may have evaluated it just before, so this one waits until one
        interval after the release, and no policy is evaluated twice within an interval
        across a handover. Also the wait for a policy's place in the first round after a
        takeover (`take_over`). 0 for everything else (a dead holder's shard is taken only
        after its Lease expired)."""
        now = time.monotonic()
        wait = memory.not_before - now  # a takeover's first round (`take_over`)
        released = self.handed_over(uid)
        if released is None or memory.started_at >= released:
            return max(0.0, wait)
        return max(wait, released + _interval(memory.body) - now)

    def paced(self, delay: float, interval: float) -> float:
        """The wait before the next evaluation: `delay`, except that a retry sooner than the
        interval (a failed write or scale, an exception) waits the interval (at most
        MAX_BACKOFF) while the process is behind. Under overload the failures are mostly
        timeouts of the process's own making, and an early retry is more load exactly when
        it cannot keep up."""
        floor = min(interval, MAX_BACKOFF)
        if delay < floor and self.cadence.overdue() > LAGGING_SECONDS:
            return floor
        return delay

    def first_delay(self, interval: float, uid: str) -> float:
        """When to evaluate a policy first: the policies found at start-up or takeover are
        spread over one interval, at most STARTUP_SPREAD_MAX (a thousand policies must not all
        hit the API servers and Prometheus in the same second), each at its own place in the
        interval where its later evaluations settle (`toward_place`); a policy created later
        goes at once."""
        now = time.monotonic()
        if now - self._started < STARTUP_WINDOW:
            if interval <= STARTUP_SPREAD_MAX:
                return until_place(uid, interval, now)
            return random.uniform(0.0, STARTUP_SPREAD_MAX)  # noqa: S311 (not security-relevant)
        return random.uniform(0.0, 0.5)  # noqa: S311

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
                await self.evaluator.failed(memory, exc)
            except Exception:
                logger.exception("could not report the failure of %s", memory.runtime.key)
            return delay
        memory.crashes = 0
        return delay

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
        self.ownership.sweep(live)
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

    def recount(self) -> None:
        """Shards were gained or lost: count the policies this instance owns now."""
        self._count_owned()

    async def quiesce(self, shards: frozenset[int]) -> None:
        """Shards were given up (`owns` is already False for their policies): return once no
        evaluation of a policy this instance no longer owns is in flight, so that the next
        holder of the shard never overlaps it."""
        del shards  # which policies they held is what `owns` says now
        for uid, memory in list(self._memory.items()):
            if not self.owns(uid):
                async with memory.runtime.lock:
                    self.cadence.forget(uid)
        self._count_owned()

    async def forget(self, body: Mapping[str, Any]) -> None:
        """The policy is gone (or going): stop its loop, drop its series and memory. The target
        keeps its replicas."""
        meta = body["metadata"]
        uid = meta["uid"]
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        memory = self._memory.pop(uid, None)
        self._rejected.pop(uid, None)
        self._prepared.pop(uid, None)
        self.ownership.gone(uid)
        self.cadence.forget(uid)
        self._count_one(uid)
        if (
            memory is not None
            and memory.task is not None
            and memory.task is not asyncio.current_task()
        ):
            memory.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await memory.task
        if memory is not None and self.may_write():
            await learning.discard(self.evaluator.store, uid, key)
        if self.evaluator.drop(uid) or memory is not None:
            self.metrics.forget_policy(key)
            logger.info("forgot %s; its target keeps its replicas", key)

    async def stop(self, deadline: float) -> None:
        """Stop every policy loop now, all at once: cancel them (an evaluation in flight
        stops at its next await; a Pending scale record stays Pending, which counts as a
        scale), and wait at most `timeout` seconds. No loop starts afterwards."""
        self.closing = True
        tasks = [m.task for m in self._memory.values() if m.task is not None and not m.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=deadline)
            if pending:
                logger.warning("%d policy loops did not stop within %.1fs", len(pending), deadline)

    async def persist_all(self, deadline: float) -> int:
        """Write every Q-table that learned since its last write, concurrently, within
        `deadline` seconds, and only while this instance may still write (the fence): a table
        written after the Lease is lost could overwrite the new leader's. At most as many at
        once as evaluations (`turns`, free once the loops stopped): a thousand tables parsed,
        serialized and queued for the connection pool at once were the process's peak."""
        if self.standing_by():
            return 0  # never led: the tables are the leader's
        if not self.may_write():
            logger.warning("not writing the Q-tables: this instance no longer holds the Lease")
            return 0
        now = self.clock()

        async def one(memory: evaluation.PolicyMemory) -> bool:
            async with self.turns:
                try:
                    policy = types.ScalingPolicy.model_validate(dict(memory.body))
                except pydantic.ValidationError:
                    return False
                if not self.may_write():
                    return False
                return await learning.persist(
                    self.evaluator.store, policy, memory.runtime, now, force=True
                )

        jobs = [asyncio.ensure_future(one(m)) for m in list(self._memory.values())]
        if not jobs:
            return 0
        done, pending = await asyncio.wait(jobs, timeout=deadline)
        for job in pending:
            job.cancel()
        return sum(1 for job in done if job.exception() is None and job.result())

    async def shutdown(self, deadline: float = 8.0) -> None:
        """Stop the loops, then write the Q-tables, within `deadline` seconds together."""
        started = time.monotonic()
        await self.stop(deadline)
        await self.persist_all(max(0.1, deadline - (time.monotonic() - started)))

    # -- one evaluation ----------------------------------------------------------------------

    async def evaluate(self, body: Mapping[str, Any], claims: claims_.Claims) -> float:
        """Evaluate one adopted policy now; returns the seconds until the next evaluation."""
        uid = body["metadata"]["uid"]
        memory = self._memory.get(uid)
        if memory is None:  # forgotten meanwhile
            return MAX_BACKOFF
        try:
            policy = self._parse(memory, body)
        except pydantic.ValidationError as exc:
            generation = body["metadata"].get("generation")
            if self._rejected.get(uid) != generation and await self.evaluator.reject(body, exc):
                self._rejected[uid] = generation
            return MAX_BACKOFF
        if not self.owns(uid):  # another shard's policy: nothing at all
            return min(MAX_BACKOFF, float(policy.spec.scaling.evaluation_interval))
        if not self.may_write():  # not (surely) the leader: observe nothing, write nothing
            return min(MAX_BACKOFF, float(policy.spec.scaling.evaluation_interval))
        async with memory.runtime.lock:
            started = time.perf_counter()
            evaluating = _EVALUATING.set(uid)
            try:
                delay = await self.evaluator.run(policy, memory, claims)
            finally:
                _EVALUATING.reset(evaluating)
                self.metrics.reconcile_duration.labels(handler="evaluate").observe(
                    time.perf_counter() - started
                )
        if memory.gone:  # deleted, or re-created under its name: stop, write nothing more
            await self.forget(dict(memory.body))
        return delay

    # -- pieces ------------------------------------------------------------------------------

    @staticmethod
    def _parse(
        memory: evaluation.PolicyMemory, body: Mapping[str, Any] | None = None
    ) -> types.ScalingPolicy:
        """The policy model of `body` (the newest kept one by default), parsed once per body:
        no watch event since the last parse, the same model (models are never changed in
        place). Raises pydantic.ValidationError."""
        body = memory.body if body is None else body
        parsed = memory.parsed
        if parsed is not None and parsed[0] is body:
            return parsed[1]
        policy = types.ScalingPolicy.model_validate(dict(body))
        memory.parsed = (body, compact.shared(policy))
        return policy

    def _remember(self, uid: str, policy: types.ScalingPolicy) -> evaluation.PolicyMemory:
        memory = self._memory.get(uid)
        if memory is None:
            key = f"{policy.metadata.namespace}/{policy.metadata.name}"
            memory = evaluation.PolicyMemory(
                runtime=runtime_.PolicyRuntime.create(key, policy.spec)
            )
            self._memory[uid] = memory
        return memory


def slim(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The body as it is kept until the next watch event: without metadata.managedFields,
    which nothing here reads and which records every status field written (about half of a
    policy's body, kept for every policy; docs/scaling.md, "Memory")."""
    meta = body.get("metadata")
    if not isinstance(meta, Mapping) or "managedFields" not in meta:
        return body
    return {
        **body,
        "metadata": {k: v for k, v in meta.items() if k != "managedFields"},
    }


def _anchor(memory: evaluation.PolicyMemory) -> float:
    """What the wait before a policy's next evaluation runs from: the answer to the target
    read of the evaluation that just ended, or now when it read nothing (a failure before the
    read). Timed from the read, the next read comes an interval after this one (less at most
    PLACE_PULL of it, `toward_place`; no policy is evaluated twice within an interval, as the
    sharding e2e checks from the audit log), and the evaluation's own duration after its read
    is not added to every interval.
    Timed from the evaluation's start, a slow one's read came 3 s after the next one's at 5 s;
    timed from its end, every interval was longer by the evaluation's duration (p99 1 s at a
    thousand policies, docs/scaling.md)."""
    now = time.monotonic()
    read_at = memory.runtime.read_at
    if read_at is None or read_at < memory.started_at:
        return now
    return read_at


def toward_place(uid: str, interval: float, due: float) -> float:
    """`due` moved toward the nearest of the policy's places in its interval (`until_place`)
    by at most PLACE_PULL of the interval. Each evaluation is timed from the previous one's
    read, so a stall (a CPU-bound first round, a takeover, a burst of table writes) left the
    policies it delayed bunched together for good, each round: at a thousand policies the
    evaluations started per second swung between 33 and 107 with the interval's period, and
    the bunches waited for their turns (lag p99 3.3 s, docs/scaling.md). Pulled back to their
    places, spread by a hash of the uid, they spread again within a few rounds, and one
    policy's reads still come at least (1 - PLACE_PULL) × its interval apart."""
    ahead = until_place(uid, interval, due)  # in (0, interval]
    offset = ahead if ahead <= interval / 2 else ahead - interval
    limit = PLACE_PULL * interval
    return due + max(-limit, min(limit, offset))


def until_place(uid: str, interval: float, now: float) -> float:
    """Seconds from `now` (monotonic) until the policy's own place in its interval, a stable
    fraction of it from a hash of its uid: in (0, interval]. A standby's loops tick there, so
    the policies it takes over are first evaluated spread over one interval, however bunched
    their ticks were when it first saw them (ticking an interval after the previous tick, they
    kept the start-up listing's timing: a listing that outlasted the start-up window left
    most of the fleet in the same half second, and a takeover's first round came as one
    burst, up to an interval after the Lease was taken)."""
    return interval - (now - refresh.place(uid, interval)) % interval


def _interval(body: Mapping[str, Any]) -> float:
    """The policy's evaluation interval as the body says it, without parsing the body."""
    scaling = (body.get("spec") or {}).get("scaling") or {}
    return float(scaling.get("evaluationInterval") or 30)

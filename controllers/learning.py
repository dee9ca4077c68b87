"""The learner's life outside the workflow: loading and persisting its Q-table, and how its
progress shows in status (conditions, `status.learning`) and in Events.

Where tables live (`Store`): a policy's own table is the ConfigMap
`nimbusguard-qtable-<policy uid>` in the operator's namespace, where tenants cannot write (so
nobody can hand a policy a table whose phase says Active and skip the promotion gate), and
whose name is the policy's identity: a policy deleted and re-created under the same name
starts afresh, and a ConfigMap that merely has the right name is never adopted. Tenants
still provide tables, read-only: a warm start (`aiConfig.qLearning.warmStart`) from a
ConfigMap of the policy's namespace, and — once, when upgrading — the table an older release
kept as `<policy>-qtable` in that namespace, if that policy controls it; both start in
Learning, unless the policy's own spec opts in to carry a warm-start table's promotion
(`warmStart.carryPromotion`), which the conditions and an Event then say. Reading and
decoding a table runs in a worker thread, never on the event loop.

A standby (leader election) reads the tables as they are written (`prepare`, `versions`), so
the instance that takes over has them already and re-reads only those written since.

A table is read once when the operator adopts a policy and written at most once per
`aiConfig.persistIntervalSeconds` (only when it changed; the first time at the policy's own
phase in that interval, so a fleet's writes are spread over it), and when the operator stops; a
write that fails is retried at every evaluation until one succeeds, and the condition
`QTableSaved` (with an Event when it turns False) says where the table is or why it is not;
`discard` removes a policy's tables when the policy is deleted. Nothing is ever silently
discarded: an unreadable table is kept under a new name, with an Event and a condition, and
the policy starts afresh; a table that cannot be read *yet* (an API error) blocks learning
and writing until it can, so it is never overwritten.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime
import functools
import hashlib
import io
import logging
import zipfile
from typing import Any

from api.v1 import scalingpolicy_types as types
from controllers import conditions as cond, notices, refresh
from nimbusguard.clients import errors, qtables
from nimbusguard.scaling import learner, promotion, qtable
from nimbusguard.workflow import runtime as runtime_

logger = logging.getLogger(__name__)

KEY = "qtable.npz"
MIN_PERSIST_SECONDS = 10
# A table due within this share of an evaluation interval (or of the persist interval, when
# shorter) is written now. Evaluations may
# come up to 5 % of their interval early (reconciler.PLACE_PULL); one that came a moment before
# the due time would hold the table until the next evaluation, a whole evaluation interval more
# learning for a crash to lose (the e2e crash test lost 2 updates where it allows 1). A fifth:
# the two evaluations of the shortest persist interval (10 s at 5 s) may both come early.
PERSIST_EARLY = 0.2
PROMOTION_CARRIED_OVER = "PromotionCarriedOver"
LABELS = {"app.kubernetes.io/managed-by": "nimbusguard", "app.kubernetes.io/component": "qtable"}
SELECTOR = ",".join(f"{k}={v}" for k, v in sorted(LABELS.items()))


# One decoding thread: numpy reads each array's header with `ast.literal_eval`, and CPython
# 3.11's AST state is not safe for two threads at once ("SystemError: AST constructor
# recursion depth mismatch", seen when a takeover restored hundreds of tables on the default
# executor's threads). One thread also keeps the decoding from taking the GIL from the event
# loop more than one thread's worth.
@functools.cache
def _decoding_thread() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="qtable-decode")


@dataclasses.dataclass(frozen=True)
class Store:
    """Where a policy's own tables live: the hub client and the operator's namespace."""

    api: Any
    namespace: str

    def name(self, policy: types.ScalingPolicy) -> str:
        return qtables.table_name(policy.metadata.uid or "")

    def labels(self, policy: types.ScalingPolicy, **extra: str) -> dict[str, str]:
        return {**LABELS, qtables.UID_LABEL: policy.metadata.uid or "", **extra}

    def annotations(self, policy: types.ScalingPolicy) -> dict[str, str]:
        meta = policy.metadata
        return {qtables.POLICY_ANNOTATION: f"{meta.namespace or 'default'}/{meta.name}"}


@dataclasses.dataclass(frozen=True)
class Loaded:
    """What loading produced: the QTableLoaded condition and the Events to post."""

    condition: cond.Update | None
    notices: tuple[notices.Notice, ...] = ()
    baseline_beaten: cond.Update | None = None  # when a warm start carried a promotion


async def _restore(
    rt: runtime_.PolicyRuntime,
    spec: types.ScalingPolicySpec,
    data: bytes,
    *,
    warm_start: bool,
    carry_promotion: bool = False,
) -> learner.QLearner:
    """Decode a table off the event loop (a crafted one must not stall every policy)."""
    return await asyncio.get_running_loop().run_in_executor(
        _decoding_thread(),
        functools.partial(
            runtime_.restore_learner,
            rt.key,
            spec,
            data,
            warm_start=warm_start,
            carry_promotion=carry_promotion,
        ),
    )


def _fresh(rt: runtime_.PolicyRuntime) -> str:
    """What the loaded table could not give back, for QTableLoaded's message (or nothing)."""
    note = rt.learner.fresh_note
    return f"; {note}" if note else ""


async def load(store: Store, policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime) -> Loaded:
    """Make `rt.learner` the stored one (or a warm start, or a fresh one) and mark it ready.

    On an API error the learner stays not ready and None is returned as condition; the next
    evaluation tries again.
    """
    name = store.name(policy)
    # Listed absent when this instance began to lead: a GET would answer 404 (only the leader
    # writes a policy's own table). A takeover of a young fleet spent its first round on a
    # thousand such GETs (docs/scaling.md, "Takeover round 2").
    listed_absent, rt.table_listed_absent = rt.table_listed_absent, False
    try:
        data = None if listed_absent else await qtables.load(store.api, store.namespace, name, KEY)
    except errors.ClientError as exc:
        if exc.reason in ("QTableMissingKey", "QTableUndecodable"):
            return await _quarantine(store, policy, rt, name, str(exc))
        logger.warning("Q-table of %s not read yet: %s", rt.key, exc)
        return Loaded(None)
    rt.table_stored = data is not None
    if data is not None:
        try:
            rt.learner = await _restore(rt, policy.spec, data, warm_start=False)
        except qtable.QTableError as exc:
            return await _quarantine(store, policy, rt, name, str(exc))
        rt.learner_ready, rt.table_stored = True, True
        rt.persisted_digest = content_digest(data)  # stored already: not written back as is
        message = (
            f"restored from ConfigMap {store.namespace}/{name}: {rt.learner.updates} updates, "
            f"epsilon {rt.learner.epsilon:.3f}, phase {rt.learner.phase}{_fresh(rt)}"
        )
        return Loaded(cond.Update(cond.QTABLE_LOADED, True, "Restored", message))
    warm = policy.spec.ai_config.q_learning.warm_start
    if warm is not None:
        return await _warm_start(store, policy, rt, warm)
    migrated = await _migrate(store, policy, rt)
    if migrated is not None:
        return migrated
    rt.learner_ready = True
    return Loaded(
        cond.Update(
            cond.QTABLE_LOADED, True, "NewQTable", f"a new Q-table ({store.namespace}/{name})"
        )
    )


async def prepare(store: Store, policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime) -> str:
    """A standby's read of the policy's own table, before it may act: the stored learner is
    restored (and `rt` marked ready) and its resourceVersion returned; "" when there is
    nothing to restore yet. Read only: a missing, unreadable or warm-start table is left to
    `load` once this instance leads, which writes what it has to (a quarantine, a new table)
    and reports it. Raises errors.ClientError when the API cannot answer."""
    try:
        stored = await qtables.read(store.api, store.namespace, store.name(policy), KEY)
    except errors.ClientError as exc:
        if exc.reason in ("QTableMissingKey", "QTableUndecodable"):
            return ""
        raise
    if stored is None:
        return ""
    try:
        restored = await _restore(rt, policy.spec, stored.data, warm_start=False)
    except qtable.QTableError:
        return ""
    rt.learner, rt.learner_ready, rt.table_stored = restored, True, True
    rt.persisted_digest = content_digest(stored.data)
    return stored.version


async def versions(store: Store) -> dict[str, str]:
    """ConfigMap name → resourceVersion of every policy table in the operator's namespace."""
    return await qtables.versions(store.api, store.namespace, SELECTOR)


async def _quarantine(
    store: Store, policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime, name: str, why: str
) -> Loaded:
    try:
        kept = await qtables.quarantine(
            store.api,
            store.namespace,
            name,
            owner=None,
            labels=store.labels(policy),
            annotations=store.annotations(policy),
        )
    except errors.ClientError as exc:
        # Keeping the bad table failed: do not overwrite it; try again next evaluation.
        logger.warning("could not keep the unreadable Q-table of %s: %s", rt.key, exc)
        return Loaded(None)
    rt.learner = runtime_.new_learner(rt.key, policy.spec)
    rt.learner_ready = True
    rt.dirty = True
    message = (
        f"ConfigMap {store.namespace}/{name} held an unreadable Q-table ({why}); kept it as "
        f"{kept}, started afresh"
    )
    return Loaded(
        cond.Update(cond.QTABLE_LOADED, False, "QTableCorrupt", message),
        (notices.Notice("Warning", "QTableCorrupt", message),),
    )


async def _warm_start(
    store: Store, policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime, ref: types.QTableRef
) -> Loaded:
    namespace = policy.metadata.namespace or "default"
    where = f"ConfigMap {ref.config_map_name} key {ref.key}"
    try:
        data = await qtables.load(store.api, namespace, ref.config_map_name, ref.key)
        if data is None:
            raise errors.ClientError(f"{where} does not exist", reason="WarmStartMissing")
        # carryPromotion keeps the table's promotion state; otherwise it starts in Learning.
        rt.learner = await _restore(
            rt, policy.spec, data, warm_start=True, carry_promotion=ref.carry_promotion
        )
    except (errors.ClientError, qtable.QTableError) as exc:
        if isinstance(exc, errors.ApiError) and exc.transient:
            return Loaded(None)
        # The policy still works, from a fresh table; the reference is reported. The tenant's
        # ConfigMap is only read, never changed.
        rt.learner = runtime_.new_learner(rt.key, policy.spec)
        rt.learner_ready = True
        message = f"warm start from {where} failed ({exc}); started from a new Q-table"
        return Loaded(
            cond.Update(cond.QTABLE_LOADED, False, "WarmStartFailed", message),
            (notices.Notice("Warning", "WarmStartFailed", message),),
        )
    rt.learner_ready = True
    rt.dirty = True
    message = f"warm-started from {where} ({rt.learner.updates} updates{_fresh(rt)})"
    if not ref.carry_promotion:
        return Loaded(
            cond.Update(
                cond.QTABLE_LOADED, True, "WarmStarted", f"{message}; learning before acting"
            )
        )
    if rt.learner.phase != promotion.ACTIVE:
        # Only a promotion is carried: windows beaten elsewhere do not count towards one here.
        rt.learner.promotion.windows_beaten = 0
        message += (
            f"; carryPromotion: the table was saved in {rt.learner.phase}, so there is no "
            "promotion to carry over: learning before acting"
        )
        return Loaded(cond.Update(cond.QTABLE_LOADED, True, "WarmStarted", message))
    carried = (
        f"promotion carried over from the warm-start table ({where}, spec.aiConfig.qLearning."
        f"warmStart.carryPromotion): it was saved Active, having beaten its HPA baseline in "
        f"{rt.learner.promotion.windows_beaten} consecutive windows where it was trained, not "
        "on this workload; the learner acts, and is demoted if it falls behind this policy's "
        "HPA baseline"
    )
    return Loaded(
        cond.Update(cond.QTABLE_LOADED, True, "WarmStarted", f"{message}; {carried}"),
        (notices.Notice("Normal", PROMOTION_CARRIED_OVER, carried),),
        cond.Update(cond.BASELINE_BEATEN, True, PROMOTION_CARRIED_OVER, carried),
    )


async def _migrate(
    store: Store, policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime
) -> Loaded | None:
    """An older release's table of this very policy (controlled by its uid), as a warm start;
    None when there is none (or it is unusable: then the policy simply starts afresh)."""
    if _looked_for_legacy(store, policy):
        return None
    namespace = policy.metadata.namespace or "default"
    name = qtables.legacy_name(policy.metadata.name)
    try:
        data = await qtables.load(
            store.api, namespace, name, KEY, owner_uid=policy.metadata.uid or "-"
        )
        if data is None:
            return None
        rt.learner = await _restore(rt, policy.spec, data, warm_start=True)
    except (errors.ClientError, qtable.QTableError) as exc:
        logger.info("not migrating the old Q-table of %s: %s", rt.key, exc)
        return None
    rt.learner_ready = True
    rt.dirty = True
    message = (
        f"continued from this policy's table of an older release (ConfigMap {name}, "
        f"{rt.learner.updates} updates{_fresh(rt)}); learning before acting"
    )
    return Loaded(cond.Update(cond.QTABLE_LOADED, True, "Migrated", message))


def _looked_for_legacy(store: Store, policy: types.ScalingPolicy) -> bool:
    """Whether this release already loaded the policy's table and found no older release's
    table to continue from: its status names the policy's own ConfigMap (older releases kept
    tables elsewhere) and QTableLoaded does not say Migrated (a migrated table may not have
    been written yet; it is read again). Only an older release writes the old name, so the
    answer stands, and a new leader does not ask again for every policy of a young fleet."""
    learning = policy.status.learning
    if learning is None or learning.q_table_config_map != f"{store.namespace}/{store.name(policy)}":
        return False
    loaded = next((c for c in policy.status.conditions if c.type == cond.QTABLE_LOADED), None)
    return loaded is not None and loaded.reason != "Migrated"


async def keep_replaced(
    store: Store, policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime
) -> str | None:
    """Save the table a spec change made unusable under its own name; its name, or None."""
    data, rt.replaced = rt.replaced, None
    if data is None:
        return None
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
    name = f"{store.name(policy)}-replaced-{stamp}"
    try:
        await qtables.save(
            store.api,
            store.namespace,
            name,
            KEY,
            data,
            owner=None,
            labels=store.labels(policy, **{"nimbusguard.io/replaced": "true"}),
            annotations=store.annotations(policy),
            exists=False,  # a new name
        )
    except errors.ClientError as exc:
        logger.warning("could not keep the replaced Q-table of %s: %s", rt.key, exc)
        return None
    return f"{store.namespace}/{name}"


async def persist(
    store: Store,
    policy: types.ScalingPolicy,
    rt: runtime_.PolicyRuntime,
    now: float,
    *,
    force: bool,
) -> bool:
    """Write the Q-table when it learned and the persist window has passed (or `force`), and
    only when its content differs from what was last written."""
    if not rt.learner_ready or not rt.dirty:
        return False
    # Never more often than MIN_PERSIST_SECONDS, whatever the spec says: with a short
    # persistIntervalSeconds a table would otherwise be written on every evaluation.
    interval = max(policy.spec.ai_config.persist_interval_seconds, MIN_PERSIST_SECONDS)
    if rt.persist_due is None:
        rt.persist_due = now + persist_phase(rt.key, interval)
    early = PERSIST_EARLY * min(policy.spec.scaling.evaluation_interval, interval)
    if not force and now < rt.persist_due - early:
        return False
    data = rt.learner.to_bytes()
    digest = content_digest(data)
    if digest == rt.persisted_digest:  # learned nothing that changed the table: no write
        rt.dirty = False
        return False
    try:
        await qtables.save(
            store.api,
            store.namespace,
            store.name(policy),
            KEY,
            data,
            owner=None,
            labels=store.labels(policy),
            annotations=store.annotations(policy),
            exists=rt.table_stored,
        )
    except errors.ClientError as exc:
        logger.warning("Q-table of %s not written: %s", rt.key, exc)
        rt.save_error = str(exc) or type(exc).__name__
        return False
    rt.save_error = None
    rt.table_stored = True
    rt.dirty = False
    rt.last_persist = now
    rt.persist_due = now + interval
    rt.persisted_digest = digest
    return True


def persist_phase(key: str, interval: float) -> float:
    """How long after it first learned a policy's table is first written: a stable fraction
    of the persist interval, from a hash of the policy's key. Written at its first change, a
    fleet's tables were all written in the round after a start or a takeover (a thousand
    ConfigMap writes within a minute, the loop stalled behind them) and, a persist interval
    after each, in the same round again, for as long as the process ran."""
    return refresh.place(key, interval)


async def save(
    store: Store, policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime, now: float
) -> cond.Update | None:
    """`persist` in an evaluation, and what the QTableSaved condition says after it (None:
    nothing was due, so the condition stays as it was). The learner keeps learning in memory
    while writes fail; only a restart before one succeeds would lose what it learned since."""
    where = f"ConfigMap {store.namespace}/{store.name(policy)}"
    if await persist(store, policy, rt, now, force=False):
        return cond.Update(cond.QTABLE_SAVED, True, "Saved", f"the Q-table is kept in {where}")
    if rt.save_error is None:
        return None
    return cond.Update(
        cond.QTABLE_SAVED,
        False,
        "QTableSaveFailed",
        f"the Q-table could not be written to {where}: {rt.save_error}; the learner keeps "
        "learning in memory and the write is retried at every evaluation",
    )


def content_digest(data: bytes) -> str:
    """What a serialized table says, without when it was serialized: the names, sizes and
    CRCs of its archive's members (an archive records the time it was written, so two
    serializations of the same table differ in their bytes); a blob that is no archive is
    hashed whole."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = sorted((i.filename, i.file_size, i.CRC) for i in archive.infolist())
    except zipfile.BadZipFile:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha256(repr(members).encode()).hexdigest()


async def discard(store: Store, uid: str, key: str) -> None:
    """The policy is gone: delete its tables (best effort; a failure is logged)."""
    try:
        gone = await qtables.discard(store.api, store.namespace, uid)
    except errors.ClientError as exc:
        logger.warning("could not delete the Q-tables of %s: %s", key, exc)
        return
    if gone:
        logger.info("deleted %d Q-table ConfigMap(s) of %s", gone, key)


def learning_status(
    store: Store,
    policy: types.ScalingPolicy,
    rt: runtime_.PolicyRuntime,
    previous: types.LearningStatus | None,
) -> types.LearningStatus | None:
    if not rt.learner_ready:
        return previous
    q = rt.learner
    tracker = q.promotion
    persisted = (
        datetime.datetime.fromtimestamp(rt.last_persist, datetime.UTC)
        if rt.last_persist
        else (previous.last_persist_time if previous else None)
    )
    return types.LearningStatus(
        epsilon=min(1.0, max(0.0, q.epsilon)),
        updates=q.updates,
        states_visited=q.states_visited,
        shadow_reward=tracker.learner_mean,
        baseline_reward=tracker.baseline_mean,
        windows_beaten=tracker.windows_beaten,
        q_table_config_map=f"{store.namespace}/{store.name(policy)}",
        last_persist_time=persisted,
    )


def baseline_condition(
    rt: runtime_.PolicyRuntime, result: learner.LearnResult | None
) -> cond.Update | None:
    """BaselineBeaten: True while the learner acts; the numbers either way."""
    if not rt.learner_ready:
        return None
    tracker = rt.learner.promotion
    if result is not None and result.transition is not None:
        t = result.transition
        return cond.Update(cond.BASELINE_BEATEN, t.phase == promotion.ACTIVE, t.reason, t.message)
    if tracker.phase == promotion.ACTIVE:
        return None  # keep the promotion's own message
    need = tracker.config.windows
    last = ""
    if tracker.learner_mean is not None and tracker.baseline_mean is not None:
        last = (
            f"; last window: learner {tracker.learner_mean:.3f} vs baseline "
            f"{tracker.baseline_mean:.3f}"
        )
        if tracker.violation_aim is not None:
            # A window is won only at equal violations too: without these numbers a window the
            # learner was cheaper in reads as won although it was lost.
            last += (
                f", violations (rolling) learner {tracker.learner_violations:.3%} vs baseline "
                f"{tracker.baseline_violations:.3%}, aim {tracker.violation_aim:.3%}"
            )
    return cond.Update(
        cond.BASELINE_BEATEN,
        False,
        "Learning",
        f"{tracker.windows_beaten} of {need} consecutive windows beaten{last}",
    )


def transition_notice(result: learner.LearnResult | None) -> notices.Notice | None:
    if result is None or result.transition is None:
        return None
    t = result.transition
    return notices.Notice(
        "Normal" if t.phase == promotion.ACTIVE else "Warning", t.reason, t.message
    )

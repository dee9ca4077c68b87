"""The learner's life outside the workflow: loading and persisting its Q-table, and how its
progress shows in status (conditions, `status.learning`) and in Events.

The Q-table lives in the ConfigMap `<policy>-qtable` of the policy's namespace, owned by the
policy (garbage-collected with it). It is read once when the operator adopts a policy and
written at most once per `aiConfig.persistIntervalSeconds`, and when the operator stops.
Nothing is ever silently discarded: an unreadable table is kept under a new name, with an
Event and a condition, and the policy starts afresh; a table that cannot be read *yet*
(an API error) blocks learning and writing until it can, so it is never overwritten.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from typing import Any

from api.v1 import groupversion_info as gv, scalingpolicy_types as types
from controllers import conditions as cond, notices
from nimbusguard.clients import errors, qtables
from nimbusguard.scaling import learner, promotion, qtable
from nimbusguard.workflow import runtime as runtime_

logger = logging.getLogger(__name__)

KEY = "qtable.npz"
LABELS = {"app.kubernetes.io/managed-by": "nimbusguard", "app.kubernetes.io/component": "qtable"}


@dataclasses.dataclass(frozen=True)
class Loaded:
    """What loading produced: the QTableLoaded condition and the Events to post."""

    condition: cond.Update | None
    notices: tuple[notices.Notice, ...] = ()


def owner(policy: types.ScalingPolicy) -> qtables.Owner:
    return qtables.Owner(gv.API_VERSION, gv.KIND, policy.metadata.name, policy.metadata.uid or "")


async def load(api: Any, policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime) -> Loaded:
    """Make `rt.learner` the stored one (or a warm start, or a fresh one) and mark it ready.

    On an API error the learner stays not ready and None is returned as condition; the next
    evaluation tries again.
    """
    namespace = policy.metadata.namespace or "default"
    name = qtables.config_map_name(policy.metadata.name)
    try:
        data = await qtables.load(api, namespace, name, KEY)
    except errors.ClientError as exc:
        if exc.reason in ("QTableMissingKey", "QTableUndecodable"):
            return await _quarantine(api, policy, rt, name, str(exc))
        logger.warning("Q-table of %s not read yet: %s", rt.key, exc)
        return Loaded(None)
    if data is not None:
        try:
            rt.learner = runtime_.restore_learner(rt.key, policy.spec, data, warm_start=False)
        except qtable.QTableError as exc:
            return await _quarantine(api, policy, rt, name, str(exc))
        rt.learner_ready = True
        message = (
            f"restored from ConfigMap {name}: {rt.learner.updates} updates, "
            f"epsilon {rt.learner.epsilon:.3f}, phase {rt.learner.phase}"
        )
        return Loaded(cond.Update(cond.QTABLE_LOADED, True, "Restored", message))
    warm = policy.spec.ai_config.q_learning.warm_start
    if warm is not None:
        return await _warm_start(api, policy, rt, warm)
    rt.learner_ready = True
    return Loaded(cond.Update(cond.QTABLE_LOADED, True, "NewQTable", f"a new Q-table ({name})"))


async def _quarantine(
    api: Any, policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime, name: str, why: str
) -> Loaded:
    namespace = policy.metadata.namespace or "default"
    try:
        kept = await qtables.quarantine(api, namespace, name, owner=owner(policy), labels=LABELS)
    except errors.ClientError as exc:
        # Keeping the bad table failed: do not overwrite it; try again next evaluation.
        logger.warning("could not keep the unreadable Q-table of %s: %s", rt.key, exc)
        return Loaded(None)
    rt.learner = runtime_.new_learner(rt.key, policy.spec)
    rt.learner_ready = True
    rt.dirty = True
    message = (
        f"ConfigMap {name} held an unreadable Q-table ({why}); kept it as {kept}, started afresh"
    )
    return Loaded(
        cond.Update(cond.QTABLE_LOADED, False, "QTableCorrupt", message),
        (notices.Notice("Warning", "QTableCorrupt", message),),
    )


async def _warm_start(
    api: Any, policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime, ref: types.QTableRef
) -> Loaded:
    namespace = policy.metadata.namespace or "default"
    where = f"ConfigMap {ref.config_map_name} key {ref.key}"
    try:
        data = await qtables.load(api, namespace, ref.config_map_name, ref.key)
        if data is None:
            raise errors.ClientError(f"{where} does not exist", reason="WarmStartMissing")
        rt.learner = runtime_.restore_learner(rt.key, policy.spec, data, warm_start=True)
    except (errors.ClientError, qtable.QTableError) as exc:
        if isinstance(exc, errors.ApiError) and exc.transient:
            return Loaded(None)
        # The policy still works, from a fresh table; the reference is reported.
        rt.learner = runtime_.new_learner(rt.key, policy.spec)
        rt.learner_ready = True
        message = f"warm start from {where} failed ({exc}); started from a new Q-table"
        return Loaded(
            cond.Update(cond.QTABLE_LOADED, False, "WarmStartFailed", message),
            (notices.Notice("Warning", "WarmStartFailed", message),),
        )
    rt.learner_ready = True
    rt.dirty = True
    message = f"warm-started from {where} ({rt.learner.updates} updates); learning before acting"
    return Loaded(cond.Update(cond.QTABLE_LOADED, True, "WarmStarted", message))


async def keep_replaced(
    api: Any, policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime
) -> str | None:
    """Save the table a spec change made unusable under its own name; its name, or None."""
    data, rt.replaced = rt.replaced, None
    if data is None:
        return None
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
    name = f"{qtables.config_map_name(policy.metadata.name)[: 253 - 24]}-replaced-{stamp}"
    try:
        await qtables.save(
            api,
            policy.metadata.namespace or "default",
            name,
            KEY,
            data,
            owner=owner(policy),
            labels={**LABELS, "nimbusguard.io/replaced": "true"},
        )
    except errors.ClientError as exc:
        logger.warning("could not keep the replaced Q-table of %s: %s", rt.key, exc)
        return None
    return name


async def persist(
    api: Any, policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime, now: float, *, force: bool
) -> bool:
    """Write the Q-table when it changed and the persist window has passed (or `force`)."""
    if not rt.learner_ready or not rt.dirty:
        return False
    interval = policy.spec.ai_config.persist_interval_seconds
    if not force and now - rt.last_persist < interval:
        return False
    try:
        await qtables.save(
            api,
            policy.metadata.namespace or "default",
            qtables.config_map_name(policy.metadata.name),
            KEY,
            rt.learner.to_bytes(),
            owner=owner(policy),
            labels=LABELS,
        )
    except errors.ClientError as exc:
        logger.warning("Q-table of %s not written: %s", rt.key, exc)
        return False
    rt.dirty = False
    rt.last_persist = now
    return True


def learning_status(
    policy: types.ScalingPolicy, rt: runtime_.PolicyRuntime, previous: types.LearningStatus | None
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
        q_table_config_map=qtables.config_map_name(policy.metadata.name),
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

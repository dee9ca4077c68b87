"""The write-ahead scale record: `status.lastScale` as a small state machine.

    (none / any older record) ── begin ──▶ Pending ── the target took it ────▶ Succeeded
                                              │                                (lastScalingTime =
                                              │                                 when it answered)
                                              └── the target refused it ─────▶ Failed
                                                  (an HTTP error: 403, 422, 5xx)  (no cooldown)

- `begin` re-reads the policy (a quorum GET) and writes Pending with its resourceVersion and
  uid as preconditions, before the scale request is sent: a second instance, or this one after
  a restart, sees it and does not scale again inside the cooldown.
- A Pending record whose evaluation never finished (a crash, a scale that timed out and may or
  may not have been applied) stays Pending: it counts as a scale at its intent time. The next
  evaluation after the cooldown records a new action with a fresh time.
- `finish` writes Succeeded (time = when the target answered; lastScalingTime moves to it)
  or Failed (lastScalingTime untouched), preconditioned on the resourceVersion `begin` got
  back, re-read once on a conflict and only while the record is still ours.

Only these two writes move `lastScale`, `lastScalingTime` and `nextScaleTime`; the routine
status write of an evaluation leaves them out (`RECORD_FIELDS`), so no stale view of an
instance ever moves them back. `newest` merges views the same way: times only move forward.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Callable
from typing import Any

from api.v1 import scalingpolicy_types as types
from nimbusguard.clients import errors, policies
from nimbusguard.workflow import cooldowns, state as st

# Status fields only the scale record writes (camelCase, as in the merge patch).
RECORD_FIELDS = ("lastScale", "lastScalingTime", "nextScaleTime")

_RANK = {"Pending": 0, None: 1, "Succeeded": 1, "Failed": 1}


def stamp(seconds: float) -> str:
    """RFC 3339 in UTC, as Kubernetes writes times."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat().replace("+00:00", "Z")


def _dt(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def counts_as_scale(action: types.ScaleAction | None) -> bool:
    """Whether a record charges the cooldown: everything but a refused request."""
    return action is not None and action.state != "Failed"


def last_scaling(status: types.ScalingPolicyStatus) -> float | None:
    """What cooldowns count from: the last scale that happened or may have happened."""
    times = []
    if status.last_scaling_time is not None:
        times.append(status.last_scaling_time.timestamp())
    last = status.last_scale
    if last is not None and counts_as_scale(last):
        times.append(last.time.timestamp())
    return max(times, default=None)


def _newer(a: types.ScaleAction | None, b: types.ScaleAction | None) -> types.ScaleAction | None:
    if a is None or b is None:
        return a or b
    return max(a, b, key=lambda x: (x.time, _RANK[x.state]))


def newest(
    base: types.ScalingPolicyStatus, *others: types.ScalingPolicyStatus | None
) -> types.ScalingPolicyStatus:
    """`base` with the newest scale record of all views: never an older one than any holds."""
    last, when = base.last_scale, base.last_scaling_time
    for other in others:
        if other is None:
            continue
        last = _newer(last, other.last_scale)
        if other.last_scaling_time is not None and (when is None or other.last_scaling_time > when):
            when = other.last_scaling_time
    if last is base.last_scale and when is base.last_scaling_time:
        return base
    return base.model_copy(update={"last_scale": last, "last_scaling_time": when})


def next_scale_time(spec: types.ScalingSpec, status: types.ScalingPolicyStatus) -> float | None:
    return cooldowns.next_scale_time(spec, last_scaling(status))


@dataclasses.dataclass
class Recorder:
    """The scale record of one evaluation (one policy, one attempt at most)."""

    api: Any
    policy: types.ScalingPolicy
    previous: types.ScalingPolicyStatus  # what the evaluation decided from
    clock: Callable[[], float]
    may_write: Callable[[], bool]  # the leadership fence
    log: logging.LoggerAdapter[logging.Logger]
    action: types.ScaleAction | None = None  # the newest state this evaluation recorded
    gone: bool = False  # the policy was deleted (or replaced by a new one of the same name)
    written: int = 0  # status writes made (for nimbusguard_status_writes_total)
    _version: str | None = None

    @property
    def _where(self) -> tuple[str, str]:
        meta = self.policy.metadata
        return meta.namespace or "default", meta.name

    async def _read(self) -> tuple[dict[str, Any], types.ScalingPolicyStatus] | None:
        try:
            fresh = await policies.get(self.api, *self._where)
        except errors.ClientError as exc:
            if isinstance(exc, errors.ApiError) and exc.status == 404:
                self.gone = True
            self.log.warning("not scaling: cannot re-read the policy: %s", exc)
            return None
        if fresh.get("metadata", {}).get("uid") != self.policy.metadata.uid:
            self.gone = True
            self.log.warning("not scaling: the policy was deleted and re-created")
            return None
        return fresh, types.ScalingPolicyStatus.model_validate(fresh.get("status") or {})

    async def _patch(self, patch: dict[str, Any], version: str) -> bool:
        try:
            written = await policies.patch_status(
                self.api,
                *self._where,
                patch,
                resource_version=version,
                uid=self.policy.metadata.uid,
            )
        except errors.ClientError as exc:
            self.log.info("the scale record was not written: %s", exc)
            return False
        self._version = str((written or {}).get("metadata", {}).get("resourceVersion") or "")
        self.written += 1
        return True

    async def begin(self, intent: st.Intent) -> bool:
        """Record Pending; False means: do not scale now."""
        if not self.may_write():
            self.log.info("not scaling: this instance is not (surely) the leader any more")
            return False
        read = await self._read()
        if read is None:
            return False
        fresh, fresh_status = read
        seen, now_known = last_scaling(self.previous), last_scaling(fresh_status)
        if now_known is not None and (seen is None or now_known > seen):
            self.log.info("not scaling: someone scaled since this evaluation read the status")
            return False
        action = types.ScaleAction(
            id=intent.evaluation_id,
            from_replicas=intent.from_replicas,
            to_replicas=intent.to_replicas,
            time=_dt(intent.time),
            state="Pending",
        )
        upcoming = cooldowns.next_scale_time(self.policy.spec.scaling, intent.time)
        patch = {
            "lastScale": action.to_json_dict(),
            "nextScaleTime": stamp(upcoming or intent.time),
        }
        if not await self._patch(patch, fresh["metadata"]["resourceVersion"]):
            return False
        self.action = action
        # The fence again: the record may have taken a while; never send a scale after it.
        return self.may_write()

    async def finish(self, *, succeeded: bool) -> None:
        """Record the target's answer to the request `begin` recorded."""
        pending = self.action
        if pending is None or pending.state != "Pending":
            return
        now = self.clock()
        done = pending.model_copy(
            update={
                "state": "Succeeded" if succeeded else "Failed",
                "time": _dt(now) if succeeded else pending.time,
            }
        )
        self.action = done
        if succeeded:
            upcoming = cooldowns.next_scale_time(self.policy.spec.scaling, now)
            patch: dict[str, Any] = {
                "lastScale": done.to_json_dict(),
                "lastScalingTime": stamp(now),
                "nextScaleTime": stamp(upcoming or now),
            }
        else:
            before = last_scaling(self.previous)
            upcoming = cooldowns.next_scale_time(self.policy.spec.scaling, before)
            patch = {
                "lastScale": done.to_json_dict(),
                "nextScaleTime": None if upcoming is None else stamp(upcoming),
            }
        if not self.may_write():
            return
        version = self._version
        for _ in range(2):
            if version and await self._patch(patch, version):
                return
            read = await self._read()
            if read is None:
                return
            fresh, fresh_status = read
            if fresh_status.last_scale is None or fresh_status.last_scale.id != done.id:
                return  # a newer record is there; ours is history
            version = fresh["metadata"]["resourceVersion"]

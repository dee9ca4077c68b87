"""The write-ahead scale record's transitions (controllers/intents.py), without a cluster."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import pytest

from api.v1 import scalingpolicy_types as types
from controllers import intents
from nimbusguard.clients import policies
from nimbusguard.workflow import state as st
from tests.unit.controllers import harness

NOW = 1_800_000_000.0
LOG = logging.LoggerAdapter(logging.getLogger("test"), {})
POLICY = types.ScalingPolicy.model_validate(harness.body())


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> harness.Hub:
    fake = harness.Hub(harness.body())
    monkeypatch.setattr(policies, "get", fake.get)
    monkeypatch.setattr(policies, "patch_status", fake.patch_status)
    return fake


def _recorder(
    previous: types.ScalingPolicyStatus | None = None, *, leader: list[bool] | None = None
) -> intents.Recorder:
    fence = leader if leader is not None else [True]
    return intents.Recorder(
        api="hub",
        policy=POLICY,
        previous=previous or types.ScalingPolicyStatus(),
        clock=lambda: NOW + 1,
        may_write=lambda: fence[0],
        log=LOG,
    )


def _intent(to: int = 5) -> st.Intent:
    return st.Intent(evaluation_id="uid-0001-g1-d5-abc", from_replicas=3, to_replicas=to, time=NOW)


def _status(hub: harness.Hub) -> dict[str, Any]:
    status: dict[str, Any] = hub.live()["status"]
    return status


async def test_begin_records_pending_with_both_preconditions(hub: harness.Hub) -> None:
    rec = _recorder()
    assert await rec.begin(_intent())
    status = _status(hub)
    assert status["lastScale"]["state"] == "Pending"
    assert status["lastScale"]["toReplicas"] == 5
    assert "lastScalingTime" not in status  # only a scale the target took sets it
    assert status["nextScaleTime"] > status["lastScale"]["time"]
    # Pending counts as a scale: cooldowns count from it.
    assert intents.last_scaling(types.ScalingPolicyStatus.model_validate(status)) == NOW


async def test_pending_to_succeeded_records_when_the_target_answered(hub: harness.Hub) -> None:
    rec = _recorder()
    assert await rec.begin(_intent())
    await rec.finish(succeeded=True)
    status = _status(hub)
    assert status["lastScale"]["state"] == "Succeeded"
    assert status["lastScalingTime"] == intents.stamp(NOW + 1)
    assert len(hub.writes) == 2
    assert rec.written == 2  # what /metrics counts as why="record"


async def test_pending_to_failed_charges_no_cooldown(hub: harness.Hub) -> None:
    rec = _recorder()
    assert await rec.begin(_intent())
    await rec.finish(succeeded=False)
    status = types.ScalingPolicyStatus.model_validate(_status(hub))
    assert status.last_scale is not None and status.last_scale.state == "Failed"
    assert intents.last_scaling(status) is None
    assert status.next_scale_time is None


async def test_the_outcome_is_written_after_someone_else_wrote_status(hub: harness.Hub) -> None:
    rec = _recorder()
    assert await rec.begin(_intent())
    await hub.patch_status("hub", "shop", "web", {"phase": "Learning"})  # a routine write
    await rec.finish(succeeded=True)
    assert _status(hub)["lastScale"]["state"] == "Succeeded"


async def test_a_newer_record_is_never_overwritten_by_an_outcome(hub: harness.Hub) -> None:
    rec = _recorder()
    assert await rec.begin(_intent())
    newer = {"id": "other", "fromReplicas": 5, "toReplicas": 6, "time": intents.stamp(NOW + 0.5)}
    await hub.patch_status("hub", "shop", "web", {"lastScale": {**newer, "state": "Pending"}})
    await rec.finish(succeeded=True)
    assert _status(hub)["lastScale"]["id"] == "other"


async def test_somebody_else_scaled_meanwhile(hub: harness.Hub) -> None:
    hub.obj["status"] = {"lastScalingTime": intents.stamp(NOW - 5)}
    assert not await _recorder().begin(_intent())
    assert hub.writes == []


async def test_a_conflicting_write_means_no_scale(
    hub: harness.Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_get = hub.get

    async def stale_get(api: Any, namespace: str, name: str) -> dict[str, Any]:
        obj = await real_get(api, namespace, name)
        obj["metadata"]["resourceVersion"] = "0"
        return obj

    monkeypatch.setattr(policies, "get", stale_get)
    assert not await _recorder().begin(_intent())
    assert hub.writes == []


async def test_a_recreated_policy_of_the_same_name_is_never_written(hub: harness.Hub) -> None:
    hub.obj["metadata"]["uid"] = "a-new-incarnation"
    rec = _recorder()
    assert not await rec.begin(_intent())
    assert rec.gone
    assert hub.writes == []


async def test_no_record_and_no_scale_without_leadership(
    hub: harness.Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    leader = [False]
    assert not await _recorder(leader=leader).begin(_intent())
    assert hub.writes == []
    # Leadership lost while the record was being written: recorded, but no scale follows.
    leader[0] = True
    rec = _recorder(leader=leader)
    real = hub.patch_status

    async def lose(*args: Any, **kwargs: Any) -> dict[str, Any]:
        leader[0] = False
        return await real(*args, **kwargs)

    monkeypatch.setattr(policies, "patch_status", lose)
    assert not await rec.begin(_intent())


def test_newest_never_moves_a_record_back() -> None:
    def action(t: float, state: types.ScaleState | None) -> types.ScaleAction:
        when = datetime.datetime.fromtimestamp(t, datetime.UTC)
        return types.ScaleAction(id=f"e{t}", from_replicas=1, to_replicas=2, time=when, state=state)

    old = types.ScalingPolicyStatus(last_scale=action(NOW, "Succeeded"))
    new = types.ScalingPolicyStatus(last_scale=action(NOW + 10, "Pending"))
    assert intents.newest(old, new).last_scale == new.last_scale
    assert intents.newest(new, old).last_scale == new.last_scale
    pending = types.ScalingPolicyStatus(last_scale=action(NOW, "Pending"))
    failed = types.ScalingPolicyStatus(last_scale=action(NOW, "Failed"))
    assert intents.newest(pending, failed).last_scale == failed.last_scale

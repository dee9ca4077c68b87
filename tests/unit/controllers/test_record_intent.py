"""A scale action is written to status before it is sent, so a re-run or a second instance
can neither repeat nor overlap it."""

from __future__ import annotations

import datetime
import logging
import types as pytypes
from typing import Any

import pytest

from api.v1 import scalingpolicy_types as types
from controllers import health, observability, reconciler
from nimbusguard.clients import errors, policies
from nimbusguard.workflow import state as st

NOW = 1_800_000_000.0
POLICY = types.ScalingPolicy.model_validate(
    {
        "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "generation": 1},
        "spec": {
            "target": {"name": "web"},
            "scaling": {"minReplicas": 1, "maxReplicas": 10, "cooldownPeriod": 60},
            "metrics": {"cpu": {"targetUtilization": 50}},
        },
    }
)
LOG = logging.LoggerAdapter(logging.getLogger("test"), {})


class FakePolicies:
    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        self.version = 7
        self.patches: list[tuple[dict[str, Any], str | None]] = []
        self.conflict = False

    async def get(self, api: Any, namespace: str, name: str) -> dict[str, Any]:
        return {"metadata": {"resourceVersion": str(self.version)}, "status": self.status}

    async def patch_status(
        self,
        api: Any,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        if self.conflict or (
            resource_version is not None and resource_version != str(self.version)
        ):
            raise errors.ApiError(409, "HTTP 409: the object has been modified")
        self.patches.append((status, resource_version))
        self.status = {**self.status, **status}
        self.version += 1
        return {}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakePolicies:
    store = FakePolicies({})
    monkeypatch.setattr(policies, "get", store.get)
    monkeypatch.setattr(policies, "patch_status", store.patch_status)
    return store


def _reconciler() -> reconciler.Reconciler:
    clients: Any = pytypes.SimpleNamespace(hub="hub")
    return reconciler.Reconciler(
        clients=clients,
        permits=pytypes.SimpleNamespace(),  # type: ignore[arg-type]
        metrics=observability.Metrics(),
        readiness=health.Readiness(),
        graph=None,
        identity="test",
        clock=lambda: NOW,
    )


def _intent(to: int, eid: str = "u-1-g1-d5") -> st.Intent:
    return st.Intent(evaluation_id=eid, from_replicas=3, to_replicas=to, time=NOW)


async def test_the_intent_is_written_with_optimistic_concurrency(fake: FakePolicies) -> None:
    recorded: list[types.ScaleAction] = []
    ok = await _reconciler()._record_intent(
        POLICY, types.ScalingPolicyStatus(), _intent(5), recorded, LOG
    )
    assert ok
    ((patch, version),) = fake.patches
    assert version == "7"
    assert patch["lastScale"]["toReplicas"] == 5
    assert patch["lastScalingTime"].startswith("2027-01-15T")
    assert patch["nextScaleTime"] > patch["lastScalingTime"]
    assert recorded[0].id == "u-1-g1-d5"


async def test_a_rerun_of_a_recorded_action_proceeds_without_a_second_record(
    fake: FakePolicies,
) -> None:
    rec = _reconciler()
    first: list[types.ScaleAction] = []
    assert await rec._record_intent(POLICY, types.ScalingPolicyStatus(), _intent(5), first, LOG)
    # The process died before its final status write; the same evaluation runs again.
    again: list[types.ScaleAction] = []
    assert await rec._record_intent(POLICY, types.ScalingPolicyStatus(), _intent(5), again, LOG)
    assert len(fake.patches) == 1
    assert again[0] == first[0]
    # The same evaluation wanting something else now must not act on the old record.
    assert not await rec._record_intent(POLICY, types.ScalingPolicyStatus(), _intent(7), [], LOG)


async def test_somebody_else_scaled_meanwhile(fake: FakePolicies) -> None:
    when = datetime.datetime.fromtimestamp(NOW - 5, datetime.UTC)
    fake.status = {"lastScalingTime": when.isoformat().replace("+00:00", "Z")}
    assert not await _reconciler()._record_intent(
        POLICY, types.ScalingPolicyStatus(), _intent(5), [], LOG
    )
    assert fake.patches == []


async def test_a_conflicting_write_means_no_scale(fake: FakePolicies) -> None:
    fake.conflict = True
    assert not await _reconciler()._record_intent(
        POLICY, types.ScalingPolicyStatus(), _intent(5), [], LOG
    )

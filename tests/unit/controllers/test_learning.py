"""Loading and persisting Q-tables: nothing is silently discarded or overwritten."""

from __future__ import annotations

from typing import Any

import pytest

from api.v1 import scalingpolicy_types as types
from controllers import learning
from nimbusguard.clients import errors, qtables
from nimbusguard.workflow import runtime

POLICY = types.ScalingPolicy.model_validate(
    {
        "metadata": {"name": "web", "namespace": "shop", "uid": "u-1"},
        "spec": {
            "target": {"name": "web"},
            "scaling": {"minReplicas": 1, "maxReplicas": 10},
            "metrics": {"cpu": {"targetUtilization": 50}},
        },
    }
)


class Store:
    """ConfigMaps by name, standing in for the qtables client."""

    def __init__(self) -> None:
        self.maps: dict[str, dict[str, bytes]] = {}
        self.fail: errors.ClientError | None = None
        self.saves = 0

    async def load(self, api: Any, namespace: str, name: str, key: str) -> bytes | None:
        if self.fail is not None:
            raise self.fail
        cm = self.maps.get(name)
        if cm is None:
            return None
        if key not in cm:
            raise errors.ClientError("no key", reason="QTableMissingKey")
        return cm[key]

    async def save(
        self, api: Any, namespace: str, name: str, key: str, data: bytes, **_: Any
    ) -> None:
        if self.fail is not None:
            raise self.fail
        self.maps.setdefault(name, {})[key] = data
        self.saves += 1

    async def quarantine(self, api: Any, namespace: str, name: str, **_: Any) -> str:
        kept = f"{name}-corrupt-1"
        self.maps[kept] = self.maps[name]
        return kept


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    fake = Store()
    monkeypatch.setattr(qtables, "load", fake.load)
    monkeypatch.setattr(qtables, "save", fake.save)
    monkeypatch.setattr(qtables, "quarantine", fake.quarantine)
    return fake


def _rt() -> runtime.PolicyRuntime:
    return runtime.PolicyRuntime.create("shop/web", POLICY.spec)


async def test_a_new_policy_gets_a_new_table(store: Store) -> None:
    rt = _rt()
    loaded = await learning.load(None, POLICY, rt)
    assert rt.learner_ready
    assert loaded.condition is not None and loaded.condition.reason == "NewQTable"


async def test_a_stored_table_is_restored_with_its_progress(store: Store) -> None:
    trained = _rt()
    trained.learner.decisions = 321
    store.maps["web-qtable"] = {"qtable.npz": trained.learner.to_bytes()}
    rt = _rt()
    loaded = await learning.load(None, POLICY, rt)
    assert rt.learner_ready and rt.learner.decisions == 321
    assert rt.learner.epsilon == pytest.approx(trained.learner.epsilon)
    assert loaded.condition is not None and loaded.condition.reason == "Restored"


@pytest.mark.parametrize("blob", [b"not a table", b""])
async def test_a_corrupt_table_is_kept_renamed_and_the_policy_starts_afresh(
    store: Store, blob: bytes
) -> None:
    store.maps["web-qtable"] = {"qtable.npz": blob}
    rt = _rt()
    loaded = await learning.load(None, POLICY, rt)
    assert rt.learner_ready and rt.dirty
    assert store.maps["web-qtable-corrupt-1"] == {"qtable.npz": blob}
    assert loaded.condition is not None
    assert (loaded.condition.status, loaded.condition.reason) == (False, "QTableCorrupt")
    assert [n.reason for n in loaded.notices] == ["QTableCorrupt"]


async def test_a_table_that_cannot_be_read_yet_is_never_overwritten(store: Store) -> None:
    store.fail = errors.ClusterUnreachableError("timeout")
    rt = _rt()
    loaded = await learning.load(None, POLICY, rt)
    assert not rt.learner_ready and loaded.condition is None
    rt.dirty = True
    assert await learning.persist(None, POLICY, rt, now=1e9, force=True) is False
    assert store.saves == 0


async def test_warm_start_from_a_missing_config_map_is_reported(store: Store) -> None:
    spec = POLICY.spec.model_copy(deep=True)
    spec.ai_config.q_learning.warm_start = types.QTableRef(config_map_name="pretrained")
    policy = POLICY.model_copy(update={"spec": spec})
    rt = _rt()
    loaded = await learning.load(None, policy, rt)
    assert rt.learner_ready
    assert loaded.condition is not None and loaded.condition.reason == "WarmStartFailed"
    # With the table present, it is used, and the policy must still beat the baseline.
    trained = _rt()
    trained.learner.decisions = 900
    store.maps["pretrained"] = {"qtable.npz": trained.learner.to_bytes()}
    rt = _rt()
    loaded = await learning.load(None, policy, rt)
    assert loaded.condition is not None and loaded.condition.reason == "WarmStarted"
    assert rt.learner.decisions == 900 and rt.learner.phase == "Learning"


async def test_persist_respects_the_window_and_force(store: Store) -> None:
    rt = _rt()
    await learning.load(None, POLICY, rt)
    rt.dirty = True
    assert await learning.persist(None, POLICY, rt, now=1000.0, force=False)
    rt.dirty = True
    assert not await learning.persist(None, POLICY, rt, now=1010.0, force=False)  # < 30 s
    assert await learning.persist(None, POLICY, rt, now=1010.0, force=True)
    assert not await learning.persist(None, POLICY, rt, now=2000.0, force=True)  # not dirty
    assert store.saves == 2


def test_learning_status_shows_progress() -> None:
    rt = _rt()
    assert learning.learning_status(POLICY, rt, None) is None  # nothing known yet
    rt.learner_ready = True
    st = learning.learning_status(POLICY, rt, None)
    assert st is not None
    assert st.epsilon == pytest.approx(1.0)
    assert st.q_table_config_map == "web-qtable"
    cond = learning.baseline_condition(rt, None)
    assert cond is not None and cond.status is False
    assert "0 of 5 consecutive windows beaten" in cond.message


async def test_a_table_a_spec_change_cannot_use_is_kept(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nimbusguard.scaling import qtable

    rt = _rt()
    await learning.load(None, POLICY, rt)
    rt.learner.decisions = 42
    old = rt.learner.to_bytes()

    def unusable(*_: Any, **__: Any) -> Any:
        raise qtable.QTableError("another state space")

    monkeypatch.setattr(runtime, "restore_learner", unusable)
    changed = POLICY.spec.model_copy(deep=True)
    changed.ai_config.q_learning.learning_rate = 0.5
    assert rt.reconfigure(changed)
    assert rt.learner.decisions == 0 and rt.reset_reason
    kept = await learning.keep_replaced(None, POLICY, rt)
    assert kept is not None and kept.startswith("web-qtable-replaced-")
    assert store.maps[kept]["qtable.npz"] == old
    assert rt.replaced is None

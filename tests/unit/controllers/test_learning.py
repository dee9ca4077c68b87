"""Loading and persisting Q-tables: where they live, whose they are, and that nothing is
silently discarded or overwritten. The fake below is the Kubernetes API itself (every
ConfigMap call goes through `kube.call`), so the tests see namespaces and owners."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import threading
import time
import types as pytypes
from typing import Any

import numpy as np
import pytest

from api.v1 import scalingpolicy_types as types
from controllers import learning
from nimbusguard.clients import errors, kube, qtables, workloads
from nimbusguard.workflow import graph, runtime, state as wst
from tests.unit.slow_target import SlowTarget

OPERATOR_NS = "nimbusguard-system"
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
OWN = "nimbusguard-qtable-u-1"


_PHASE = learning.persist_phase  # the real one, for the test of the spread


@pytest.fixture(autouse=True)
def first_write_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests here are about what is written and when again: a first write at once (the
    phase in the interval is tested on its own below)."""
    monkeypatch.setattr(learning, "persist_phase", lambda _key, _interval: 0.0)


def _object(body: dict[str, Any]) -> Any:
    meta = body.get("metadata", {})
    refs = [
        pytypes.SimpleNamespace(uid=r["uid"], controller=r.get("controller"))
        for r in meta.get("ownerReferences", [])
    ]
    return pytypes.SimpleNamespace(
        metadata=pytypes.SimpleNamespace(
            name=meta["name"],
            labels=meta.get("labels") or {},
            owner_references=refs,
            resource_version=meta.get("resourceVersion"),
        ),
        data=body.get("data"),
        binary_data=body.get("binaryData"),
    )


class Cluster:
    """ConfigMaps by (namespace, name), behind the kubernetes client's method names."""

    def __init__(self) -> None:
        self.maps: dict[tuple[str, str], dict[str, Any]] = {}
        self.fail: errors.ClientError | None = None
        self.writes: list[tuple[str, str]] = []
        self.verbs: list[str] = []  # every write request, answered or refused
        self.reads: list[tuple[str, str]] = []  # every GET: (namespace, name)
        self.version = 0  # the etcd revision: every write of a map gets a new resourceVersion

    def _stamp(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        return {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}

    def put(self, namespace: str, name: str, data: bytes, owner_uid: str | None = None) -> None:
        meta: dict[str, Any] = {"name": name}
        if owner_uid is not None:
            meta["ownerReferences"] = [{"uid": owner_uid, "controller": True}]
        self.maps[(namespace, name)] = self._stamp(
            {"metadata": meta, "binaryData": {"qtable.npz": base64.b64encode(data).decode()}}
        )

    def blob(self, namespace: str, name: str) -> bytes:
        return base64.b64decode(self.maps[(namespace, name)]["binaryData"]["qtable.npz"])

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.fail is not None:
            raise self.fail
        method = fn.__name__
        if method == "read_namespaced_config_map":
            name, namespace = args
            self.reads.append((namespace, name))
            if (namespace, name) not in self.maps:
                raise errors.ApiError(404, "not found")
            return _object(self.maps[(namespace, name)])
        if method in ("patch_namespaced_config_map", "create_namespaced_config_map"):
            self.verbs.append(method.split("_")[0].upper())
            if method.startswith("patch"):
                name, namespace, body = args
                if (namespace, name) not in self.maps:
                    raise errors.ApiError(404, "not found")
            else:
                namespace, body = args
                name = body["metadata"]["name"]
                if (namespace, name) in self.maps:
                    raise errors.ApiError(409, "already exists")
            self.maps[(namespace, name)] = self._stamp(body)
            self.writes.append((namespace, name))
            return None
        if method == "list_namespaced_config_map":
            (namespace,) = args
            key, _, value = kwargs["label_selector"].partition("=")
            items = [
                _object(b)
                for (ns, _), b in self.maps.items()
                if ns == namespace and b["metadata"].get("labels", {}).get(key) == value
            ]
            return pytypes.SimpleNamespace(items=items)
        if method == "delete_namespaced_config_map":
            name, namespace = args
            del self.maps[(namespace, name)]
            return None
        raise AssertionError(f"unexpected call {method}")


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Cluster:
    fake = Cluster()
    monkeypatch.setattr(kube, "call", fake.call)
    return fake


STORE = learning.Store(api=None, namespace=OPERATOR_NS)
_GRAPH = graph.build()


def _rt() -> runtime.PolicyRuntime:
    return runtime.PolicyRuntime.create("shop/web", POLICY.spec)


def _learned(rt: runtime.PolicyRuntime) -> None:
    """What a learning step does to the table, as far as persisting goes: it changed."""
    rt.learner.updates += 1
    rt.dirty = True


def _active_table(decisions: int) -> bytes:
    trained = _rt()
    trained.learner.decisions = decisions
    trained.learner.promotion.phase = "Active"
    return trained.learner.to_bytes()


async def test_a_new_policy_gets_a_new_table(cluster: Cluster) -> None:
    rt = _rt()
    loaded = await learning.load(STORE, POLICY, rt)
    assert rt.learner_ready
    assert loaded.condition is not None and loaded.condition.reason == "NewQTable"


async def test_a_stored_table_is_restored_from_the_operator_namespace(cluster: Cluster) -> None:
    cluster.put(OPERATOR_NS, OWN, _active_table(321))
    rt = _rt()
    loaded = await learning.load(STORE, POLICY, rt)
    assert rt.learner_ready and rt.learner.decisions == 321
    assert rt.learner.phase == "Active"
    assert loaded.condition is not None and loaded.condition.reason == "Restored"


async def test_a_same_name_table_in_the_tenant_namespace_is_never_adopted(
    cluster: Cluster,
) -> None:
    """Issue 11, "Q-table identity by name": a ConfigMap `<name>-qtable` of an older policy
    of the same name (or anyone's, with any phase written into it) must not become this
    policy's table."""
    cluster.put("shop", "web-qtable", _active_table(5000), owner_uid="u-OLD")
    rt = _rt()
    loaded = await learning.load(STORE, POLICY, rt)
    assert loaded.condition is not None and loaded.condition.reason == "NewQTable"
    assert rt.learner.decisions == 0 and rt.learner.phase == "Learning"
    rt.dirty = True
    assert await learning.persist(STORE, POLICY, rt, now=1e9, force=True)
    # The foreign ConfigMap is neither written nor taken over.
    assert cluster.writes == [(OPERATOR_NS, OWN)]
    assert cluster.maps[("shop", "web-qtable")]["metadata"]["ownerReferences"][0]["uid"] == "u-OLD"


async def test_a_recreated_policy_starts_afresh(cluster: Cluster) -> None:
    cluster.put(OPERATOR_NS, "nimbusguard-qtable-u-OLD", _active_table(5000))
    rt = _rt()
    loaded = await learning.load(STORE, POLICY, rt)
    assert loaded.condition is not None and loaded.condition.reason == "NewQTable"
    assert rt.learner.phase == "Learning"


async def test_the_old_release_table_of_this_policy_is_migrated_as_a_warm_start(
    cluster: Cluster,
) -> None:
    cluster.put("shop", "web-qtable", _active_table(700), owner_uid="u-1")
    rt = _rt()
    loaded = await learning.load(STORE, POLICY, rt)
    assert loaded.condition is not None and loaded.condition.reason == "Migrated"
    # Its progress is kept, but it must beat the baseline again before acting.
    assert rt.learner.decisions == 700 and rt.learner.phase == "Learning"


async def test_a_table_listed_absent_when_leading_began_is_not_asked_for(
    cluster: Cluster,
) -> None:
    """A new leader listed the tables once it was the only writer (reconciler.take_over):
    a policy with none there gets a new one without a GET answered 404, once."""
    rt = _rt()
    rt.table_listed_absent = True
    loaded = await learning.load(STORE, POLICY, rt)
    assert loaded.condition is not None and loaded.condition.reason == "NewQTable"
    assert cluster.reads == [("shop", "web-qtable")]  # an older release's table: still asked
    assert not rt.table_listed_absent  # the listing is not trusted for a later load
    rt.learner_ready = False
    await learning.load(STORE, POLICY, rt)
    assert (OPERATOR_NS, OWN) in cluster.reads


def _loaded_before(reason: str, config_map: str = f"{OPERATOR_NS}/{OWN}") -> Any:
    """POLICY with the status a leader of this release wrote after loading its table."""
    status = {
        "learning": {"epsilon": 1.0, "qTableConfigMap": config_map},
        "conditions": [
            {
                "type": "QTableLoaded",
                "status": "True",
                "reason": reason,
                "message": "-",
                "lastTransitionTime": "2026-12-04T00:00:00Z",
            }
        ],
    }
    return POLICY.model_copy(update={"status": types.ScalingPolicyStatus.model_validate(status)})


async def test_an_older_release_table_is_looked_for_once_per_policy(cluster: Cluster) -> None:
    """Its status says this release loaded the policy and found none: a new leader does not
    ask again (a young fleet's takeover asked a thousand times)."""
    cluster.put("shop", "web-qtable", _active_table(700), owner_uid="u-1")  # appears later
    loaded = await learning.load(STORE, _loaded_before("NewQTable"), _rt())
    assert loaded.condition is not None and loaded.condition.reason == "NewQTable"
    assert cluster.reads == [(OPERATOR_NS, OWN)]


@pytest.mark.parametrize(
    ("reason", "config_map"),
    [("Migrated", f"{OPERATOR_NS}/{OWN}"), ("NewQTable", "shop/web-qtable")],
    ids=["migrated-but-not-written-yet", "an-older-release-status"],
)
async def test_an_older_release_table_is_looked_for_until_this_release_has(
    cluster: Cluster, reason: str, config_map: str
) -> None:
    cluster.put("shop", "web-qtable", _active_table(700), owner_uid="u-1")
    rt = _rt()
    loaded = await learning.load(STORE, _loaded_before(reason, config_map), rt)
    assert loaded.condition is not None and loaded.condition.reason == "Migrated"
    assert rt.learner.decisions == 700


@pytest.mark.parametrize("blob", [b"not a table", b""])
async def test_a_corrupt_table_is_kept_renamed_and_the_policy_starts_afresh(
    cluster: Cluster, blob: bytes
) -> None:
    cluster.put(OPERATOR_NS, OWN, blob)
    rt = _rt()
    loaded = await learning.load(STORE, POLICY, rt)
    assert rt.learner_ready and rt.dirty
    (kept,) = [n for ns, n in cluster.maps if n.startswith(f"{OWN}-corrupt-")]
    assert cluster.blob(OPERATOR_NS, kept) == blob
    assert loaded.condition is not None
    assert (loaded.condition.status, loaded.condition.reason) == (False, "QTableCorrupt")
    assert [n.reason for n in loaded.notices] == ["QTableCorrupt"]


async def test_a_table_that_cannot_be_read_yet_is_never_overwritten(cluster: Cluster) -> None:
    cluster.fail = errors.ClusterUnreachableError("timeout")
    rt = _rt()
    loaded = await learning.load(STORE, POLICY, rt)
    assert not rt.learner_ready and loaded.condition is None
    rt.dirty = True
    assert await learning.persist(STORE, POLICY, rt, now=1e9, force=True) is False
    assert cluster.writes == []


async def test_a_standby_restores_the_stored_table_and_writes_nothing(cluster: Cluster) -> None:
    cluster.put(OPERATOR_NS, OWN, _active_table(321))
    rt = _rt()
    version = await learning.prepare(STORE, POLICY, rt)
    assert version == cluster.maps[(OPERATOR_NS, OWN)]["metadata"]["resourceVersion"]
    assert rt.learner_ready and rt.learner.decisions == 321 and rt.learner.phase == "Active"
    rt.dirty = True  # an evaluation that learned nothing new still writes nothing
    assert not await learning.persist(STORE, POLICY, rt, now=1e9, force=True)
    assert cluster.verbs == []


@pytest.mark.parametrize("blob", [b"not a table", None])
async def test_a_standby_leaves_a_missing_or_unreadable_table_to_the_leader(
    cluster: Cluster, blob: bytes | None
) -> None:
    """The leader's `load` keeps a corrupt table aside or makes a new one, and says so: a
    standby may write neither."""
    if blob is not None:
        cluster.put(OPERATOR_NS, OWN, blob)
    rt = _rt()
    assert await learning.prepare(STORE, POLICY, rt) == ""
    assert not rt.learner_ready and cluster.verbs == []


async def test_a_standby_read_that_fails_is_an_error_and_changes_nothing(cluster: Cluster) -> None:
    cluster.fail = errors.ClusterUnreachableError("timeout")
    rt = _rt()
    with pytest.raises(errors.ClientError):
        await learning.prepare(STORE, POLICY, rt)
    assert not rt.learner_ready


async def test_tables_are_decoded_one_at_a_time(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy parses array headers with the `ast` module, whose state CPython 3.11 does not
    guard between threads: concurrent decodes failed with "SystemError: AST constructor
    recursion depth mismatch" when a takeover restored hundreds of tables at once."""
    busy, peak = [0], [0]
    lock = threading.Lock()
    real = runtime.restore_learner

    def restore(*args: Any, **kwargs: Any) -> Any:
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
        try:
            time.sleep(0.02)  # a decode's duration, inside the worker thread
            return real(*args, **kwargs)
        finally:
            with lock:
                busy[0] -= 1

    table = _active_table(7)

    async def read(*_: Any, **__: Any) -> bytes:
        return table  # at once: every decode is asked for before the first one ends

    monkeypatch.setattr(runtime, "restore_learner", restore)
    monkeypatch.setattr(qtables, "load", read)
    runtimes = [_rt() for _ in range(6)]
    await asyncio.gather(*(learning.load(STORE, POLICY, rt) for rt in runtimes))
    assert all(rt.learner_ready and rt.learner.decisions == 7 for rt in runtimes)
    assert peak[0] == 1, peak


async def test_warm_start_reads_the_tenant_table_and_never_writes_it(cluster: Cluster) -> None:
    spec = POLICY.spec.model_copy(deep=True)
    spec.ai_config.q_learning.warm_start = types.QTableRef(config_map_name="pretrained")
    policy = POLICY.model_copy(update={"spec": spec})
    rt = _rt()
    loaded = await learning.load(STORE, policy, rt)
    assert rt.learner_ready
    assert loaded.condition is not None and loaded.condition.reason == "WarmStartFailed"
    # With the table present, it is used, and the policy must still beat the baseline.
    cluster.put("shop", "pretrained", _active_table(900))
    rt = _rt()
    loaded = await learning.load(STORE, policy, rt)
    assert loaded.condition is not None and loaded.condition.reason == "WarmStarted"
    assert rt.learner.decisions == 900 and rt.learner.phase == "Learning"
    assert await learning.persist(STORE, policy, rt, now=1e9, force=True)
    assert cluster.writes == [(OPERATOR_NS, OWN)]


def _carrying(carry: bool) -> types.ScalingPolicy:
    spec = POLICY.spec.model_copy(deep=True)
    spec.ai_config.q_learning.warm_start = types.QTableRef(
        config_map_name="pretrained", carry_promotion=carry
    )
    return POLICY.model_copy(update={"spec": spec})


async def test_a_warm_start_carries_a_promotion_only_when_the_spec_opts_in_and_says_so(
    cluster: Cluster,
) -> None:
    trained = _rt()
    trained.learner.promotion.phase, trained.learner.promotion.windows_beaten = "Active", 5
    cluster.put("shop", "pretrained", trained.learner.to_bytes())
    rt = _rt()
    loaded = await learning.load(STORE, _carrying(False), rt)
    assert rt.learner.phase == "Learning" and rt.learner.promotion.windows_beaten == 0
    assert loaded.baseline_beaten is None and loaded.notices == ()
    rt = _rt()
    loaded = await learning.load(STORE, _carrying(True), rt)
    assert rt.learner.phase == "Active"
    beaten = loaded.baseline_beaten
    assert beaten is not None and (beaten.type, beaten.status) == ("BaselineBeaten", True)
    assert beaten.reason == "PromotionCarriedOver"
    assert "5 consecutive windows where it was trained, not on this workload" in beaten.message
    assert loaded.condition is not None and "promotion carried over" in loaded.condition.message
    assert [(n.type, n.reason) for n in loaded.notices] == [("Normal", "PromotionCarriedOver")]


async def test_carry_promotion_carries_no_windows_from_a_table_still_learning(
    cluster: Cluster,
) -> None:
    trained = _rt()
    trained.learner.promotion.windows_beaten = 3
    cluster.put("shop", "pretrained", trained.learner.to_bytes())
    rt = _rt()
    loaded = await learning.load(STORE, _carrying(True), rt)
    assert rt.learner.phase == "Learning" and rt.learner.promotion.windows_beaten == 0
    assert loaded.baseline_beaten is None and loaded.notices == ()
    assert loaded.condition is not None
    assert "no promotion to carry over" in loaded.condition.message


async def test_a_crafted_warm_start_table_is_refused_and_left_alone(cluster: Cluster) -> None:
    spec = POLICY.spec.model_copy(deep=True)
    spec.ai_config.q_learning.warm_start = types.QTableRef(config_map_name="pretrained")
    policy = POLICY.model_copy(update={"spec": spec})
    cluster.put("shop", "pretrained", b"PK\x03\x04 not really a zip")
    rt = _rt()
    loaded = await learning.load(STORE, policy, rt)
    assert loaded.condition is not None and loaded.condition.reason == "WarmStartFailed"
    assert rt.learner_ready and rt.learner.decisions == 0
    assert cluster.writes == []


async def test_persist_writes_to_the_operator_namespace_by_uid(cluster: Cluster) -> None:
    rt = _rt()
    await learning.load(STORE, POLICY, rt)
    _learned(rt)
    assert await learning.persist(STORE, POLICY, rt, now=1000.0, force=False)
    _learned(rt)
    assert not await learning.persist(STORE, POLICY, rt, now=1010.0, force=False)  # too soon
    assert await learning.persist(STORE, POLICY, rt, now=1010.0, force=True)
    assert not await learning.persist(STORE, POLICY, rt, now=2000.0, force=True)  # not dirty
    assert cluster.writes == [(OPERATOR_NS, OWN)] * 2
    meta = cluster.maps[(OPERATOR_NS, OWN)]["metadata"]
    assert meta["labels"]["nimbusguard.io/policy-uid"] == "u-1"
    assert meta["annotations"]["nimbusguard.io/policy"] == "shop/web"
    assert "ownerReferences" not in meta


async def test_the_first_write_of_a_table_found_absent_creates_it_in_one_request(
    cluster: Cluster,
) -> None:
    """Found absent at the load: POST, not a PATCH answered 404 and then a POST; later
    writes, and writes of a table that was read, PATCH."""
    rt = _rt()
    await learning.load(STORE, POLICY, rt)
    _learned(rt)
    assert await learning.persist(STORE, POLICY, rt, now=1000.0, force=False)
    _learned(rt)
    assert await learning.persist(STORE, POLICY, rt, now=2000.0, force=False)
    assert cluster.verbs == ["CREATE", "PATCH"]
    assert cluster.blob(OPERATOR_NS, OWN) == rt.learner.to_bytes()

    cluster.verbs.clear()
    again = _rt()  # the next operator reads it
    await learning.load(STORE, POLICY, again)
    _learned(again)
    assert await learning.persist(STORE, POLICY, again, now=3000.0, force=True)
    assert cluster.verbs == ["PATCH"]


async def test_a_failed_write_is_a_condition_and_retried_until_one_succeeds(
    cluster: Cluster,
) -> None:
    """A write the API refuses loses nothing: the table stays dirty, QTableSaved says why
    (naming the ConfigMap), every evaluation retries, and the first success says where the
    table is; with nothing new to write, the condition is left as it was."""
    rt = _rt()
    await learning.load(STORE, POLICY, rt)
    _learned(rt)
    cluster.fail = errors.ApiError(403, "configmaps is forbidden")
    for now in (1000.0, 1015.0):  # the next evaluation tries again, not a window later
        failed = await learning.save(STORE, POLICY, rt, now)
        assert failed is not None and (failed.status, failed.reason) == (
            False,
            "QTableSaveFailed",
        )
        assert "forbidden" in failed.message and f"{OPERATOR_NS}/{OWN}" in failed.message
        assert rt.dirty and (OPERATOR_NS, OWN) not in cluster.maps
    cluster.fail = None
    saved = await learning.save(STORE, POLICY, rt, 1030.0)
    assert saved is not None and (saved.status, saved.reason) == (True, "Saved")
    assert f"{OPERATOR_NS}/{OWN}" in saved.message
    assert cluster.blob(OPERATOR_NS, OWN) == rt.learner.to_bytes() and not rt.dirty
    assert rt.save_error is None
    _learned(rt)
    assert await learning.save(STORE, POLICY, rt, 1045.0) is None  # within the window


async def test_a_table_created_since_it_was_found_absent_is_replaced(cluster: Cluster) -> None:
    rt = _rt()
    await learning.load(STORE, POLICY, rt)
    cluster.put(OPERATOR_NS, OWN, b"written meanwhile (by a previous leader)")
    _learned(rt)
    assert await learning.persist(STORE, POLICY, rt, now=1000.0, force=False)
    assert cluster.verbs == ["CREATE", "PATCH"]
    assert cluster.blob(OPERATOR_NS, OWN) == rt.learner.to_bytes()


async def test_a_short_persist_interval_is_bounded(cluster: Cluster) -> None:
    policy = POLICY.model_copy(deep=True)
    policy.spec.ai_config.persist_interval_seconds = 1
    rt = _rt()
    await learning.load(STORE, policy, rt)
    written = 0
    for step in range(12):  # an evaluation every 5 s for a minute, learning every time
        _learned(rt)
        written += await learning.persist(STORE, policy, rt, now=1000.0 + 5 * step, force=False)
    assert written == 6  # one PATCH per MIN_PERSIST_SECONDS, not one per evaluation


async def test_an_evaluation_a_moment_early_still_writes_a_due_table(cluster: Cluster) -> None:
    """Evaluations may come 5 % of their interval early (pulled toward the policy's place):
    a table due 0.25 s later is written now, not one evaluation interval later."""
    policy = POLICY.model_copy(deep=True)
    policy.spec.ai_config.persist_interval_seconds = 10
    policy.spec.scaling.evaluation_interval = 5
    rt = _rt()
    await learning.load(STORE, policy, rt)
    _learned(rt)
    assert await learning.persist(STORE, policy, rt, now=1000.0, force=True)
    writes = []
    for step in range(1, 9):  # every 4.75 s: the place's pull at a 5 s interval
        _learned(rt)
        now = 1000.0 + 4.75 * step
        if await learning.persist(STORE, policy, rt, now=now, force=False):
            writes.append(now)
    assert writes == [1009.5, 1019.0, 1028.5, 1038.0]  # every second evaluation


async def test_a_fleets_first_writes_are_spread_over_the_persist_interval(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(learning, "persist_phase", _PHASE)
    interval = POLICY.spec.ai_config.persist_interval_seconds
    rt = _rt()
    await learning.load(STORE, POLICY, rt)
    _learned(rt)
    phase = _PHASE(rt.key, interval)
    assert 0 <= phase < interval
    # Not due until a fifth of an evaluation interval before (evaluations may come early).
    before = learning.PERSIST_EARLY * POLICY.spec.scaling.evaluation_interval + 1
    # Learned at 1000 s: not written before its phase, written at the first evaluation after.
    assert not await learning.persist(STORE, POLICY, rt, now=1000.0, force=False)
    assert not await learning.persist(STORE, POLICY, rt, now=1000.0 + phase - before, force=False)
    assert await learning.persist(STORE, POLICY, rt, now=1000.0 + phase, force=False)
    _learned(rt)  # then once per interval after that write
    assert not await learning.persist(
        STORE, POLICY, rt, now=1000.0 + phase + interval - before, force=False
    )
    assert await learning.persist(STORE, POLICY, rt, now=1000.0 + phase + interval, force=False)
    # A graceful stop writes whatever is due or not.
    _learned(rt)
    assert await learning.persist(STORE, POLICY, rt, now=1000.0 + phase + interval + 1, force=True)
    # A thousand policies that all learned in the same round: their first writes fill the
    # interval evenly (no tenth of it holds more than 13 %), not the same round.
    tenths = [0] * 10
    for n in range(1000):
        tenths[int(_PHASE(f"bench-{n % 40:02d}/p{n:04d}", interval) / interval * 10)] += 1
    assert max(tenths) < 130 and min(tenths) > 70, tenths


async def test_an_unchanged_table_is_not_written_again(cluster: Cluster) -> None:
    """Learning that left the table as it was (dirty, but the same content) writes nothing, at
    the persist interval or at a graceful stop; a table just restored is not written back."""
    rt = _rt()
    await learning.load(STORE, POLICY, rt)
    _learned(rt)
    assert await learning.persist(STORE, POLICY, rt, now=1000.0, force=False)
    rt.dirty = True  # learned, but nothing in the table changed
    assert not await learning.persist(STORE, POLICY, rt, now=5000.0, force=False)
    rt.dirty = True
    assert not await learning.persist(STORE, POLICY, rt, now=5000.0, force=True)
    assert not rt.dirty and rt.last_persist == 1000.0  # lastPersistTime stays the real one
    assert cluster.writes == [(OPERATOR_NS, OWN)]

    again = _rt()  # the next operator reads the table it wrote
    loaded = await learning.load(STORE, POLICY, again)
    assert loaded.condition is not None and loaded.condition.reason == "Restored"
    again.dirty = True
    assert not await learning.persist(STORE, POLICY, again, now=6000.0, force=True)
    _learned(again)
    assert await learning.persist(STORE, POLICY, again, now=6000.0, force=True)
    assert cluster.writes == [(OPERATOR_NS, OWN)] * 2


async def test_discard_deletes_every_table_of_the_policy_and_no_other(cluster: Cluster) -> None:
    rt = _rt()
    await learning.load(STORE, POLICY, rt)
    rt.dirty = True
    await learning.persist(STORE, POLICY, rt, now=1000.0, force=True)
    cluster.put(OPERATOR_NS, "nimbusguard-qtable-u-2", b"other policy")
    await learning.discard(STORE, "u-1", "shop/web")
    assert list(cluster.maps) == [(OPERATOR_NS, "nimbusguard-qtable-u-2")]


def test_learning_status_shows_progress() -> None:
    rt = _rt()
    assert learning.learning_status(STORE, POLICY, rt, None) is None  # nothing known yet
    rt.learner_ready = True
    st = learning.learning_status(STORE, POLICY, rt, None)
    assert st is not None
    assert st.epsilon == pytest.approx(1.0)
    assert st.q_table_config_map == f"{OPERATOR_NS}/{OWN}"
    cond = learning.baseline_condition(rt, None)
    assert cond is not None and cond.status is False
    assert "0 of 5 consecutive windows beaten" in cond.message


def test_a_window_lost_on_violations_says_so_although_the_learner_was_cheaper() -> None:
    """One shadow violation of the learner's choice (none of the HPA's) loses the window at
    a lower cost: the condition shows the rolling rates that decided it, not only the costs."""
    rt = _rt()
    rt.learner_ready = True
    tracker = rt.learner.promotion
    for i in range(tracker.config.window_decisions):
        tracker.record(-1.0, -1.5, learner_violation=1.0 if i == 2 else 0.0)
    assert tracker.windows_beaten == 0
    cond = learning.baseline_condition(rt, None)
    assert cond is not None
    assert "last window: learner -1.000 vs baseline -1.500" in cond.message
    mine, theirs, aim = tracker.learner_violations, tracker.baseline_violations, 0.007
    assert tracker.violation_aim == pytest.approx(aim) and mine > aim > theirs
    assert f"violations (rolling) learner {mine:.3%} vs baseline {theirs:.3%}" in cond.message


async def test_a_table_a_spec_change_cannot_use_is_kept(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nimbusguard.scaling import qtable

    rt = _rt()
    await learning.load(STORE, POLICY, rt)
    rt.learner.decisions = 42
    old = rt.learner.to_bytes()

    def unusable(*_: Any, **__: Any) -> Any:
        raise qtable.QTableError("another state space")

    monkeypatch.setattr(runtime, "restore_learner", unusable)
    changed = POLICY.spec.model_copy(deep=True)
    changed.ai_config.q_learning.learning_rate = 0.5
    assert rt.reconfigure(changed)
    assert rt.learner.decisions == 0 and rt.reset_reason
    kept = await learning.keep_replaced(STORE, POLICY, rt)
    assert kept is not None and kept.startswith(f"{OPERATOR_NS}/{OWN}-replaced-")
    assert cluster.blob(OPERATOR_NS, kept.split("/")[1]) == old
    assert rt.replaced is None


def _of_version(blob: bytes, schema: int) -> bytes:
    """`blob` as another release would have written it: same arrays, another schema number."""
    with np.load(io.BytesIO(blob)) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["meta"]))
    meta["schema"] = schema
    arrays["meta"] = np.array(json.dumps(meta))
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)
    return out.getvalue()


async def test_a_stored_table_of_an_incompatible_version_is_kept_aside_and_says_why(
    cluster: Cluster,
) -> None:
    old = _of_version(_active_table(700), 1)
    cluster.put(OPERATOR_NS, OWN, old, owner_uid="u-1")
    rt = _rt()
    loaded = await learning.load(STORE, POLICY, rt)
    # From scratch, in Learning: the old release's progress is not carried over.
    assert rt.learner_ready and rt.learner.decisions == 0 and rt.learner.phase == "Learning"
    (kept,) = [n for ns, n in cluster.maps if n.startswith(f"{OWN}-corrupt-")]
    assert cluster.blob(OPERATOR_NS, kept) == old
    assert loaded.condition is not None
    assert (loaded.condition.status, loaded.condition.reason) == (False, "QTableCorrupt")
    assert "schema version 1 is incompatible" in loaded.condition.message


async def test_a_warm_start_of_an_incompatible_version_starts_afresh_and_says_why(
    cluster: Cluster,
) -> None:
    spec = POLICY.spec.model_copy(deep=True)
    spec.ai_config.q_learning.warm_start = types.QTableRef(config_map_name="pretrained")
    policy = POLICY.model_copy(update={"spec": spec})
    old = _of_version(_active_table(900), 1)
    cluster.put("shop", "pretrained", old)
    rt = _rt()
    loaded = await learning.load(STORE, policy, rt)
    assert rt.learner_ready and rt.learner.decisions == 0 and rt.learner.phase == "Learning"
    assert loaded.condition is not None
    assert (loaded.condition.status, loaded.condition.reason) == (False, "WarmStartFailed")
    assert "schema version 1 is incompatible" in loaded.condition.message
    # The tenant's file is left as it was.
    assert cluster.blob("shop", "pretrained") == old and cluster.writes == []


def _wavy_load(i: int) -> float:
    return 6.0 + 2.5 * math.sin(i / 20.0) + (0.7 if i % 5 == 0 else 0.0)


async def _evaluate(
    rt: runtime.PolicyRuntime, target: SlowTarget, i: int, last: list[float]
) -> None:
    source: Any = type("Source", (), {"name": "fake", "read": staticmethod(target.metric)})()

    async def intent(_: wst.Intent) -> bool:
        return True

    ctx = wst.EvaluationContext(
        target=workloads.TargetRef("Deployment", "web", "shop"),
        api="api",
        api_error=None,
        sources=[source],
        runtime=rt,
        record_intent=intent,
    )
    now = 1_800_000_000.0 + 30.0 * i
    target.advance(i, _wavy_load(i))
    inp = wst.EvaluationInput(
        "shop/web", POLICY.spec, now, f"e{i}", True, last[-1] if last else None
    )
    decision = (await graph.run(_GRAPH, inp, ctx))["decision"]
    if decision.to_replicas != target.replicas:
        target.set(i, decision.to_replicas)
        last.append(now)


async def test_an_operator_restart_does_not_judge_the_learner_afresh(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs of the workflow on the same load, the learner acting with the policy's HPA
    alongside: one uninterrupted, one whose operator persists its table, stops and starts
    again (a new runtime, the table loaded from its ConfigMap). The restarted learner goes on
    with its evidence — compared evaluations, rolling rates and rewards, bias, the HPA's own
    trajectory, the budget's spent share — as the uninterrupted one does; with a version-2
    table (no record) it would start counting again, and QTableLoaded says so."""
    runs = {}
    for restart in (False, True):
        target = SlowTarget(6)
        monkeypatch.setattr(workloads, "read", target.read)
        monkeypatch.setattr(workloads, "scale", target.scale)
        rt = _rt()
        await learning.load(STORE, POLICY, rt)
        last: list[float] = []
        for i in range(260):
            if i == 60:  # promoted: the learner acts and the HPA runs alongside
                rt.learner.promotion.phase = "Active"
            if restart and i == 200:
                assert await learning.persist(STORE, POLICY, rt, 1e9, force=True)
                saved = rt.learner.record()
                rt = _rt()  # the operator starts again
                loaded = await learning.load(STORE, POLICY, rt)
                assert loaded.condition is not None and loaded.condition.reason == "Restored"
                assert "fresh" not in loaded.condition.message
                assert rt.learner.record() == json.loads(json.dumps(saved))
            await _evaluate(rt, target, i, last)
        runs[restart] = rt.learner
    straight, restarted = runs[False], runs[True]
    assert restarted.phase == straight.phase == "Active"
    # Every acting evaluation since the promotion is counted, across the restart.
    assert restarted.promotion.acting == straight.promotion.acting == 200
    assert restarted.shadow is not None and straight.shadow is not None
    assert restarted.shadow.replicas == straight.shadow.replicas
    assert restarted._realized_count == straight._realized_count
    # The few decisions in flight at the restart are not judged: the rest is the same record.
    assert abs(restarted.promotion._longrun_n - straight.promotion._longrun_n) <= 3
    assert restarted.promotion.real_cost == pytest.approx(straight.promotion.real_cost, rel=0.02)
    assert restarted.promotion.shadow_cost == pytest.approx(
        straight.promotion.shadow_cost, rel=0.02
    )
    # A version-2 table gives back the table but not the record, and says so.
    cluster.put(OPERATOR_NS, OWN, _of_version_2(restarted.to_bytes()))
    rt = _rt()
    loaded = await learning.load(STORE, POLICY, rt)
    assert rt.learner.phase == "Active" and rt.learner.promotion.acting == 0
    assert loaded.condition is not None and loaded.condition.status
    assert loaded.condition.reason == "Restored"
    assert "version-2 table kept no rolling state" in loaded.condition.message
    assert not [n for _, n in cluster.maps if "-corrupt-" in n]


def _of_version_2(blob: bytes) -> bytes:
    with np.load(io.BytesIO(blob)) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["meta"]))
    meta["schema"] = 2
    del meta["learner"]
    arrays["meta"] = np.array(json.dumps(meta))
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)
    return out.getvalue()


async def test_a_warm_start_of_a_version_2_table_says_what_starts_fresh(cluster: Cluster) -> None:
    spec = POLICY.spec.model_copy(deep=True)
    spec.ai_config.q_learning.warm_start = types.QTableRef(config_map_name="pretrained")
    policy = POLICY.model_copy(update={"spec": spec})
    cluster.put("shop", "pretrained", _of_version_2(_active_table(900)))
    rt = _rt()
    loaded = await learning.load(STORE, policy, rt)
    assert rt.learner.decisions == 900 and rt.learner.phase == "Learning"
    assert loaded.condition is not None
    assert (loaded.condition.status, loaded.condition.reason) == (True, "WarmStarted")
    assert "start fresh" in loaded.condition.message

"""Long-lived, in-memory state of one policy between evaluations.

What must survive a restart is elsewhere: the cooldown's memory in the policy's status, the
learner in its ConfigMap (written by the controller: its table, forecaster, price and its
record of rolling rates, hand-back evidence and the HPA run alongside, `QLearner.record`).
What lives only here is rebuilt on start-up: the HPA's recommendation history (the HPA
controller keeps it in memory too) and the previous observation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json

import numpy as np

from api.v1 import scalingpolicy_types as types
from nimbusguard.scaling import hpa, learner as learner_, observation, qtable


def _fingerprint(part: dict[str, object]) -> str:
    text = json.dumps(part, sort_keys=True)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def baseline_fingerprint(spec: types.ScalingPolicySpec) -> str:
    """Changes when a field that shapes the HPA baseline changes."""
    return _fingerprint(
        {"scaling": spec.scaling.to_json_dict(), "metrics": spec.metrics.to_json_dict()}
    )


def learner_fingerprint(spec: types.ScalingPolicySpec) -> str:
    """Changes when a field that shapes the learner changes."""
    return _fingerprint(
        {
            "bounds": [spec.scaling.min_replicas, spec.scaling.max_replicas],
            "interval": spec.scaling.evaluation_interval,
            "ai": spec.ai_config.to_json_dict(),
        }
    )


def _seed(key: str) -> int:
    """A stable seed per policy: a policy explores the same way after a restart."""
    return int(hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:8], 16)


@dataclasses.dataclass
class PolicyRuntime:
    """One per ScalingPolicy uid."""

    key: str
    baseline_fp: str
    learner_fp: str
    baseline: hpa.HPABaseline
    fallback_baseline: hpa.HPABaseline  # the HPA on a secondary metric during fallback
    learner: learner_.QLearner
    # False until the stored Q-table was read (or found absent): an unread table must never
    # be overwritten by a fresh one, so nothing learns or persists before.
    learner_ready: bool = False
    dirty: bool = False  # learned since the last write to the ConfigMap
    last_persist: float = 0.0
    # When the next routine write of the table is due (wall clock; None: not set yet, the first
    # one is placed at the policy's phase in the persist interval: controllers/learning.py).
    persist_due: float | None = None
    persisted_digest: str | None = None  # content of the last table written (or read)
    # Whether the table's ConfigMap exists: False when the load found none (the first write
    # creates it, not a PATCH answered 404 and then a POST), True once read or written.
    table_stored: bool | None = None
    # Set when this instance began to lead and its listing of the tables (taken once it was
    # the only writer) had none for this policy: the first load need not ask for it.
    table_listed_absent: bool = False
    save_error: str | None = None  # why the table's last write failed (None: it did not)
    previous: observation.Observation | None = None  # the last observation
    # When the target's last read was answered (monotonic): the next evaluation is timed from
    # it, so one policy's reads are never closer than its interval (controllers/reconciler.py).
    read_at: float | None = None
    metric_failing_since: float | None = None
    regret_total: float = 0.0
    shield_seen: int = 0
    reset_reason: str | None = None  # why the learner started afresh on a spec change
    replaced: bytes | None = None  # the table it replaced, for the controller to keep
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    # The spec the fingerprints were last taken of: an equal spec (every evaluation's, until the
    # spec is edited) skips them, a JSON dump and two SHA-1s per evaluation otherwise.
    spec: types.ScalingPolicySpec | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def create(cls, key: str, spec: types.ScalingPolicySpec) -> PolicyRuntime:
        config = hpa.HPAConfig.from_spec(spec.scaling)
        return cls(
            key=key,
            spec=spec,
            baseline_fp=baseline_fingerprint(spec),
            learner_fp=learner_fingerprint(spec),
            baseline=hpa.HPABaseline(config),
            fallback_baseline=hpa.HPABaseline(config),
            learner=new_learner(key, spec),
        )

    def reconfigure(self, spec: types.ScalingPolicySpec) -> bool:
        """Adopt a changed spec; True when anything was rebuilt.

        The HPA baselines start afresh (their history belongs to the old settings). The learner
        keeps its Q-table when the new settings can read it (same state space), else starts
        afresh and says why in `reset_reason`.
        """
        if spec is self.spec or spec == self.spec:  # same values: same fingerprints
            self.spec = spec  # the newest model: the previous one is not kept alive by this
            return False
        self.spec = spec
        changed = False
        fp = baseline_fingerprint(spec)
        if fp != self.baseline_fp:
            config = hpa.HPAConfig.from_spec(spec.scaling)
            self.baseline = hpa.HPABaseline(config)
            self.fallback_baseline = hpa.HPABaseline(config)
            self.baseline_fp, changed = fp, True
        fp = learner_fingerprint(spec)
        if fp != self.learner_fp:
            try:
                self.learner = restore_learner(
                    self.key, spec, self.learner.to_bytes(), warm_start=False
                )
            except qtable.QTableError as exc:
                if self.learner_ready:
                    self.replaced = self.learner.to_bytes()
                self.learner = new_learner(self.key, spec)
                self.reset_reason = f"the new spec cannot use the learned Q-table ({exc})"
            self.learner_fp, self.dirty, changed = fp, True, True
        return changed


def learner_config(spec: types.ScalingPolicySpec) -> learner_.LearnerConfig:
    """The learner's settings: the spec's, plus the fields `from_spec` does not read."""
    defaults = learner_.LearnerConfig()
    return learner_.LearnerConfig.from_spec(
        spec,
        horizon_seconds=float(spec.ai_config.decision_horizon_seconds),
        interval_seconds=float(spec.scaling.evaluation_interval),
        reward=dataclasses.replace(defaults.reward, slo_ratio=spec.ai_config.slo_ratio),
    )


def new_learner(key: str, spec: types.ScalingPolicySpec) -> learner_.QLearner:
    return learner_.QLearner(learner_config(spec), np.random.default_rng(_seed(key)))


def restore_learner(
    key: str,
    spec: types.ScalingPolicySpec,
    data: bytes,
    *,
    warm_start: bool,
    carry_promotion: bool = False,
) -> learner_.QLearner:
    """A learner from stored bytes; raises qtable.QTableError when they are unusable.
    `warm_start`: a table from elsewhere (`QLearner.from_bytes`)."""
    return learner_.QLearner.from_bytes(
        data,
        learner_config(spec),
        np.random.default_rng(_seed(key)),
        warm_start=warm_start,
        carry_promotion=carry_promotion,
    )

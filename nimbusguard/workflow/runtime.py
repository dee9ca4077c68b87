"""Long-lived, in-memory state of one policy between evaluations.

What must survive a restart is elsewhere: the cooldown's memory in the policy's status, the
learner in its ConfigMap. What lives here is rebuilt on start-up: the HPA's recommendation
history (the HPA controller keeps it in memory too) and the previous observation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json

from api.v1 import scalingpolicy_types as types
from nimbusguard.scaling import hpa, observation


def spec_fingerprint(spec: types.ScalingPolicySpec) -> str:
    """Changes when a field that shapes the baseline or the learner changes."""
    relevant = {
        "scaling": spec.scaling.to_json_dict(),
        "metrics": spec.metrics.to_json_dict(),
    }
    return hashlib.sha1(
        json.dumps(relevant, sort_keys=True).encode(), usedforsecurity=False
    ).hexdigest()


@dataclasses.dataclass
class PolicyRuntime:
    """One per ScalingPolicy uid."""

    key: str
    fingerprint: str
    baseline: hpa.HPABaseline
    fallback_baseline: hpa.HPABaseline  # the HPA on a secondary metric during fallback
    previous: observation.Observation | None = None
    metric_failing_since: float | None = None
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    @classmethod
    def create(cls, key: str, spec: types.ScalingPolicySpec) -> PolicyRuntime:
        config = hpa.HPAConfig.from_spec(spec.scaling)
        return cls(
            key=key,
            fingerprint=spec_fingerprint(spec),
            baseline=hpa.HPABaseline(config),
            fallback_baseline=hpa.HPABaseline(config),
        )

    def reconfigure(self, spec: types.ScalingPolicySpec) -> bool:
        """Adopt a changed spec; True when the baselines were rebuilt."""
        fingerprint = spec_fingerprint(spec)
        if fingerprint == self.fingerprint:
            return False
        config = hpa.HPAConfig.from_spec(spec.scaling)
        self.baseline = hpa.HPABaseline(config)
        self.fallback_baseline = hpa.HPABaseline(config)
        self.fingerprint = fingerprint
        self.previous = None
        return True

"""Metric sources behind one small interface: a reading is a number relative to its target.

A source reads one metric for a target and turns it into `utilization`: the per-replica
quantity divided by the policy's target (1.0 = exactly on target). Every failure — no sample,
several samples, NaN, HTTP errors, timeouts — raises MetricError; nothing is turned into 0.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from nimbusguard.clients import workloads


@dataclasses.dataclass(frozen=True)
class Reading:
    """One successful read of a metric."""

    source: str  # "prometheus" or "cpu"
    value: float  # the metric as read (a total, an average or a CPU percentage)
    utilization: float  # per-replica value ÷ target
    detail: str  # how it was computed, for the decision's reasoning


class MetricSource(Protocol):
    """Reads one metric of one target."""

    name: str

    async def read(self, target: workloads.TargetState) -> Reading:
        """The current reading; raises errors.MetricError when there is none."""
        ...

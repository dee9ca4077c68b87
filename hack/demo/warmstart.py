"""The demo's warm start: a Q-table trained in the simulator on other days of the same trace.

The replayed day is never trained on. The simulator runs in the demo's own time: the trace is
compressed as the replay compresses it (`speed` trace seconds per wall second), one decision
per evaluation interval, pods ready within the policy's decision horizon, so what the table
learned is what the operator will see. Training 4 days takes seconds; the table is cached
under ~/.cache/nimbusguard/demo/, keyed by everything that shapes it (the learner's code too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from hack.demo import trace as trace_mod
from nimbusguard.scaling import learner
from nimbusguard.simulator import cli_args, learning, model, traces

TRAIN_DAYS = 4
# Passes over the training days. Since the learner hands back to the policy's HPA when it
# costs more while acting (issue 14), where training stops decides the saved phase with few
# passes (6: Learning, 7: Active, 8-9: Learning); from 10 passes on every count up to 20
# ended Active with all 5 windows won, so the demo trains 12 (about 4 s, cached).
EPISODES = 12
LEARNER_CODE = Path(__file__).resolve().parents[2] / "nimbusguard" / "scaling"


@dataclasses.dataclass(frozen=True)
class Setup:
    """What the demo's policy and replay are; the table is trained for exactly this."""

    replay_day: int
    speed: float
    demand_min: float
    demand_max: float
    min_replicas: int
    max_replicas: int
    evaluation_seconds: float
    horizon_seconds: float
    target_utilization: float
    slo_ratio: float
    epsilon_decay_decisions: int

    def train_days(self, available: int) -> list[int]:
        """The TRAIN_DAYS days before the replayed one (after it, near the trace's start)."""
        before = [d for d in range(self.replay_day - TRAIN_DAYS, self.replay_day) if d >= 1]
        after = list(range(self.replay_day + 1, available + 1))
        return (before + after)[:TRAIN_DAYS] if len(before) < TRAIN_DAYS else before


@dataclasses.dataclass(frozen=True)
class Table:
    data: bytes
    days: list[int]
    states: int
    updates: int
    seconds: float
    cached: bool
    # The promotion state it was saved in: Active once the learner had beaten the HPA formula
    # in the simulator (the default gate, 5 windows of 20 decisions) and not fallen back since.
    phase: str
    windows_beaten: int
    windows: int
    window_decisions: int


def _table(
    data: bytes, days: list[int], brain: learner.QLearner, seconds: float, *, cached: bool
) -> Table:
    gate = brain.promotion
    return Table(
        data, days, brain.states_visited, brain.updates, seconds, cached,
        phase=gate.phase, windows_beaten=gate.windows_beaten, windows=gate.config.windows,
        window_decisions=gate.config.window_decisions,
    )  # fmt: skip


def _cache_dir() -> Path:
    root = os.environ.get("NIMBUSGUARD_CACHE") or str(Path.home() / ".cache" / "nimbusguard")
    return Path(root) / "demo"


def _key(setup: Setup, days: list[int]) -> str:
    code = hashlib.sha256()
    for path in sorted(LEARNER_CODE.rglob("*.py")):
        code.update(path.read_bytes())
    world = dataclasses.asdict(settings(setup))
    blob = json.dumps([dataclasses.asdict(setup), world, days, EPISODES, code.hexdigest()])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def settings(setup: Setup) -> model.ModelSettings:
    """The simulator's model of the demo, in wall seconds."""
    return model.ModelSettings(
        step_seconds=setup.evaluation_seconds,
        # One decision per step, as the policy evaluates (the model's default is every 15 s).
        evaluation_interval_seconds=setup.evaluation_seconds,
        startup_seconds=setup.horizon_seconds,
        min_replicas=setup.min_replicas,
        max_replicas=setup.max_replicas,
        slo_utilization=setup.target_utilization * setup.slo_ratio,
        hpa_target=setup.target_utilization,
    )


def initial_replicas(setup: Setup, day: trace_mod.CompressedDay) -> int:
    """The replicas the workload starts with: what the replayed day's first evaluations need
    to stay within the SLO, as in the simulator the table was trained in (every training
    episode starts so). Starting at the minimum instead would begin the replay in a hole the
    HPA formula and the learner both take a minute to climb out of, violating alike, which
    tells them apart in nothing and only delays the first promotion window."""
    sim = settings(setup)
    first = [day.at(step * setup.evaluation_seconds) for step in range(sim.startup_steps + 1)]
    return sim.initial_replicas(np.array(first))


def train(setup: Setup, path: Path | None = None) -> Table:
    """The warm-start table for `setup` (from the cache when it was trained before)."""
    source = path or trace_mod.trace_path()
    day_hours = 24.0 / setup.speed  # one trace day, in wall hours
    interval = trace_mod.SAMPLE_SECONDS / setup.speed
    available = int((cli_args.trace_hours(source, trace_mod.SAMPLE_SECONDS) or 0.0) // 24)
    days = setup.train_days(available)
    key = _key(setup, days)
    cached = _cache_dir() / f"qtable-{key}.npz"
    sim = settings(setup)
    flags = learning.LearnerFlags(epsilon_decay_decisions=setup.epsilon_decay_decisions)
    config = learning.learner_config(sim, flags)
    started = time.monotonic()
    if cached.exists():
        data = cached.read_bytes()
        brain = learner.QLearner.from_bytes(data, config, np.random.default_rng(0))
        return _table(data, days, brain, 0.0, cached=True)
    parts = []
    for day in days:
        loaded = traces.load(
            source,
            trace_mod.COLUMN,
            interval_seconds=interval,
            step_seconds=setup.evaluation_seconds,
            demand_min=setup.demand_min,
            demand_max=setup.demand_max,
            start_hours=(day - 1) * day_hours,
            end_hours=day * day_hours,
        )
        parts.append(loaded.demand)
    demand = np.concatenate(parts)
    brain = learning.train(demand, sim, config, EPISODES, seed=0)
    data = brain.to_bytes()
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(cached)
    return _table(data, days, brain, time.monotonic() - started, cached=False)

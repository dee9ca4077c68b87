"""A learner variant against `main`'s learner on chosen rows of the learner benchmark.

    python -m benchmarks.learner_variants --row cross:fast:step --row same:api:flash_crowd:3
    python -m benchmarks.learner_variants --set price_gain=0.1 --row cross:fast:sawtooth
    python -m benchmarks.learner_variants --set levels=0/0.25/0.5/1/2 --detail --row ...

A row is `kind:loop:trace[:exploration seeds[:generator seed]]` (kind: same, cross or fresh;
2 exploration seeds unless given), run exactly as `benchmarks.learner_benchmark` runs it (same
windows, tuning, training and test). `--set` changes a `LearnerConfig` field for training and
test alike (`band` and `levels` of the actions, `churn` of the reward too: the weight at
15 s, which the learner scales to its interval, `LearnerConfig.scoring`); `--start-active`
starts the warm-started learner Active, `--bias` sets its re-promotion bias. A variant of the
code itself is measured by running this on that code. It prints one line per row (`--detail`:
one per seed too) and writes nothing but its caches in build/: the benchmark's JSON and tables
stay as the last full run left them.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import statistics
from typing import Any

import numpy as np

from benchmarks import learner_benchmark as lb
from nimbusguard.scaling import learner, promotion
from nimbusguard.simulator import learning, model, traces, tuning


@dataclasses.dataclass(frozen=True)
class Variant:
    """What differs from the learner's defaults (module docstring)."""

    overrides: tuple[tuple[str, str], ...] = ()
    start_active: bool = False
    bias: float | None = None

    def config(
        self, settings: model.ModelSettings, policy: learning.PolicyHPA
    ) -> learner.LearnerConfig:
        config = learning.learner_config(settings, learning.LearnerFlags(), policy)
        for key, raw in self.overrides:
            if key == "levels":
                levels = tuple(float(v) for v in raw.split("/"))
                actions = dataclasses.replace(config.actions, levels=levels)
                config = dataclasses.replace(config, actions=actions)
            elif key == "band":
                actions = dataclasses.replace(config.actions, band=float(raw))
                config = dataclasses.replace(config, actions=actions)
            elif key == "churn":
                weights = dataclasses.replace(config.reward, churn=float(raw))
                config = dataclasses.replace(config, reward=weights)
            else:
                kind = type(getattr(config, key))
                value: Any = int(float(raw)) if kind is int else float(raw)
                config = dataclasses.replace(config, **{key: value})
        return config

    @property
    def key(self) -> str:
        text = repr(sorted(self.overrides))
        return hashlib.sha256(text.encode()).hexdigest()[:8]


def trained(s: lb.Spec, loop: str, tuned: tuning.Tuned, variant: Variant) -> bytes:
    cache = lb.BUILD / f"variant-{s.name}-{s.path.stem}-{loop}-{lb.code_key()}-{variant.key}.npz"
    if cache.exists():
        return cache.read_bytes()
    settings = lb.settings_for(s, loop)
    policy = learning.PolicyHPA(tuned.target, tuned.scale_down_window)
    brain = learning.train(
        lb.window(s, settings, test=False).demand, settings, variant.config(settings, policy),
        lb.EPISODES, 0, policy=policy,
    )  # fmt: skip
    data = brain.to_bytes()
    cache.write_bytes(data)
    return data


def run(
    blob: bytes, tuned: tuning.Tuned, test: traces.Trace, settings: model.ModelSettings,
    seed: int, variant: Variant,
) -> dict[str, float]:  # fmt: skip
    policy = learning.PolicyHPA(tuned.target, tuned.scale_down_window)
    config = variant.config(settings, policy)
    brain = learner.QLearner.from_bytes(blob, config, np.random.default_rng(seed), warm_start=True)
    if variant.start_active:
        brain.promotion.phase = promotion.ACTIVE
    if variant.bias is not None:
        brain.promotion.bias = variant.bias
    autoscaler = learning.QLearning("qlearning", brain, settings, policy)
    initial = settings.initial_replicas(test.demand)
    traj = model.run(
        test.demand, autoscaler, settings, initial, start_seconds=test.start_hours * 3600.0
    )
    m = model.metrics(traj, initial, settings.step_seconds)
    modes = autoscaler.modes
    acting = [mode != "baseline" for mode in modes]
    return {
        "replica_hours": m.replica_hours,
        "violations": m.slo_violation_fraction,
        "acted": sum(acting) / max(len(modes), 1),
        "first": next((i for i, a in enumerate(acting) if a), len(modes)) / max(len(modes), 1),
        "events": m.scale_events_per_hour,
        "starting": float(np.mean(traj.replicas - traj.ready)),
        "price": brain.slo_price,
    }


def row(spec: str, variant: Variant, detail: bool) -> str:
    kind, loop, trace, *rest = spec.split(":")
    seeds = int(rest[0]) if rest else 2
    generator = int(rest[1]) if len(rest) > 1 else None
    s = lb.spec(trace, generator)
    settings = lb.settings_for(s, loop)
    tuned = lb.tuned_for(lb.spec("alibaba") if kind == "cross" else s, loop)
    test = lb.window(s, settings, test=True)
    blob = trained(lb.spec("alibaba") if kind == "cross" else s, loop, tuned, variant)
    hpa = lb.run_hpa(tuned, test, settings)
    runs = [run(blob, tuned, test, settings, seed, variant) for seed in range(seeds)]
    lines = []
    if detail:
        lines += [
            f"  seed {i}: viol {r['violations']:.3%} acted {r['acted']:.0%} first acting "
            f"{r['first']:.0%} of the window, {r['events']:.1f} scale events/h, "
            f"{r['starting']:.3f} replicas starting, price {r['price']:.3g}"
            for i, r in enumerate(runs)
        ]
    ratio = statistics.fmean(r["replica_hours"] for r in runs) / hpa["replica_hours"]
    versus = "hpa-alibaba" if kind == "cross" else "hpa-tuned"
    lines.append(
        f"{spec}: learner ÷ {versus} {ratio:.4f}, learner viol max "
        f"{max(r['violations'] for r in runs):.3%}, acted "
        f"{statistics.fmean(r['acted'] for r in runs):.0%}; {versus} viol {hpa['violations']:.3%}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="A learner variant on rows of the benchmark.")
    parser.add_argument("--row", action="append", required=True, help="kind:loop:trace[:seeds]")
    parser.add_argument("--set", action="append", default=[], help="FIELD=VALUE")
    parser.add_argument("--start-active", action="store_true")
    parser.add_argument("--bias", type=float)
    parser.add_argument("--detail", action="store_true", help="a line per seed too")
    args = parser.parse_args()
    lb.BUILD.mkdir(parents=True, exist_ok=True)
    overrides = tuple((key, value) for key, _, value in (i.partition("=") for i in args.set))
    variant = Variant(overrides, args.start_active, args.bias)
    for spec in args.row:
        print(row(spec, variant, args.detail), flush=True)


if __name__ == "__main__":
    main()

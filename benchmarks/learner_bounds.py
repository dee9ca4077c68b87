"""Bounds for the learner's same-trace table: what no (causal) autoscaler can beat by much.

    python -m benchmarks.learner_bounds      # after benchmarks.learner_benchmark (fast loop)

Per test window (fast loop, the service model of `nimbusguard simulate`), as ratios to
hpa-tuned's replica-hours there (hpa-tuned from the benchmark's cache):

- **zero-violation oracle**: knows the future; after step s keeps max(need[s+1..s+K]).
- **budget-spending oracle**: the same, allowed to leave up to 1 % of the steps short: steps are
  dropped from the need greedily, each time the one whose drop saves the most replica-steps
  (a feasible schedule: the best budget-spending schedule costs at most this). Checked through
  `model.run`: violations ≤ 1 %.
- **causal bound** (synthetic traces): the trace regenerated with the same seed and no noise
  (the generators draw the same random numbers), scaled like the test window; an autoscaler
  that knows this noise-free load for all time but not the noise (Gaussian, σ = 5 % of the
  load, 10 % in the drift family's test half) and whose replicas are ready at once picks, each
  step, the replicas minimising R + λ·P(violation), λ set so the expected violations are 1 %.
  It knows more than any forecaster, so a causal learner cannot beat it by much (it ignores the
  1-3-step correlation of the noise, which buys little). Alibaba has no noise-free version.
- **the same held to the API loop's cadence** (`cadence_bound`): its replicas change only at an
  evaluation (every 30 s) and not again within the 60 s cooldowns, against the API loop's
  hpa-tuned (same-trace) and Alibaba-calibrated HPA (cross-trace); the fast loop's bound is
  given against the Alibaba-calibrated HPA too.

Results are merged into docs/benchmarks/learner.json under "bounds" and the doc is rewritten.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np

from benchmarks import learner_benchmark as lb
from nimbusguard.simulator import baselines, model, synthetic, traces

_SQRT2 = math.sqrt(2.0)


def budget_oracle(demand: model.FloatArray, settings: model.ModelSettings) -> float:
    """Replica-hours of the greedy budget-spending oracle (module docstring)."""
    need = settings.needed(demand).astype(np.int64)
    n, k = len(need), settings.startup_steps
    budget = int(settings.slo_budget * n)
    floor = settings.min_replicas

    def schedule(values: np.ndarray) -> np.ndarray:
        padded = np.concatenate((values[1:], np.full(k, values[-1])))
        windows = np.lib.stride_tricks.sliding_window_view(padded, k)
        return np.asarray(windows.max(axis=1)[:n])

    def saving(values: np.ndarray, t: int) -> int:
        lo, hi = max(0, t - k), t
        if values[t] <= floor or hi <= lo:
            return 0
        total = 0
        for s in range(lo, hi):
            window = values[s + 1 : min(n, s + k + 1)]
            others = [v for j, v in enumerate(window, start=s + 1) if j != t]
            rest = max(others) if others else floor
            total += max(0, int(values[t]) - max(int(rest), floor))
        return total

    values = need.copy()
    gains = np.array([saving(values, t) for t in range(n)])
    dropped = 0
    while dropped < budget and gains.max() > 0:
        t = int(np.argmax(gains))
        values[t] = floor
        dropped += 1
        for u in range(max(0, t - k), min(n, t + k + 1)):
            gains[u] = saving(values, u)
    plan = schedule(values)
    traj = model.run(demand, baselines.Schedule("budget-oracle", plan), settings)
    assert traj.violations.mean() <= settings.slo_budget + 1e-12
    return float(traj.replicas.sum()) * settings.step_seconds / 3600.0


def _budget_price(
    pick: Callable[[float], tuple[np.ndarray, float]], budget: float, steps: int
) -> float:
    """The lowest price of a violation (geometric bisection) whose `pick` keeps `budget`."""
    lo, hi = 1e-2, 1e7
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        if pick(mid)[1] > budget:
            lo = mid
        else:
            hi = mid
    return hi


def causal_bound(mean: np.ndarray, sigma: np.ndarray, settings: model.ModelSettings) -> float:
    """Replica-hours of the noise-free-future Lagrangian autoscaler (module docstring)."""
    slo = settings.slo_utilization
    base = np.ceil(mean / slo).astype(np.int64)
    candidates = base[:, None] + np.arange(-3, 12)[None, :]
    candidates = np.clip(candidates, settings.min_replicas, settings.max_replicas)
    z = (candidates * slo - mean[:, None]) / np.maximum(sigma[:, None], 1e-9)
    risk = 0.5 * np.array([[math.erfc(v / _SQRT2) for v in row] for row in z])

    def pick(lam: float) -> tuple[np.ndarray, float]:
        cost = candidates + lam * risk
        best = np.argmin(cost, axis=1)
        rows = np.arange(len(mean))
        return candidates[rows, best], float(risk[rows, best].mean())

    replicas, _ = pick(_budget_price(pick, settings.slo_budget, 60))
    return float(replicas.sum()) * settings.step_seconds / 3600.0


def cheapest_schedule(cost: np.ndarray, held: int) -> np.ndarray:
    """The cheapest choice per evaluation (rows of `cost`: evaluations, columns: counts) when a
    change must be kept for the next `held` evaluations: a dynamic programme over (count,
    evaluations still held). Returns the column chosen at each evaluation."""
    blocks, width = cost.shape
    index = np.arange(width)
    # value[k]: the best cost so far ending with each count, still held for k evaluations.
    value = [cost[0].copy()] + [np.full(width, np.inf) for _ in range(held)]
    back = np.zeros((blocks, held + 1, width), dtype=np.int64)  # predecessor, k × width + count
    for b in range(1, blocks):
        free = value[0]
        first = int(np.argmin(free))
        rest = free.copy()
        rest[first] = np.inf
        second = int(np.argmin(rest)) if width > 1 else first
        other = np.where(index == first, free[second], free[first])  # best other count
        mover = np.where(index == first, second, first)
        new = []
        if held == 0:
            new.append(cost[b] + np.minimum(free, other))
            back[b, 0] = np.where(free <= other, index, mover)
        else:
            new.append(cost[b] + np.minimum(free, value[1]))
            back[b, 0] = np.where(free <= value[1], index, width + index)
            for k in range(1, held):
                new.append(cost[b] + value[k + 1])
                back[b, k] = (k + 1) * width + index
            new.append(cost[b] + other)
            back[b, held] = mover
        value = new
    at = int(np.argmin(np.concatenate(value)))
    out = np.empty(blocks, dtype=np.int64)
    for b in range(blocks - 1, -1, -1):
        out[b] = at % width
        at = int(back[b, at // width, at % width])
    return out


def cadence_bound(mean: np.ndarray, sigma: np.ndarray, settings: model.ModelSettings) -> float:
    """Replica-hours of the same noise-free-future Lagrangian autoscaler, held to the loop's
    cadence: its replicas (ready at once) change only at an evaluation, every
    `evaluation_interval_seconds`, and not again within the cooldown (a change at T is allowed
    at the first evaluation at or after T + the shorter of the two cooldowns), at the lowest
    price λ whose schedule's expected violations are within the budget. With the fast loop's
    settings (an evaluation every step, no cooldown) it is `causal_bound`."""
    step = settings.step_seconds
    every = max(1, round(settings.evaluation_interval_seconds / step))
    cooldown = min(settings.scale_up_cooldown_seconds, settings.scale_down_cooldown_seconds)
    held = max(0, math.ceil(cooldown / settings.evaluation_interval_seconds - 1e-9) - 1)
    counts = np.arange(settings.min_replicas, settings.max_replicas + 1)
    z = (counts[None, :] * settings.slo_utilization - mean[:, None]) / np.maximum(
        sigma[:, None], 1e-9
    )
    risk = 0.5 * np.vectorize(math.erfc)(z / _SQRT2)
    starts = np.arange(0, len(mean), every)
    block_risk = np.add.reduceat(risk, starts, axis=0)
    length = np.diff(np.append(starts, len(mean)))[:, None] * counts[None, :]
    rows = np.arange(len(starts))

    def pick(lam: float) -> tuple[np.ndarray, float]:
        chosen = cheapest_schedule(length + lam * block_risk, held)
        return chosen, float(block_risk[rows, chosen].sum()) / len(mean)

    chosen, _ = pick(_budget_price(pick, settings.slo_budget, 40))
    return float(length[rows, chosen].sum()) * step / 3600.0


def noise_free(s: lb.Spec, test: traces.Trace) -> tuple[np.ndarray, np.ndarray]:
    """The test window's noise-free load and the noise's σ, in the window's cores."""
    shape, seed = s.path.stem.split("-")
    keep = synthetic.NOISE
    try:
        synthetic.NOISE = 0.0
        raw = synthetic.GENERATORS[shape](np.random.default_rng(int(seed)), 4.0, 15.0)
    finally:
        synthetic.NOISE = keep
    noisy = np.loadtxt(s.path, delimiter=",", skiprows=1)[:, 1]
    rows = int(s.train_end * 3600 / s.interval)
    low, high = float(noisy[:rows].min()), float(noisy[:rows].max())
    scale = 18.0 / (high - low)
    start = rows
    clean = raw[start : start + len(test.demand)]
    mean = 2.0 + (clean - low) * scale
    level = np.full(len(clean), keep)
    if shape == synthetic.DRIFT:
        level = level * 2.0  # the test half has twice the noise
    return mean, scale * clean * level


def main() -> None:
    results = json.loads(lb.OUT.read_text()) if lb.OUT.exists() else {}
    bounds: dict[str, dict[str, float | None]] = {}
    for name in ["alibaba", *lb.SEEDS]:
        s = lb.spec(name)
        settings = lb.settings_for(s, "fast")
        tuned = lb.tuned_for(s, "fast")
        test = lb.window(s, settings, test=True)
        ht = lb.run_hpa(tuned, test, settings)["replica_hours"]
        row: dict[str, float | None] = {
            "oracle_vs_hpa_tuned": lb.oracle_hours(test, settings) / ht,
            "budget_oracle_vs_hpa_tuned": budget_oracle(test.demand, settings) / ht,
            "causal_vs_hpa_tuned": None,
        }
        if name != "alibaba":
            mean, sigma = noise_free(s, test)
            fast = causal_bound(mean, sigma, settings)
            row["causal_vs_hpa_tuned"] = fast / ht
            # The API loop: the same bound held to its cadence, against that loop's own HPAs.
            api = lb.settings_for(s, "api")
            hours = cadence_bound(mean, sigma, api)
            row["causal_api_vs_hpa_tuned"] = (
                hours / lb.run_hpa(lb.tuned_for(s, "api"), test, api)["replica_hours"]
            )
            if name in synthetic.SHAPES:  # the cross-trace windows: against the Alibaba HPA
                source = lb.spec("alibaba")
                row["causal_vs_hpa_alibaba"] = (
                    fast / lb.run_hpa(lb.tuned_for(source, "fast"), test, settings)["replica_hours"]
                )
                row["causal_api_vs_hpa_alibaba"] = (
                    hours / lb.run_hpa(lb.tuned_for(source, "api"), test, api)["replica_hours"]
                )
        bounds[name] = row
        print(name, {k: None if v is None else round(v, 3) for k, v in row.items()}, flush=True)
    results["bounds"] = bounds
    lb.save(results)
    lb.write_doc(results)


if __name__ == "__main__":
    main()

"""Synthetic stress traces: flash crowd, step, ramp and sawtooth.

Each generator returns load in arbitrary units (the simulator min-max scales it to cores) for
`days` days at `interval_seconds`, with multiplicative noise. The same seed gives the same trace.
The benchmark writes 4 days per shape and uses days 1-2 to train and tune, days 3-4 to test,
as it does with the Alibaba trace.
"""

from __future__ import annotations

import collections.abc
import pathlib

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
NOISE = 0.05
SHAPES = ("flash_crowd", "step", "ramp", "sawtooth")
DRIFT = "drift"


def _steps(days: float, interval: float) -> int:
    return round(days * 86400 / interval)


def _noise(rng: np.random.Generator, n: int, level: float) -> FloatArray:
    # Smooth-ish noise: white noise through a short moving average, like aggregated CPU usage.
    white = rng.normal(0.0, level, n + 3)
    return np.convolve(white, np.ones(4) / 2.0, mode="valid")[:n]


def flash_crowd(rng: np.random.Generator, days: float, interval: float) -> FloatArray:
    """A gently varying base with a few sudden crowds a day (2.5-4× in a minute, 10-40 min,
    then a 10 min decay)."""
    n = _steps(days, interval)
    t = np.arange(n) * interval
    base = 1.0 + 0.2 * np.sin(2 * np.pi * t / 86400.0)
    extra = np.zeros(n)
    start = 0.0
    while True:
        start += rng.uniform(3, 9) * 3600.0
        if start >= t[-1]:
            break
        height = rng.uniform(1.5, 3.0)
        rise, hold, decay = 60.0, rng.uniform(600, 2400), 600.0
        rel = t - start
        shape = np.clip(rel / rise, 0, 1) * (rel < rise + hold)
        tail = (rel >= rise + hold) * np.clip(1 - (rel - rise - hold) / decay, 0, 1)
        extra += height * (shape + tail)
    return np.asarray((base + extra) * (1 + _noise(rng, n, NOISE)), dtype=np.float64)


def step(rng: np.random.Generator, days: float, interval: float) -> FloatArray:
    """Levels that jump every 30-120 minutes to a new value between 1 and 5."""
    n = _steps(days, interval)
    out = np.empty(n)
    i = 0
    level = 2.0
    while i < n:
        length = int(rng.uniform(1800, 7200) / interval)
        out[i : i + length] = level
        i += length
        level = rng.uniform(1.0, 5.0)
    return out * (1 + _noise(rng, n, NOISE))


def ramp(rng: np.random.Generator, days: float, interval: float) -> FloatArray:
    """Linear ramps over 20-60 minutes between levels 1 and 5, with plateaus of 20-90 minutes."""
    n = _steps(days, interval)
    knots_t = [0.0]
    knots_v = [2.0]
    while knots_t[-1] < n * interval:
        plateau = rng.uniform(1200, 5400)
        knots_t.append(knots_t[-1] + plateau)
        knots_v.append(knots_v[-1])
        knots_t.append(knots_t[-1] + rng.uniform(1200, 3600))
        knots_v.append(rng.uniform(1.0, 5.0))
    t = np.arange(n) * interval
    return np.asarray(
        np.interp(t, knots_t, knots_v) * (1 + _noise(rng, n, NOISE)), dtype=np.float64
    )


def sawtooth(rng: np.random.Generator, days: float, interval: float) -> FloatArray:
    """Rises linearly from 1 to 4 over 40 minutes, drops back at once, and again (batch jobs)."""
    n = _steps(days, interval)
    t = np.arange(n) * interval
    period = 2400.0
    phase = (t % period) / period
    return (1.0 + 3.0 * phase) * (1 + _noise(rng, n, NOISE))


def drift(rng: np.random.Generator, days: float, interval: float) -> FloatArray:
    """A workload that changes between its first and its second half (train and test differ):
    a daily shape (±25 %), then the noise doubles (5 % → 10 %), the base load steps up 40 %, the
    daily shape shifts by 6 hours, and a batch job appears (+0.3 for 10 minutes every 30)."""
    n = _steps(days, interval)
    t = np.arange(n) * interval
    later = t >= days * 86400.0 / 2
    day = 2 * np.pi / 86400.0
    base = np.where(later, 1.4 * (1.0 + 0.25 * np.sin(day * (t - 6 * 3600.0))),
                    1.0 + 0.25 * np.sin(day * t))  # fmt: skip
    batch = np.where(later & (t % 1800.0 < 600.0), 0.3, 0.0)
    noise = np.where(later, 2.0, 1.0) * _noise(rng, n, NOISE)
    return np.asarray((base + batch) * (1 + noise), dtype=np.float64)


GENERATORS: dict[str, collections.abc.Callable[[np.random.Generator, float, float], FloatArray]] = {
    "flash_crowd": flash_crowd,
    "step": step,
    "ramp": ramp,
    "sawtooth": sawtooth,
    DRIFT: drift,
}


def write(path: pathlib.Path, shape: str, seed: int, days: float, interval: float) -> None:
    """Write one trace as CSV with a `time_seconds` and a `load` column."""
    load = GENERATORS[shape](np.random.default_rng(seed), days, interval)
    times = np.arange(len(load)) * interval
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(
        path,
        np.column_stack((times, load)),
        delimiter=",",
        header="time_seconds,load",
        comments="",
        fmt=("%.0f", "%.5f"),
    )

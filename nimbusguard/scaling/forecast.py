"""Per-policy forecaster of the load over the decision's horizon, and its error model.

What a decision must cover is the peak load over the steps its replicas serve before the next
decision can change them: with removals youngest-first, the replicas ready at time τ are the
minimum of the counts set over the startup time before τ, so a count set at t serves through
(t, t + startup + interval). The forecaster predicts that peak, *scale-free*:

    y_t = max(load over (t, t + horizon]) ÷ s_t,      s_t = 1-minute EWMA of the load

from features that are ratios to s_t as well, so a forecaster fitted on a workload of 3 replicas
works for one of 300:

| feature | why |
|---|---|
| 1 | bias (the peak of noisy load is above its mean) |
| load now, one and two evaluations ago (÷ s) | the last values: the best single predictor |
| 5-minute and 30-minute EWMAs (÷ s) | the level the load reverts to |
| last change (÷ s) | a jump in progress |
| the load one period ago, and its peak over the horizon (÷ s) | periodic load (batch |
| | jobs, daily shapes): the one structure beyond the horizon |

The period is detected from the policy's own history: minute means over up to two days (a ring
of `history_minutes` floats), whose autocorrelation's highest peak after its first zero crossing
counts as a period when it exceeds `period_min_acf` (24 h on the Alibaba trace, 40 min on a
sawtooth, none on noise). Without a period both period features are 1 (no information).

The model is linear, fitted by recursive least squares with exponential forgetting
(`forgetting`, an effective memory of about 1 ÷ (1 − forgetting) evaluations): O(n²) for n = 9
features per matured observation, well under the 0.2 ms budget per decision.

Error model: `vol` is an EWMA (time constant `vol_seconds`, 30 min) of |y − ŷ|, each error
winsorised at `winsor` × vol, so a crowd's onset does not inflate the headroom for half an hour;
σ = 1.25 × vol is the standard deviation a Gaussian with that mean absolute error has.

Level shifts up: when the load now and at every evaluation of the last `shift_seconds` (at
least the last one) are more than `shift_sigmas` σ (relative to the 5-minute level) above the
5-minute level, the load has stepped up, and the 1-, 5- and 30-minute levels are re-anchored at
the mean of the load now and at the last evaluation. `shift_seconds` (30 s) makes the evidence
the same at any interval: two evaluations at the API's 30 s, three at 15 s. The learner turns
this on only for policies evaluating every 30 s or less often (`LearnerConfig.forecast`): at
15 s, Alibaba's short spikes re-anchored the levels often enough to cost more than the steps
saved. Nor while the period features carry information (a period detected and the load one
period ago known): they forecast the recurring rises, and re-anchoring on a sawtooth's every
rising edge cost there. Without
this the forecast after a step is priced on the lower history for half an hour (the 5- and
30-minute levels pull it down), the decisions after the step come short, and the violations
they cause raise the price of every later decision. One high value (a spike) does not count,
and a step *down* is left to the levels' own decay: re-anchoring there too was measured and
broke the SLO budget on the API loop's step trace (`docs/benchmarks.md`, 2026-12-03).

Everything here is bounded: the ring, ≤ horizon ÷ interval + 1 pending observations, a 9 × 9
matrix. `state()` and `restore()` carry it through a Q-table file.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
N_FEATURES = 9
_FLOOR = 1e-6
_SLACK = 1e-6
_LAGS = 3  # the loads of the last evaluations the features use
MAE_TO_SIGMA = 1.2533  # sqrt(pi / 2): σ of a Gaussian whose mean absolute deviation is 1


@dataclasses.dataclass(frozen=True, slots=True)
class ForecastConfig:
    """The forecaster's fixed settings (part of a Q-table file's layout)."""

    horizon_seconds: float = 75.0
    fast_seconds: float = 60.0
    mid_seconds: float = 300.0
    slow_seconds: float = 1800.0
    vol_seconds: float = 1800.0
    winsor: float = 3.0
    forgetting: float = 0.9998
    bucket_seconds: float = 60.0
    history_minutes: int = 2880
    period_min_acf: float = 0.3
    period_min_minutes: int = 10
    redetect_minutes: int = 60
    reset_gap_seconds: float = 3600.0
    shift_sigmas: float = 4.0  # 0: no level-shift re-anchoring (module docstring)
    shift_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.shift_sigmas < 0 or self.shift_seconds < 0:
            raise ValueError("shift_sigmas and shift_seconds must be >= 0")
        if self.horizon_seconds <= 0 or not 0.9 < self.forgetting < 1.0:
            raise ValueError("need horizon_seconds > 0 and 0.9 < forgetting < 1")
        if self.history_minutes < 4 * self.period_min_minutes or self.winsor <= 1.0:
            raise ValueError("history_minutes too short or winsor <= 1")

    def layout(self) -> dict[str, Any]:
        """What a saved forecaster must match to be loaded: its shapes. The horizon is not part
        of it: a forecaster trained for another horizon (say `nimbusguard train` at 15 s, a
        policy evaluating every 30 s) is a good start and its fit follows the new one online."""
        return {
            "features": N_FEATURES,
            "history_minutes": self.history_minutes,
            "bucket_seconds": self.bucket_seconds,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class Forecast:
    """The forecast at one evaluation: the peak load over the horizon is about
    `scale × (mean ± sigma)`, in the load's units (replicas at target)."""

    scale: float  # s_t, the 1-minute EWMA of the load
    mean: float  # ŷ, scale-free
    sigma: float  # σ, scale-free
    period_minutes: int  # 0: no period detected
    horizon_seconds: float

    @property
    def load(self) -> float:
        """The forecast peak in load units."""
        return self.scale * self.mean

    @property
    def spread(self) -> float:
        """σ in load units."""
        return self.scale * self.sigma

    def replicas(self, headroom: float, slo_ratio: float) -> int:
        """Replicas that keep the forecast peak plus `headroom` σ at or below the SLO."""
        need = self.scale * (self.mean + headroom * self.sigma) / slo_ratio
        return max(0, math.ceil(need - 1e-9))

    def risk(self, replicas: int, slo_ratio: float) -> float:
        """P(peak load above `replicas` × slo_ratio), Gaussian around the forecast."""
        if self.scale <= _FLOOR:
            return 0.0
        z = (replicas * slo_ratio / self.scale - self.mean) / max(self.sigma, _FLOOR)
        return 0.5 * math.erfc(z / math.sqrt(2.0))


class Forecaster:
    """One policy's forecaster (module docstring). Not thread-safe."""

    def __init__(self, config: ForecastConfig) -> None:
        self.config = config
        theta = np.zeros(N_FEATURES)
        theta[1] = 1.0  # the prior: the peak is the load now
        self.theta: FloatArray = theta
        self.p: FloatArray = np.eye(N_FEATURES) * 10.0
        self.vol = 0.05
        self.vol_ready = False
        self.period = 0  # minutes
        self.fitted = 0  # observations the model has learned from
        # float32: two days of minute means are half of what a policy's learner holds, and a
        # load needs no more than 7 digits; what is computed from them is float64.
        self.history: npt.NDArray[np.float32] = np.full(
            config.history_minutes, np.nan, dtype=np.float32
        )
        self.reset_episode()

    def reset_episode(self) -> None:
        """Forget the short-term state and the history (a new trace, or a long gap); the model,
        the error level and the period stay."""
        self.time: float | None = None
        self.fast = self.mid = self.slow = 0.0
        # Lists, not deques: these hold a few entries, and an empty deque is a 64-slot block
        # (0.6 KB a policy each; docs/scaling.md, "Long window").
        self.lags: list[float] = []  # newest first, at most _LAGS
        self._pending: list[list[Any]] = []
        self.history[:] = np.nan
        self._bucket = -1
        self._bucket_sum = 0.0
        self._bucket_n = 0
        self._since_detect = 0

    # -- update --------------------------------------------------------------------------------

    def observe(self, time: float, load: float) -> Forecast:
        """Fold in the load at `time`, learn from the observations whose horizon it completes,
        and forecast the next horizon. A time at or before the last one changes nothing."""
        cfg = self.config
        if self.time is not None and (
            time < self.time - _SLACK or time > self.time + cfg.reset_gap_seconds
        ):
            self.reset_episode()
        if self.time is not None and time <= self.time + _SLACK:
            return self._forecast(self._features())
        self._mature(time, load)
        self._update_levels(time, load)
        self._record_minute(time, load)
        x = self._features()
        forecast = self._forecast(x)
        self._pending.append([time, x, self.fast, -math.inf])
        return forecast

    def _update_levels(self, time: float, load: float) -> None:
        cfg = self.config
        if self.time is None:
            self.fast = self.mid = self.slow = load
        elif self._shifted(time, load):
            level = 0.5 * (load + self.lags[0])
            self.fast = self.mid = self.slow = level
        else:
            dt = time - self.time
            self.fast += (1.0 - math.exp(-dt / cfg.fast_seconds)) * (load - self.fast)
            self.mid += (1.0 - math.exp(-dt / cfg.mid_seconds)) * (load - self.mid)
            self.slow += (1.0 - math.exp(-dt / cfg.slow_seconds)) * (load - self.slow)
        self.time = time
        self.lags.insert(0, load)
        del self.lags[_LAGS:]

    def _shifted(self, time: float, load: float) -> bool:
        """An upward level shift: the load now and at the evaluations of the last
        `shift_seconds` (at least the last one) are all more than `shift_sigmas` σ above the
        5-minute level, and no known load one period ago forecasts the rise (module
        docstring)."""
        k = self.config.shift_sigmas
        if k <= 0 or not self.vol_ready or not self.lags or self.time is None:
            return False
        reference = max(self.mid, _FLOOR)
        line = reference + k * MAE_TO_SIGMA * self.vol * reference
        interval = max(time - self.time, _SLACK)
        back = max(1, math.ceil(self.config.shift_seconds / interval - 1e-9))
        if back > len(self.lags):
            return False
        if load <= line or any(self.lags[i] <= line for i in range(back)):
            return False
        # While the period features carry information (the load one period ago is known),
        # they forecast the recurring rises: no shift.
        if self.period:
            n = len(self.history)
            if math.isfinite(float(self.history[(self._bucket - self.period) % n])):
                return False
        return True

    def _mature(self, time: float, load: float) -> None:
        """Learn from the pending observations whose horizon ended before `time`, then add
        `load` to the peaks of the others."""
        horizon = self.config.horizon_seconds
        pending = self._pending
        while pending and pending[0][0] + horizon < time - _SLACK:
            t0, x, scale, peak = pending.pop(0)
            if peak > -math.inf:
                self._learn(x, peak / max(scale, _FLOOR), time - t0)
        for entry in pending:
            if load > entry[3]:
                entry[3] = load

    def _learn(self, x: FloatArray, y: float, dt: float) -> None:
        cfg = self.config
        error = y - float(self.theta @ x)
        if not math.isfinite(error):
            return
        bound = cfg.winsor * self.vol
        clipped = min(abs(error), bound) if self.vol_ready else abs(error)
        self.vol += (1.0 - math.exp(-max(dt, 1.0) / cfg.vol_seconds)) * (clipped - self.vol)
        self.vol = max(self.vol, 1e-4)
        self.fitted += 1
        if self.fitted >= 20:
            self.vol_ready = True
        # Recursive least squares with forgetting; the error fed to it is winsorised too, so a
        # crowd's onset moves the model no more than a large ordinary error.
        lam = cfg.forgetting
        px = self.p @ x
        gain = px / (lam + float(x @ px))
        step = max(-bound, min(bound, error)) if self.vol_ready else error
        self.theta = self.theta + gain * step
        self.p = (self.p - np.outer(gain, px)) / lam
        if float(np.trace(self.p)) > 1e4:  # no excitation in some direction: bound the windup
            self.p *= 1e4 / float(np.trace(self.p))

    # -- features ------------------------------------------------------------------------------

    def _record_minute(self, time: float, load: float) -> None:
        cfg = self.config
        bucket = int(time // cfg.bucket_seconds)
        if bucket != self._bucket:
            self._close_bucket()
            if self._bucket >= 0 and bucket > self._bucket + 1:
                n = len(self.history)
                for missing in range(self._bucket + 1, min(bucket, self._bucket + 1 + n)):
                    self.history[missing % n] = np.nan
            self._bucket, self._bucket_sum, self._bucket_n = bucket, 0.0, 0
        self._bucket_sum += load
        self._bucket_n += 1

    def _close_bucket(self) -> None:
        if self._bucket < 0 or self._bucket_n == 0:
            return
        self.history[self._bucket % len(self.history)] = self._bucket_sum / self._bucket_n
        self._since_detect += 1
        if self._since_detect >= self.config.redetect_minutes:
            self._since_detect = 0
            self.period = detect_period(self._ordered(), self.config)

    def _ordered(self) -> FloatArray:
        """The history, oldest minute first (NaN where unknown)."""
        n = len(self.history)
        start = (self._bucket + 1) % n
        return np.concatenate((self.history[start:], self.history[:start])).astype(np.float64)

    def _features(self) -> FloatArray:
        s = max(self.fast, _FLOOR)
        lags = list(self.lags) + [self.lags[-1] if self.lags else s] * (3 - len(self.lags))
        now, one, two = lags[0], lags[1], lags[2]
        ago, peak = 1.0, 1.0
        if self.period:
            ago, peak = self._period_features(s)
        return np.array(
            [1.0, now / s, one / s, two / s, self.mid / s, self.slow / s, (now - one) / s,
             ago, peak]
        )  # fmt: skip

    def _period_features(self, s: float) -> tuple[float, float]:
        n = len(self.history)
        ahead = max(1, math.ceil(self.config.horizon_seconds / self.config.bucket_seconds))
        base = self._bucket - self.period
        values = [float(self.history[(base + i) % n]) for i in range(ahead + 1)]
        ago = values[0]
        if not math.isfinite(ago):
            return 1.0, 1.0
        peak = max(v for v in values if math.isfinite(v))
        return ago / s, peak / s

    def _forecast(self, x: FloatArray) -> Forecast:
        mean = float(self.theta @ x)
        if not math.isfinite(mean) or mean <= 0:
            mean = float(x[1])
        return Forecast(
            scale=max(self.fast, 0.0),
            mean=mean,
            sigma=MAE_TO_SIGMA * self.vol,
            period_minutes=self.period,
            horizon_seconds=self.config.horizon_seconds,
        )

    # -- persistence ---------------------------------------------------------------------------

    def arrays(self) -> dict[str, FloatArray]:
        """The model and the history, for a Q-table file."""
        return {"f_theta": self.theta, "f_p": self.p, "f_history": self._ordered()}

    def scalars(self) -> dict[str, Any]:
        return {
            "vol": self.vol,
            "vol_ready": self.vol_ready,
            "period": self.period,
            "fitted": self.fitted,
            "last_time": self.time,
            "levels": [self.fast, self.mid, self.slow],
            "lags": list(self.lags),
        }

    def restore(self, arrays: dict[str, FloatArray], scalars: dict[str, Any]) -> None:
        """Load what `arrays`/`scalars` saved (already validated by the file reader)."""
        self.theta = np.array(arrays["f_theta"], dtype=np.float64)
        self.p = np.array(arrays["f_p"], dtype=np.float64)
        self.vol = float(scalars["vol"])
        self.vol_ready = bool(scalars["vol_ready"])
        self.period = int(scalars["period"])
        self.fitted = int(scalars["fitted"])
        last = scalars.get("last_time")
        history = np.array(arrays["f_history"], dtype=np.float64)
        if last is not None:
            # The history ends at the minute of the last observation: continue from there, so a
            # warm start right after its training window keeps the period one period ago.
            self._bucket = int(float(last) // self.config.bucket_seconds)
            n = len(self.history)
            start = (self._bucket + 1) % n
            self.history = np.empty(n, dtype=np.float32)
            self.history[start:] = history[: n - start]
            self.history[:start] = history[n - start :]
            self.time = float(last)
            self._bucket_n = 0
            self.fast, self.mid, self.slow = (float(v) for v in scalars["levels"])
            # Saved newest first, as held; kept in that order.
            self.lags = [float(v) for v in scalars["lags"]][:_LAGS]


def detect_period(series: FloatArray, config: ForecastConfig) -> int:
    """The period in minutes of `series` (minute means, NaN unknown), or 0 (module docstring)."""
    known = np.isfinite(series)
    if known.sum() < 4 * config.period_min_minutes:
        return 0
    first = int(np.argmax(known))
    x = series[first:]
    ok = np.isfinite(x)
    x = np.where(ok, x, np.nanmean(x))
    n = len(x)
    x = x - x.mean()
    var = float(x @ x)
    if var <= 0:
        return 0
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[:n] / var
    # Normalise by the overlap so long lags are not penalised, and need half the series.
    acf = acf * n / np.maximum(n - np.arange(n), 1)
    limit = n // 2
    below = np.flatnonzero(acf[:limit] < 0)
    if len(below) == 0:
        return 0
    start = max(int(below[0]), config.period_min_minutes)
    if start >= limit:
        return 0
    window = acf[start:limit]
    best = float(window.max())
    if best < config.period_min_acf:
        return 0
    # Multiples of a period correlate as well as the period itself: take the first lag that
    # comes close to the best.
    return start + int(np.flatnonzero(window >= 0.9 * best)[0])

"""The Q-table, its update rule and its file format.

`QTable` holds, per state and action, the Q-value of each reward part and an update count. The
update is the Q-learning rule

    Q(s, a) ← Q(s, a) + step · (r + γ · Q(s', a*) − Q(s, a)),   a* = argmax_b Q(s', b)

(for one reward part, Q(s', a*) is max_b Q(s', b)), with two standard refinements:

- `step` is 1/(n+1) for the (n+1)-th update of a pair until that falls below the learning rate
  α, then α: the first estimates are plain averages, so the zeros a table starts with leave no
  bias, and later ones track change at rate α.
- A next state seen n times is trusted by n ÷ (n + `prior_visits`); the rest of its value is
  `r ÷ (1 − γ)` (as if the same reward went on). The maximum over noisy estimates of a rarely
  seen state is biased upwards and would otherwise lure the learner towards what it knows least.

With several reward parts (the learner keeps two: replica cost and SLO violations), the greedy
action weighs them with `weights`, and each part bootstraps on that same action, so
`q[s, a] @ weights` follows exactly the one-part rule for the weighted reward; the weights (the
price of a violation) can change without relearning.

File format (`to_bytes`/`from_bytes`; what `nimbusguard train --out` writes and what a
ConfigMap's binaryData holds for a warm start): a `numpy.savez_compressed` archive with

- `q`: float64, states × actions × parts; `visits`: int64, states × actions (int32 in memory);
- the forecaster (`nimbusguard.scaling.forecast`): `f_theta` (its 9 weights), `f_p` (9 × 9, the
  least-squares state) and `f_history` (minute means, `history_minutes` of them);
- `meta`: a JSON string with `schema` (= `SCHEMA_VERSION`), `layout` (the state space, action
  set and forecaster the table was made for), `decisions` (epsilon progress), `updates`,
  `slo_price` (where the budget controller's price stands), `promotion` (`phase`,
  `windows_beaten`), `forecaster` (error level, period, observations fitted, last time) and,
  since version 3, `learner`: everything else the learner measured that would otherwise live
  only in memory (the rolling violation rates and rewards, the re-promotion bias, the
  hand-back evidence, the HPA run alongside, the budget controller's spent share; the learner
  defines and checks it, `nimbusguard.scaling.learner`).

Versions: 3 is written. A version-2 file (the same table and forecaster, without `learner`) is
read, with `Snapshot.schema` = 2 so the learner can say its rolling state starts fresh; any
other version is incompatible (version 1 held no forecaster).

One versioned file: `nimbusguard train --out` writes it, a warm start reads it. Reading is
bounded: every member's size is checked against the layout before it is decompressed, so a
crafted file cannot make the operator allocate more than the layout's arrays (≈ 100 kB).
Anything else (not an npz, missing or oversized arrays, wrong shapes, non-finite values, another
schema version — version 1 files held no forecaster — or layout) raises `QTableError`; the
caller quarantines the bad blob, starts from scratch in Learning, and its condition says why.
"""

from __future__ import annotations

import array
import dataclasses
import io
import json
import math
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

SCHEMA_VERSION = 3
READABLE_VERSIONS = (2, 3)  # 2: no `learner` record (its rolling state starts fresh)
_MAX_MEMBER_BYTES = 4 << 20  # far above any layout's arrays; checked before decompressing

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CountArray = npt.NDArray[np.int32]
# A table's visit counts are int32 in memory (half the bytes; one state-action pair updated at
# every evaluation would need centuries to pass this) and int64 in the file, as before.
MAX_VISITS = int(np.iinfo(np.int32).max)


class QTableError(ValueError):
    """A Q-table blob that cannot be used: corrupt, another schema version or another layout."""


@dataclasses.dataclass(slots=True)
class Snapshot:
    """Everything a persisted learner needs besides its configuration."""

    q: FloatArray
    visits: IntArray
    layout: dict[str, Any]
    decisions: int = 0
    updates: int = 0
    phase: str = "Learning"
    windows_beaten: int = 0
    slo_price: float | None = None
    forecaster: dict[str, Any] | None = None
    forecaster_arrays: dict[str, FloatArray] = dataclasses.field(default_factory=dict)
    learner: dict[str, Any] | None = None  # the learner's own record (meta `learner`)
    schema: int = SCHEMA_VERSION  # the version the file was written with


class QTable:
    """Q-values of `parts` reward parts for `n_states` × `n_actions`, and update counts."""

    def __init__(
        self, n_states: int, n_actions: int, parts: int = 1, prior_visits: float = 0.0
    ) -> None:
        self.q: FloatArray = np.zeros((n_states, n_actions, parts), dtype=np.float64)
        self.visits: CountArray = np.zeros((n_states, n_actions), dtype=np.int32)
        self.prior_visits = prior_visits
        # Per state, the parts of its greedy action under `_weights` (flat, `parts` per state)
        # and its most updates: the bootstrap reads these instead of whole rows (rebuilt when the
        # weights change). Flat C doubles, not lists of floats: the same values in a quarter of
        # the memory (15 of a policy's 91 KB were these lists), and as fast to index.
        self._parts = parts
        self._weights: tuple[float, ...] | None = None
        self._greedy = array.array("d")
        self._seen = array.array("d")

    def load(self, q: FloatArray, visits: npt.NDArray[np.integer[Any]]) -> None:
        """Replace the contents (from a snapshot)."""
        self.q[...] = q
        self.visits[...] = visits
        self._weights = None

    @property
    def states_visited(self) -> int:
        """States with at least one update."""
        return int(np.count_nonzero(self.visits.any(axis=1)))

    def values(self, state: int, weights: FloatArray) -> FloatArray:
        """Q(state, ·) with the reward parts weighted by `weights`."""
        return np.asarray(self.q[state] @ weights, dtype=np.float64)

    @staticmethod
    def step(visits: CountArray, alpha: float) -> FloatArray:
        """Step sizes of the next updates after `visits` updates (module docstring)."""
        return np.asarray(np.maximum(alpha, 1.0 / (visits + 1.0)), dtype=np.float64)

    def update(
        self, state: int, action: int, reward: float, next_state: int, alpha: float, gamma: float
    ) -> float:
        """One Q-learning update of (state, action) in a one-part table; returns the TD error."""
        weights = np.ones(1)
        future = self._future(np.array([next_state]), np.array([[reward]]), weights, gamma)
        target = reward + gamma * float(future[0, 0])
        error = target - float(self.q[state, action, 0])
        step = float(self.step(self.visits[state, action : action + 1], alpha)[0])
        self.q[state, action, 0] += step * error
        self.visits[state, action] += 1
        self._refresh(state, self.q[state].tolist(), int(self.visits[state].max()))
        return error

    def update_all(
        self,
        state: int,
        rewards: Sequence[Sequence[float]],
        next_states: Sequence[int],
        weights: Sequence[float],
        alpha: float,
        gamma: float,
    ) -> None:
        """Update every action of `state` at once (the learner's counterfactual update).

        `rewards` is actions × parts, `next_states` one per action. Plain Python on purpose: for
        a handful of actions it is several times faster than numpy's per-call overhead.
        """
        self._sync(weights)
        greedy, seen, prior, parts = self._greedy, self._seen, self.prior_visits, self._parts
        own_factor = 1.0 / (1.0 - gamma) if gamma < 1.0 else 0.0
        rows = self.q[state].tolist()
        counts = self.visits[state].tolist()
        for a, row in enumerate(rows):
            nxt = next_states[a]
            n = seen[nxt]
            trust = n / (n + prior) if prior > 0 else 1.0 if n > 0 else 0.0
            step = max(alpha, 1.0 / (counts[a] + 1.0))
            base = nxt * parts
            for p, old in enumerate(row):
                r = rewards[a][p]
                future = trust * greedy[base + p] + (1.0 - trust) * r * own_factor
                row[p] = old + step * (r + gamma * future - old)
        self.q[state] = rows
        self.visits[state] += 1
        self._refresh(state, rows, max(counts) + 1)

    def _future(
        self, next_states: IntArray, rewards: FloatArray, weights: FloatArray, gamma: float
    ) -> FloatArray:
        self._sync(weights)
        table = np.frombuffer(self._greedy, dtype=np.float64).reshape(-1, self._parts)
        greedy = table[next_states]
        seen = np.frombuffer(self._seen, dtype=np.float64)[next_states][:, None]
        if self.prior_visits > 0:
            trust = seen / (seen + self.prior_visits)
        else:
            trust = (seen > 0).astype(np.float64)
        own = rewards / (1.0 - gamma) if gamma < 1.0 else np.zeros_like(rewards)
        return np.asarray(trust * greedy + (1.0 - trust) * own, dtype=np.float64)

    def _sync(self, weights: Sequence[float] | FloatArray) -> None:
        key = tuple(float(w) for w in weights)
        if key == self._weights:
            return
        self._weights = key
        combined = self.q @ np.asarray(key)
        best = np.argmax(combined, axis=1)
        chosen = np.ascontiguousarray(self.q[np.arange(len(self.q)), best], dtype=np.float64)
        self._greedy = array.array("d", chosen.tobytes())
        self._seen = array.array("d", self.visits.max(axis=1).astype(np.float64).tobytes())

    def _refresh(self, state: int, rows: list[list[float]], most: int) -> None:
        if self._weights is None:
            return
        key = self._weights
        scores = [sum(w * v for w, v in zip(key, row, strict=True)) for row in rows]
        start = state * self._parts
        self._greedy[start : start + self._parts] = array.array(
            "d", rows[max(range(len(rows)), key=scores.__getitem__)]
        )
        self._seen[state] = float(most)


def to_bytes(snapshot: Snapshot) -> bytes:
    """Serialize `snapshot` (module docstring)."""
    meta = {
        "schema": SCHEMA_VERSION,
        "layout": snapshot.layout,
        "decisions": snapshot.decisions,
        "updates": snapshot.updates,
        "slo_price": snapshot.slo_price,
        "promotion": {"phase": snapshot.phase, "windows_beaten": snapshot.windows_beaten},
        "forecaster": snapshot.forecaster,
        "learner": snapshot.learner,
    }
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {
        "q": snapshot.q,
        "visits": np.asarray(snapshot.visits, dtype=np.int64),
        "meta": np.array(json.dumps(meta)),
        **snapshot.forecaster_arrays,
    }
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def from_bytes(data: bytes, layout: dict[str, Any]) -> Snapshot:
    """Parse a blob written by `to_bytes` for `layout`; raises QTableError otherwise."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.file_size > _MAX_MEMBER_BYTES:
                    raise QTableError(
                        f"Q-table member {info.filename} holds {info.file_size} bytes, more "
                        f"than any layout needs ({_MAX_MEMBER_BYTES})"
                    )
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            q = np.asarray(archive["q"])
            visits = np.asarray(archive["visits"])
            meta = json.loads(str(archive["meta"]))
            arrays = {
                name: np.asarray(archive[name], dtype=np.float64)
                for name in ("f_theta", "f_p", "f_history")
                if name in archive.files
            }
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise QTableError(f"not a Q-table file: {exc}") from exc
    if not isinstance(meta, dict):
        raise QTableError("Q-table metadata is not an object")
    schema = meta.get("schema")
    if isinstance(schema, bool) or schema not in READABLE_VERSIONS:
        raise QTableError(
            f"Q-table schema version {schema!r} is incompatible: this version reads "
            f"{' and '.join(map(str, READABLE_VERSIONS))} (a table with a forecaster; retrain "
            "with `nimbusguard train`)"
        )
    record = meta.get("learner")
    if schema >= 3 and not isinstance(record, dict):
        raise QTableError("Q-table metadata incomplete: no learner record")
    if meta.get("layout") != layout:
        raise QTableError("Q-table was made for another state space or action set")
    shape = (int(np.prod(layout["shape"])), int(layout["actions"]))
    q_shape = (*shape, int(layout["parts"]))
    if q.shape != q_shape or visits.shape != shape or q.dtype != np.float64:
        raise QTableError(f"Q-table arrays have shape {q.shape}, expected {q_shape}")
    if visits.dtype.kind not in "iu" or not np.isfinite(q).all() or (visits < 0).any():
        raise QTableError("Q-table holds non-finite values or negative visit counts")
    if (visits > MAX_VISITS).any():
        raise QTableError(f"Q-table holds visit counts above {MAX_VISITS}")
    try:
        promotion = meta["promotion"]
        price = meta.get("slo_price")
        snapshot = Snapshot(
            q=q,
            visits=visits.astype(np.int64),
            layout=layout,
            decisions=int(meta["decisions"]),
            updates=int(meta["updates"]),
            phase=str(promotion["phase"]),
            windows_beaten=int(promotion["windows_beaten"]),
            slo_price=None if price is None else float(price),
            learner=record if schema >= 3 else None,
            schema=int(schema),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise QTableError(f"Q-table metadata incomplete: {exc}") from exc
    if snapshot.phase not in ("Learning", "Active") or snapshot.decisions < 0:
        raise QTableError(f"Q-table metadata invalid: phase {snapshot.phase!r}")
    if snapshot.slo_price is not None and not snapshot.slo_price > 0:
        raise QTableError(f"Q-table metadata invalid: slo_price {snapshot.slo_price!r}")
    _check_forecaster(snapshot, meta.get("forecaster"), arrays, layout)
    return snapshot


def _check_forecaster(
    snapshot: Snapshot, scalars: Any, arrays: dict[str, FloatArray], layout: dict[str, Any]
) -> None:
    """Validate and attach the forecaster's part (none at all is allowed: a bare table)."""
    if scalars is None and not arrays:
        return
    shape = layout.get("forecast", {})
    n, minutes = int(shape.get("features", 0)), int(shape.get("history_minutes", 0))
    expected = {"f_theta": (n,), "f_p": (n, n), "f_history": (minutes,)}
    if not isinstance(scalars, dict) or set(arrays) != set(expected):
        raise QTableError("Q-table forecaster incomplete")
    for name, want in expected.items():
        if arrays[name].shape != want:
            raise QTableError(f"Q-table forecaster {name} has shape {arrays[name].shape}")
    if not (np.isfinite(arrays["f_theta"]).all() and np.isfinite(arrays["f_p"]).all()):
        raise QTableError("Q-table forecaster holds non-finite weights")
    try:
        vol, period = float(scalars["vol"]), int(scalars["period"])
        fitted, ready = int(scalars["fitted"]), bool(scalars["vol_ready"])
        last = scalars.get("last_time")
        last = None if last is None else float(last)
        levels = [float(v) for v in scalars.get("levels", [0.0, 0.0, 0.0])][:3]
        lags = [float(v) for v in scalars.get("lags", [])][:3]
        if len(levels) != 3 or not all(math.isfinite(v) and v >= 0 for v in levels + lags):
            raise ValueError(f"levels {levels}, lags {lags}")
    except (KeyError, TypeError, ValueError) as exc:
        raise QTableError(f"Q-table forecaster metadata incomplete: {exc}") from exc
    if not (vol > 0 and np.isfinite(vol)) or not 0 <= period < minutes or fitted < 0:
        raise QTableError(f"Q-table forecaster metadata invalid: vol {vol}, period {period}")
    snapshot.forecaster = {
        "vol": vol, "period": period, "fitted": fitted, "vol_ready": ready, "last_time": last,
        "levels": levels, "lags": lags,
    }  # fmt: skip
    snapshot.forecaster_arrays = arrays

"""Traces: one numeric CSV column, resampled to the decision step and scaled to cores.

`load(...)` reads the column, skips empty and NaN cells (counting them; linear interpolation
bridges the gaps), rejects anything else that is not a number with its row number, resamples by
linear interpolation from `interval_seconds` to `step_seconds`, cuts the [start, end) window in
hours, and min-max scales it to [demand_min, demand_max] cores with the minimum and maximum of
what precedes the window (its history: a training window `--start 0 --end 48` and the test
window `--start 48` then share one mapping, and nothing after the window's start shapes it), or
of the window itself when it starts at hour 0. A test window may therefore go above
demand_max cores.

Every problem a user can cause raises `InputError` with a one-line message.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import pathlib

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class InputError(Exception):
    """A user error: the CLI prints the message on one line and exits non-zero."""


@dataclasses.dataclass(frozen=True, slots=True)
class Trace:
    """Demand in cores per decision step, and where it came from."""

    demand: FloatArray
    path: str
    column: str
    interval_seconds: float
    start_hours: float
    end_hours: float
    skipped_cells: int


def read_column(path: pathlib.Path, column: str) -> tuple[FloatArray, int]:
    """The column's values with NaN where a cell was empty or NaN, and the count of those."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: the file is empty")
            names = [name.strip() for name in header]
            if column not in names:
                raise InputError(f"{path}: no column {column!r} (columns: {', '.join(names)})")
            index = names.index(column)
            values: list[float] = []
            skipped = 0
            for row_number, row in enumerate(reader, start=2):
                if not row:
                    continue
                cell = row[index].strip() if index < len(row) else ""
                try:
                    value = float(cell) if cell else math.nan
                except ValueError:
                    raise InputError(
                        f"{path}: row {row_number}, column {column!r}: {cell!r} is not a number"
                    ) from None
                if math.isinf(value):
                    raise InputError(f"{path}: row {row_number}, column {column!r} is infinite")
                if math.isnan(value):
                    skipped += 1
                values.append(value)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read it: {exc}") from None
    return np.asarray(values, dtype=np.float64), skipped


def load(
    path: pathlib.Path,
    column: str,
    interval_seconds: float,
    step_seconds: float,
    demand_min: float,
    demand_max: float,
    start_hours: float | None = None,
    end_hours: float | None = None,
) -> Trace:
    """Read, clean, resample, scale and window a trace (module docstring)."""
    if interval_seconds <= 0 or step_seconds <= 0:
        raise InputError("--trace-interval-seconds and --step-seconds must be > 0")
    if not demand_min < demand_max or demand_min < 0:
        raise InputError(
            f"--demand-min ({demand_min:g}) must be >= 0 and below --demand-max ({demand_max:g})"
        )
    raw, skipped = read_column(path, column)
    times = np.arange(len(raw)) * interval_seconds
    good = ~np.isnan(raw)
    if np.count_nonzero(good) < 2:
        raise InputError(f"{path}: column {column!r} needs at least two numeric rows")
    times, values = times[good], raw[good]
    if (values < 0).any():
        row = int(np.flatnonzero(raw < 0)[0]) + 2
        raise InputError(f"{path}: row {row}, column {column!r} is negative; load cannot be")
    duration_hours = float(times[-1]) / 3600.0
    start = 0.0 if start_hours is None else start_hours
    end = duration_hours if end_hours is None else end_hours
    if not 0 <= start < end <= duration_hours + 1e-9:
        raise InputError(
            f"window {start:g} h to {end:g} h lies outside the trace "
            f"(0 h to {duration_hours:.3f} h) or is empty"
        )
    grid = np.arange(start * 3600.0, end * 3600.0 - 1e-9, step_seconds)
    if len(grid) < 2:
        raise InputError(f"window {start:g} h to {end:g} h holds fewer than two decision steps")
    resampled = np.interp(grid, times, values)
    history = values[times < start * 3600.0] if start > 0 else resampled
    if len(history) < 2:
        history = resampled
    low, high = float(history.min()), float(history.max())
    if high == low:
        raise InputError(
            f"{path}: column {column!r} is constant before or in the window; there is no load "
            "to follow"
        )
    demand = demand_min + (resampled - low) / (high - low) * (demand_max - demand_min)
    demand = np.maximum(demand, 0.0)  # a test window may dip below its history
    return Trace(
        demand=np.asarray(demand, dtype=np.float64),
        path=str(path),
        column=column,
        interval_seconds=interval_seconds,
        start_hours=start,
        end_hours=end,
        skipped_cells=skipped,
    )

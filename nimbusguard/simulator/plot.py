"""The benchmark's picture of one trace: demand, replicas per autoscaler, violations.

Two panels: the whole window (blocks of steps reduced to their maximum so the file stays small)
and a six-hour zoom on the busiest stretch, where individual decisions are visible. Violations
are ticks under each autoscaler's name. matplotlib is imported here only (the `plot` extra).
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from nimbusguard.simulator import model, traces

COLORS = {
    "oracle": "#2ca02c",
    "static": "#7f7f7f",
    "hpa": "#1f77b4",
    "hpa-tuned": "#ff7f0e",
    "qlearning": "#d62728",
}
_POINTS = 1500  # per line in the overview
_ZOOM_HOURS = 6.0


def _reduce(values: np.ndarray[Any, Any], block: int) -> np.ndarray[Any, Any]:
    n = len(values) // block * block
    if block <= 1 or n == 0:
        return values
    return np.asarray(values[:n].reshape(-1, block).max(axis=1))


def save(
    path: pathlib.Path,
    title: str,
    demand: model.FloatArray,
    settings: model.ModelSettings,
    trajectories: dict[str, model.Trajectory],
) -> None:
    """Write the PNG; raises traces.InputError if matplotlib is missing or the file can't be
    written."""
    try:
        import matplotlib as mpl

        mpl.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise traces.InputError(
            "--plot needs matplotlib: pip install 'nimbusguard-operator[plot]'"
        ) from None
    hours = np.arange(len(demand)) * settings.step_seconds / 3600.0
    need = demand / settings.slo_utilization
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), dpi=90)
    block = max(1, len(demand) // _POINTS)
    steps_zoom = min(len(demand), int(_ZOOM_HOURS * 3600 / settings.step_seconds))
    busiest = int(np.argmax(np.convolve(demand, np.ones(steps_zoom), mode="valid")))
    zoom = slice(busiest, busiest + steps_zoom)
    for ax, part, red in ((top, slice(None), block), (bottom, zoom, 1)):
        ax.plot(
            _reduce(hours[part], red),
            _reduce(need[part], red),
            color="black",
            linewidth=0.8,
            label="demand ÷ SLO utilization",
        )
        for offset, (name, trajectory) in enumerate(trajectories.items()):
            color = COLORS.get(name)
            ax.step(
                _reduce(hours[part], red),
                _reduce(trajectory.replicas[part].astype(float), red),
                where="post",
                linewidth=0.9,
                color=color,
                label=name,
            )
            bad = np.flatnonzero(trajectory.violations[part])
            ax.plot(
                hours[part][bad],
                np.full(len(bad), -1.0 - 1.2 * offset),
                "|",
                color=color,
                markersize=4,
            )
        ax.set_ylabel("replicas")
        ax.grid(alpha=0.3)
    top.set_title(f"{title}: whole window (block maxima)", fontsize=10)
    bottom.set_title(
        f"busiest {_ZOOM_HOURS:g} hours; ticks below 0: SLO violations per autoscaler",
        fontsize=10,
    )
    bottom.set_xlabel("hours")
    top.legend(loc="upper right", fontsize=7, ncol=3)
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise traces.InputError(f"{path}: cannot write the plot: {exc}") from None
    finally:
        plt.close(fig)

"""The operator's decision log as a measurement: every evaluation logs its decision with the
time its target read was answered (`observed`), so the gaps between one policy's observations,
minus its interval, are its evaluation lag as the scale issue defines it (actual minus
configured interval), per evaluation. Lines without `observed` (an older operator) are timed
by the log line itself, the end of the evaluation.

The operator's own `nimbusguard_evaluation_lag_seconds` histogram gives only bucket counts:
a p99 read from them is interpolated inside a bucket (between 10 and 30 s it read 27-28 s in
every run of an afternoon, whatever the cause). The log gives the exact distribution.
"""

from __future__ import annotations

import datetime
import itertools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def decisions(log: Path, replica: str) -> list[tuple[str, float, str]]:
    """(namespace/policy, unix time, replica) of every decision line of a JSON log."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if '"decision ' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        observed = record.get("observed")
        when = (
            float(observed)
            if isinstance(observed, int | float)
            else datetime.datetime.fromisoformat(record["time"]).timestamp()
        )
        out.append((f"{record.get('namespace')}/{record.get('policy')}", when, replica))
    return out


def lag(
    events: Iterable[tuple[str, float, str]], interval: float, start: float, end: float
) -> dict[str, Any]:
    """The gaps between consecutive decisions of each policy, minus `interval`, for the
    decisions that fall in [start, end) (unix times): quantiles and the share late by more
    than 1 and 10 s."""
    by_policy: dict[str, list[float]] = {}
    for policy, when, _replica in events:
        by_policy.setdefault(policy, []).append(when)
    late: list[float] = []
    for times in by_policy.values():
        times.sort()
        late.extend(b - a - interval for a, b in itertools.pairwise(times) if start <= b < end)
    if not late:
        return {"gaps": 0}
    late.sort()

    def q(p: float) -> float:
        return round(late[min(len(late) - 1, int(p * len(late)))], 2)

    return {
        "gaps": len(late),
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "max": round(late[-1], 2),
        "late_1s_percent": round(100 * sum(x > 1 for x in late) / len(late), 1),
        "late_10s_percent": round(100 * sum(x > 10 for x in late) / len(late), 1),
    }

"""Is the process keeping up? Each policy's due time, how late its evaluation started, and
which policies it evaluated at least once.

The per-policy loop calls `started(uid)` just before an evaluation and `scheduled(uid, delay,
since)` with the delay it then waits and what it runs from (the answer to the evaluation's
target read). Lag is the start minus the due time (since + delay): a
process that holds more policies than it can evaluate shows it here as a growing lag and a
growing overdue age, never as evaluations silently skipped. An early wake-up (a spec change)
is not late, so it observes nothing.

The overdue age is computed when /metrics is scraped, so a loop too starved to start any
evaluation still shows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from controllers import observability


class Cadence:
    def __init__(
        self, metrics: observability.Metrics, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._metrics = metrics
        self._clock = clock
        self._started: dict[str, float] = {}  # uid → start of its last evaluation
        self._due: dict[str, float] = {}  # uid → when its next evaluation should start
        self._evaluated: set[str] = set()
        metrics.evaluation_overdue.set_function(self.overdue)

    def started(self, uid: str) -> float | None:
        """An evaluation of `uid` starts now; its lag (None: it was not due yet or never
        scheduled)."""
        now = self._clock()
        self._started[uid] = now
        if uid not in self._evaluated:
            self._evaluated.add(uid)
            self._metrics.evaluated_policies.set(len(self._evaluated))
        due = self._due.pop(uid, None)
        if due is None or now < due:
            return None
        lag = now - due
        self._metrics.evaluation_lag.observe(lag)
        return lag

    def scheduled(self, uid: str, delay: float, since: float | None = None) -> None:
        """The evaluation of `uid` that started last asked for the next one `delay` s after
        `since` (default: its start)."""
        base = since if since is not None else self._started.get(uid, self._clock())
        self._due[uid] = base + delay

    def forget(self, uid: str) -> None:
        """`uid` is no longer evaluated here (deleted, or its shard moved away)."""
        self._started.pop(uid, None)
        self._due.pop(uid, None)
        if uid in self._evaluated:
            self._evaluated.discard(uid)
            self._metrics.evaluated_policies.set(len(self._evaluated))

    def overdue(self) -> float:
        """Seconds the most overdue policy has been waiting past its due time."""
        if not self._due:
            return 0.0
        return max(0.0, self._clock() - min(self._due.values()))

    @property
    def evaluated(self) -> int:
        return len(self._evaluated)

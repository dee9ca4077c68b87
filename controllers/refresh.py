"""When a status that says nothing new is written anyway: about once a minute in all (news
writes included), in the policy's own half of the minute, when the first window that opens
45 s or more after the last write opens.

Routine news (counters, times, the learner's progress) goes out with the next write. With
nothing new to say, a policy's status is refreshed a minute after its last write, at an
evaluation that falls in its window: the half minute that starts at its phase, taken from a
hash of its uid. Timed only from the last write, the refreshes bunched: the policies found at
start-up are all first written within one evaluation interval, and every refresh of theirs then
fell in that quarter of the minute (a thousand writes and their watch events in 15 s, and the
queue behind them showing as evaluation lag), for as long as the process ran. The window
spreads them over the minute; a policy whose evaluations never fall in its window (an interval
of a minute or more) is refreshed two minutes after its last write.
"""

from __future__ import annotations

import zlib

# The default period (`--status-refresh-seconds`): at 1,000 policies ≤ 17 routine status
# writes a second (docs/scaling.md). Every other span scales with the period; the docstrings
# speak of the default (a minute).
STATUS_REFRESH_SECONDS = 60.0


def stalest(period: float = STATUS_REFRESH_SECONDS) -> float:
    """The oldest an evaluated policy's status gets: two periods (a policy whose evaluations
    never fall in its window)."""
    return 2 * period


def place(key: str, period: float) -> float:
    """A stable place in `period` (seconds from its start) for a policy's key, the same across
    restarts and replicas: what spreads a fleet's periodic work over the period (the status
    refresh windows here, the first Q-table writes, a standby's ticks)."""
    return zlib.crc32(key.encode()) / 2**32 * period


def phase(uid: str, period: float = STATUS_REFRESH_SECONDS) -> float:
    """The start of the policy's window in the minute, in seconds."""
    return place(uid, period)


def min_gap(period: float = STATUS_REFRESH_SECONDS) -> float:
    """A routine refresh waits for a window that opens at least this long after the last
    write: three quarters of the period."""
    return period - period / 4


def paid_until(paid: float, now: float, period: float = STATUS_REFRESH_SECONDS) -> float:
    """After a status write at `now` (news or routine), the time before which no routine
    refresh is due: a minute further on for every write. A write that says something new
    stands in for the next refresh instead of coming on top of it, so a policy whose news
    comes less than once a minute is written about once a minute in all, not once a minute
    plus its news (a token bucket of one write a minute that news may overdraw)."""
    return max(paid, now) + period


def _slack(interval: float, period: float) -> float:
    # Evaluation times jitter: an evaluation a minute after the last one may start a little
    # early against it. Half an interval is taken as on time, so the cadence does not slip
    # to the next evaluation.
    return min(interval, period / 2) / 2


def due(
    written_at: float,
    paid: float,
    now: float,
    offset: float,
    interval: float,
    period: float = STATUS_REFRESH_SECONDS,
) -> bool:
    """Whether the status last written at `written_at` is to be refreshed at `now`, by a
    policy evaluated every `interval` seconds whose writes have paid for the time until `paid`
    (`paid_until`): in the policy's window, if that window opened `min_gap` or more after
    the write and the time is paid for; at any evaluation once the status is two minutes old.

    Due anywhere in a window a minute after the write, half of a fleet written in one round
    (a start, a takeover) fell due together in the round a minute later, the ones whose
    window was open then: twice a round's share of status writes, and every evaluation of that
    round late by up to 3 s. Counted from the window's opening, each policy waits for its own
    window, and a policy refreshed at its window's first evaluation is refreshed a minute
    later again. Counted from the last write only, a news write 15 s after a refresh was
    followed by the next refresh a minute later: three writes in 75 s, and 0.94-1.01 writes
    per policy a minute at 1,000 policies (news and refreshes together)."""
    slack = _slack(interval, period)
    if now - written_at >= stalest(period) - slack:
        return True
    opened = now - (now - offset) % period
    return (
        opened - written_at >= min_gap(period) and now - opened < period / 2 and now >= paid - slack
    )

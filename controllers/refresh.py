"""When a status that says nothing new is written anyway: once a minute, at the policy's own
second of the minute.

Routine news (counters, times, the learner's progress) goes out with the next write, at the
latest one STATUS_REFRESH_SECONDS slot later. Each policy's slots start at its own phase,
taken from a hash of its uid, so a fleet's refreshes are spread over the whole minute. Timed
only from the last write, they bunch: the policies found at start-up are all first written
within one evaluation interval, and every refresh of theirs then falls in that quarter of the
minute (a thousand writes and their watch events in 15 s, the queue behind them showing up as
evaluation lag), for as long as the process runs.
"""

from __future__ import annotations

import math
import zlib

# At 1,000 policies: ≤ 17 routine status writes a second (docs/scaling.md).
STATUS_REFRESH_SECONDS = 60.0


def phase(uid: str) -> float:
    """The policy's offset into the minute, in seconds: stable across restarts and replicas."""
    return zlib.crc32(uid.encode()) / 2**32 * STATUS_REFRESH_SECONDS


def due(written_at: float, now: float, offset: float) -> bool:
    """Whether routine news written at `written_at` is to be refreshed at `now`: a slot
    boundary of the policy has passed since, and at least half a slot (a write for news just
    before the boundary is not followed by a refresh one evaluation later)."""
    if now - written_at < STATUS_REFRESH_SECONDS / 2:
        return False
    return _slot(now, offset) > _slot(written_at, offset)


def _slot(t: float, offset: float) -> int:
    return math.floor((t - offset) / STATUS_REFRESH_SECONDS)

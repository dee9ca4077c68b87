"""Free loopback ports for the components.

Ports are drawn below the kernel's ephemeral range: a port from that range could be taken as
the source port of some outgoing connection while an API server is stopped, and the tests
bring stopped API servers back on the same port.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Collection
from pathlib import Path

LOOPBACK = "127.0.0.1"
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether `host:port` can be bound now.

    SO_REUSEADDR matches what Go listeners do, so sockets in TIME_WAIT (left by a component
    that was just stopped) do not count as busy.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def candidate_range(ephemeral_low: int | None = None) -> range:
    """Ports to draw from: [20000, start of the ephemeral range), at least 1000 of them."""
    if ephemeral_low is None:
        try:
            ephemeral_low = int(_EPHEMERAL_RANGE.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            ephemeral_low = 32768
    return range(_LOWEST, max(ephemeral_low, _LOWEST + 1000))


def pick_ports(
    count: int,
    *,
    candidates: range,
    is_free: Callable[[int], bool],
    exclude: Collection[int] = (),
    rng: random.Random | None = None,
    attempts: int = 2000,
) -> list[int]:
    """`count` distinct ports from `candidates` that `is_free` accepts, none in `exclude`.

    Raises RuntimeError when `attempts` draws do not find enough free ports.
    """
    rng = rng or random.SystemRandom()
    chosen: list[int] = []
    tried = set(exclude)
    for _ in range(attempts):
        if len(chosen) == count:
            break
        port = rng.choice(candidates)
        if port in tried:
            continue
        tried.add(port)
        if is_free(port):
            chosen.append(port)
    if len(chosen) < count:
        raise RuntimeError(
            f"found only {len(chosen)} of {count} free ports in "
            f"{candidates.start}-{candidates.stop - 1} after {attempts} tries"
        )
    return chosen


def free_ports(count: int, *, exclude: Collection[int] = ()) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago."""
    return pick_ports(count, candidates=candidate_range(), is_free=port_is_free, exclude=exclude)

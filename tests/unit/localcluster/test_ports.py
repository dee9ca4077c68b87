"""Port selection: distinct, free, outside the ephemeral range, and a clear failure."""

from __future__ import annotations

import random
import socket

import pytest

from hack.localcluster import ports


def test_picks_distinct_free_ports_outside_excluded() -> None:
    busy = {20001, 20003}
    picked = ports.pick_ports(
        5,
        candidates=range(20000, 20010),
        is_free=lambda port: port not in busy,
        exclude={20005},
        rng=random.Random(7),  # noqa: S311 - reproducible, not secret
    )

    assert len(set(picked)) == 5
    assert not set(picked) & (busy | {20005})
    assert all(20000 <= port < 20010 for port in picked)


def test_fails_clearly_when_not_enough_ports_are_free() -> None:
    with pytest.raises(RuntimeError, match="found only 2 of 3 free ports in 20000-20001"):
        ports.pick_ports(3, candidates=range(20000, 20002), is_free=lambda _port: True)


def test_candidates_end_where_the_ephemeral_range_starts() -> None:
    assert ports.candidate_range(32768) == range(20000, 32768)
    assert len(ports.candidate_range(20100)) == 1000  # never too narrow


def test_a_listening_port_is_not_free() -> None:
    with socket.socket() as listener:
        listener.bind((ports.LOOPBACK, 0))
        listener.listen()
        port = listener.getsockname()[1]

        assert not ports.port_is_free(port)
    assert ports.port_is_free(port)


def test_free_ports_are_bindable() -> None:
    for port in ports.free_ports(3):
        assert ports.port_is_free(port)

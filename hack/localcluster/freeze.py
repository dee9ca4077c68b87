"""Freeze a process (SIGSTOP) and thaw it (SIGCONT): a hung component, not a dead one.

A stopped kube-apiserver keeps its port open and its connections established: clients'
requests are accepted by the kernel and never answered, which is what a hung or partitioned
server looks like (unlike `stop_apiserver`, whose callers get "connection refused" at once).
The whole process group is signalled, so helper children freeze along with the leader.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path


def freeze(pid: int) -> None:
    """SIGSTOP the process group led by `pid`."""
    os.killpg(pid, signal.SIGSTOP)


def thaw(pid: int) -> None:
    """SIGCONT the process group led by `pid`; nothing if it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGCONT)


def state(pid: int) -> str:
    """The process's state letter from /proc (`T` while stopped), or `?` if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat[stat.rindex(")") + 2 :].split()[0]


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """Keep the process group of `pid` stopped inside the block; always thawed on exit."""
    freeze(pid)
    try:
        yield
    finally:
        thaw(pid)

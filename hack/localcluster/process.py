"""Child processes: each in its own process group, output to a log file, stopped group-wide.

A child started with `tie_to_parent` also gets PR_SET_PDEATHSIG=SIGKILL, so the kernel kills
it if the thread that started it dies (even by SIGKILL, when no Python cleanup runs). That is
why `tie_to_parent` must only be used from a thread that outlives the child (the main thread).
Detached children (the CLI's `up`) are not tied; the state file records their pid and start
time so that `down`, in another process, can stop exactly them and never a recycled pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
# Looked up once here: between fork and exec the child must not load libraries or take locks.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or
    None when no such process lives (zombies count as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    rest = stat[stat.rindex(")") + 2 :].split()
    if rest[0] == "Z":
        return None
    return int(rest[19])


@dataclass
class ProcessRecord:
    """What the state file keeps about a running child."""

    argv: list[str]
    log: str
    pid: int
    start_ticks: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "argv": self.argv,
            "log": self.log,
            "pid": self.pid,
            "start_ticks": self.start_ticks,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessRecord:
        return cls(
            argv=[str(arg) for arg in data["argv"]],
            log=str(data["log"]),
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
        )


class Child:
    """One component process. Not thread-safe; one owner drives it."""

    def __init__(self, label: str, argv: Sequence[str], log: Path, *, cwd: Path) -> None:
        self.label = label
        self.argv = list(argv)
        self.log = log
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._ticks: int | None = None

    @classmethod
    def adopt(cls, label: str, record: ProcessRecord, *, cwd: Path) -> Child:
        """A child started by another process (a detached `up`), known by its record."""
        child = cls(label, record.argv, Path(record.log), cwd=cwd)
        child._pid = record.pid
        child._ticks = record.start_ticks
        return child

    @property
    def pid(self) -> int | None:
        return self._pid

    def record(self) -> ProcessRecord:
        if self._pid is None or self._ticks is None:
            raise RuntimeError(f"{self.label} was never started")
        return ProcessRecord(self.argv, str(self.log), self._pid, self._ticks)

    def start(self, *, tie_to_parent: bool) -> None:
        """Start the process (again, after a stop) with the same command line.

        Output is appended to the log, so a restart keeps the earlier run's lines.
        """
        if self.running():
            raise RuntimeError(f"{self.label} is already running")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        tie = tie_to_parent and threading.current_thread() is threading.main_thread()
        with self.log.open("ab") as log:
            log.write(f"==== {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if tie else None,
            )
        self._pid = self._popen.pid
        self._ticks = start_ticks(self._pid)
        if self._ticks is None:
            # It died before we could look; keep a value that matches no live process.
            self._ticks = -1

    def running(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        if self._pid is None:
            return False
        return start_ticks(self._pid) == self._ticks

    def exit_code(self) -> int | None:
        """The exit code once a child we started has ended; None while it runs or if adopted."""
        return self._popen.poll() if self._popen is not None else None

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the child's process group, if the child (its leader) still runs."""
        if self._pid is not None and self.running():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pid, sig)


def stop_all(children: Sequence[Child], *, grace: float) -> None:
    """SIGTERM every running child's group, wait up to `grace` seconds, then SIGKILL the rest.

    Returns when none of them runs any more (reaping the ones this process started).
    """
    alive = [child for child in children if child.running()]
    first = signal.SIGTERM if grace > 0 else signal.SIGKILL
    for child in alive:
        child.signal_group(first)
    _wait(lambda: not any(child.running() for child in alive), grace)
    for child in alive:
        child.signal_group(signal.SIGKILL)
    _wait(lambda: not any(child.running() for child in alive), 10.0)


def _wait(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if done():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)

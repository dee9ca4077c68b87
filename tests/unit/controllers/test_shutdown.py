"""Stopping keeps one actor: loops stop first (while the Lease is renewed), then kopf; our
order runs although kopf installs its own SIGTERM handler."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controllers import manager, settings
from tests.unit.controllers import harness

ROOT = Path(__file__).resolve().parents[3]


async def test_loops_stop_before_kopf_and_within_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = harness.world(monkeypatch)
    await w.adopt()
    memory = w.rec._memory[harness.UID]
    memory.task = asyncio.create_task(w.rec._loop(harness.UID))
    stop_flag = asyncio.Event()
    seen: list[str] = []

    async def kopf() -> None:
        await stop_flag.wait()
        seen.append(
            "kopf stopping; loop done: " + str(memory.task is not None and memory.task.done())
        )
        await asyncio.Event().wait()  # a kopf that does not stop by itself

    operator = asyncio.create_task(kopf())
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await manager.wind_down(w.rec, stop_flag, operator, deadline=3.0)
    took = time.monotonic() - started
    assert seen == ["kopf stopping; loop done: True"]
    assert operator.done()
    assert took < 3.0
    # Nothing starts again: a late watch event does not restart a loop.
    await w.rec.observe(w.policy_body(), lambda _: [])
    assert all(m.task is None or m.task.done() for m in w.rec._memory.values())


def test_the_shutdown_deadline_fits_inside_the_renew_deadline() -> None:
    cfg = settings.parse(["--leader-elect", "--lease-duration=15", "--renew-deadline=10",
                            "--retry-period=2"], environ={})  # fmt: skip
    assert manager.shutdown_deadline(cfg) < cfg.renew_deadline < cfg.lease_duration


def test_sigterm_runs_our_ordered_shutdown_not_kopfs() -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.controllers.sigterm_child"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "WATCHING"  # kopf runs, its handlers set
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err[-2000:]
    assert "EXIT shutdown=True" in out
    assert "Signal SIGTERM is received" not in err  # kopf never saw it
    assert "Stop-flag is set" in err
    assert "controllers.manager:stopped in" in err

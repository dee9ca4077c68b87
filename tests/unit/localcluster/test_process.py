"""Child processes: logs, whole-group stop, adoption by pid and start time."""

from __future__ import annotations

import os
from pathlib import Path

from hack.localcluster import process
from hack.localcluster.rest import wait_for


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = f"sleep 600 & echo $! > {pidfile}; wait"
    child = process.Child("demo", ["sh", "-c", script], tmp_path / "demo.log", cwd=tmp_path)
    child.start(tie_to_parent=True)
    assert wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "", timeout=10)
    grandchild = int(pidfile.read_text())
    assert process.start_ticks(grandchild) is not None

    process.stop_all([child], grace=5.0)

    assert not child.running()
    assert wait_for(lambda: process.start_ticks(grandchild) is None, timeout=10)


def test_output_goes_to_the_log_and_restarts_append(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "echo.log"
    child = process.Child("echo", ["sh", "-c", "echo hello"], log, cwd=tmp_path)

    for _ in range(2):
        child.start(tie_to_parent=False)
        assert wait_for(lambda: not child.running(), timeout=10)

    assert child.exit_code() == 0
    lines = log.read_text().splitlines()
    assert lines.count("hello") == 2
    assert sum(line.startswith("==== ") for line in lines) == 2


def test_adopted_child_is_found_by_its_record_and_can_be_stopped(tmp_path: Path) -> None:
    original = process.Child("sleeper", ["sleep", "600"], tmp_path / "s.log", cwd=tmp_path)
    original.start(tie_to_parent=True)
    record = process.ProcessRecord.from_dict(original.record().as_dict())

    adopted = process.Child.adopt("sleeper", record, cwd=tmp_path)
    assert adopted.running()
    process.stop_all([adopted], grace=5.0)

    assert wait_for(lambda: not original.running(), timeout=10)
    assert not adopted.running()


def test_a_recycled_pid_is_not_taken_for_the_recorded_process(tmp_path: Path) -> None:
    me = process.start_ticks(os.getpid())
    assert me is not None
    stale = process.ProcessRecord(["x"], str(tmp_path / "x.log"), os.getpid(), me + 1)

    assert not process.Child.adopt("x", stale, cwd=tmp_path).running()


def test_start_ticks_of_a_missing_process_is_none() -> None:
    assert process.start_ticks(2**22 + 12345) is None

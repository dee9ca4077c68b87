"""The operator as the scale benchmark runs it: `nimbusguard run` in a child process on
loopback, optionally under cProfile, with /metrics on plain HTTP for the benchmark to read."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks import scale_probe as probe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Operator:
    def __init__(
        self,
        *,
        kubeconfig: Path,
        operator_namespace: str,
        log_file: Path,
        identity: str,
        profile: Path | None = None,
        memory: Path | None = None,
        memory_trace: bool = False,
        memory_census: bool = False,
        leader_elect: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        self.log_file = log_file
        self.identity = identity
        command = ["-m", "nimbusguard.cli"]
        if profile is not None:  # CPU-timed, see benchmarks/scale_profiled.py
            command = ["-m", "benchmarks.scale_profiled", str(profile)]
        elif memory is not None:  # a memory report, see benchmarks/scale_memory.py
            command = ["-m", "benchmarks.scale_memory", str(memory)]
            command += ["--trace"] if memory_trace else []
            command += ["--census", "--every", "60"] if memory_census else []
        self.args = [
            sys.executable,
            *command,
            "run",
            f"--kubeconfig={kubeconfig}",
            "--context=hub",
            f"--member-kubeconfig={kubeconfig}",
            f"--bind-address=127.0.0.1:{self.port}",
            f"--metrics-bind-address=127.0.0.1:{self.metrics_port}",
            "--no-metrics-secure",
            f"--identity={identity}",
            "--allow-prometheus-address=http://127.0.0.1:*",
            f"--operator-namespace={operator_namespace}",
            "--log-level=INFO",
            *(
                ["--leader-elect", f"--lease-namespace={operator_namespace}"]
                if leader_elect
                else []
            ),
            *extra_args,
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("not started")
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> probe.Scrape:
        """The /metrics page; empty while it does not answer."""
        try:
            return probe.fetch(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10)
        except OSError:
            return {}

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the profile is written on a clean exit), SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

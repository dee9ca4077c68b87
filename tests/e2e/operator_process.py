"""The operator as the e2e tests run it: `nimbusguard run` in a child process on loopback.

Each test starts its own operator(s), restricted to its own namespaces, so tests neither see
nor disturb each other's policies. The process is stopped (and killed if it lingers) when the
test ends; its log is registered for the failure diagnostics.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class OperatorProcess:
    """One `nimbusguard run` process."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        context: str,
        namespaces: Sequence[str],
        log_file: Path,
        member_kubeconfig: Path | None = None,
        leader_elect: bool = False,
        lease_namespace: str | None = None,
        identity: str | None = None,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.log_file = log_file
        self.identity = identity or f"e2e-{self.port}"
        args = [
            sys.executable,
            "-m",
            "nimbusguard.cli",
            "run",
            f"--kubeconfig={kubeconfig}",
            f"--context={context}",
            f"--bind-address=127.0.0.1:{self.port}",
            # /metrics on its own port, plain HTTP unless a test asks for --metrics-secure.
            f"--metrics-bind-address=127.0.0.1:{self.metrics_port}",
            "--no-metrics-secure",
            f"--identity={self.identity}",
            "--log-level=DEBUG",
        ]
        args += [f"--namespace={ns}" for ns in namespaces]
        # The tests' Prometheus servers run on loopback; state and grants live in the first
        # namespace of the test (unless the test says otherwise).
        args.append("--allow-prometheus-address=http://127.0.0.1:*")
        if namespaces and not any(a.startswith("--operator-namespace") for a in extra_args):
            args.append(f"--operator-namespace={namespaces[0]}")
        if member_kubeconfig is not None:
            args.append(f"--member-kubeconfig={member_kubeconfig}")
        if leader_elect:
            args += [
                "--leader-elect",
                f"--lease-namespace={lease_namespace}",
                "--lease-duration=6",
                "--renew-deadline=4",
                "--retry-period=1",
            ]
        self.args = [*args, *extra_args]
        self.env = {**os.environ, **(env or {})}
        self.env.pop("KUBECONFIG", None)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        log = self.log_file.open("ab")
        self.proc = subprocess.Popen(
            self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        log.close()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def get(self, path: str, base: str | None = None) -> tuple[int, str]:
        """GET an endpoint of the operator; (0, error) when it does not answer."""
        try:
            with urllib.request.urlopen((base or self.url) + path, timeout=3) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    def readyz(self) -> dict[str, Any]:
        status, body = self.get("/readyz")
        if status == 0:
            return {"ready": False, "reason": body}
        answer: dict[str, Any] = json.loads(body)
        return answer

    def wait_ready(self, timeout: float = 60.0, role: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                pytest.fail(f"the operator exited with {self.returncode()}; see {self.log_file}")
            answer = self.readyz()
            if answer.get("ready") and (role is None or answer.get("role") == role):
                return
            time.sleep(0.25)
        pytest.fail(f"the operator was not ready in {timeout:.0f}s: {self.readyz()}")

    def metrics(self) -> str:
        status, body = self.get("/metrics", self.metrics_url)
        if status != 200:
            pytest.fail(f"/metrics answered {status}: {body[:200]}")
        return body

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit within `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return self.returncode()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.returncode()

    def kill(self) -> None:
        """SIGKILL: a crash, no clean-up code runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

"""A real Prometheus (Debian's package, `hack/install-prometheus.sh`) on a free loopback port.

`LocalPrometheus(scrape_configs)` writes prometheus.yml with the caller's scrape configs,
starts Prometheus on 127.0.0.1, and waits for /-/ready. With `web_config` (Prometheus's own
`--web.config.file`: TLS, client certificates, basic auth) it serves HTTPS behind them, and
talks to itself with `client_context` and `client_auth`. Tests use `url`, `query(...)`,
`wait_for_targets_up()`, `kill()` (a crash: clients get connection refused) and `start()`
again (same port, same data); `close()` removes the config, data and log.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import ssl
import tempfile
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from hack.localcluster import ports, rest
from hack.localcluster.errors import ComponentError, MissingBinaryError, PortInUseError
from hack.localcluster.process import Child, stop_all

COMPONENT = "prometheus"


def render_config(
    scrape_configs: Sequence[Mapping[str, Any]], *, scrape_interval: str, evaluation_interval: str
) -> dict[str, Any]:
    """prometheus.yml with the caller's scrape configs and the given global intervals."""
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval,
        },
        "scrape_configs": [dict(config) for config in scrape_configs],
    }


class LocalPrometheus:
    """One Prometheus process with its own config, data dir and log under a work dir.

    `scrape_configs`: Prometheus `scrape_configs` entries (dicts), e.g. a static target
    `127.0.0.1:<port>` for an exporter in the test. `workdir`: a new temporary dir when None;
    removed by `close()` (and by leaving the `with` block). `port`: a free one when None; kept
    across `stop()`/`start()`. The process is tied to the starting thread like the clusters'
    components (PR_SET_PDEATHSIG) and always bound to 127.0.0.1.
    """

    def __init__(
        self,
        scrape_configs: Sequence[Mapping[str, Any]],
        *,
        workdir: Path | None = None,
        binary: str = "prometheus",
        port: int | None = None,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        timeout: float = 60.0,
        web_config: Mapping[str, Any] | None = None,
        client_context: ssl.SSLContext | None = None,
        client_auth: tuple[str, str] | None = None,
    ) -> None:
        self._config = render_config(
            scrape_configs,
            scrape_interval=scrape_interval,
            evaluation_interval=evaluation_interval,
        )
        self._workdir_arg = workdir
        self._workdir: Path | None = None
        self._binary = binary
        self._port = port
        self._timeout = timeout
        self._web_config = dict(web_config) if web_config is not None else None
        self._client_context = client_context
        self._client_auth = client_auth
        self._child: Child | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("prometheus not started")
        return self._port

    @property
    def tls(self) -> bool:
        return bool(self._web_config and self._web_config.get("tls_server_config"))

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. http://127.0.0.1:23456 (https with TLS)."""
        return f"{'https' if self.tls else 'http'}://{ports.LOOPBACK}:{self.port}"

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("prometheus not started")
        return self._workdir

    @property
    def log_file(self) -> Path:
        return self.workdir / "prometheus.log"

    @property
    def config_file(self) -> Path:
        return self.workdir / "prometheus.yml"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def web_config_file(self) -> Path:
        return self.workdir / "web.yml"

    def running(self) -> bool:
        return self._child is not None and self._child.running()

    def start(self) -> None:
        """Start (or restart, on the same port and data) and wait for GET /-/ready.

        Raises MissingBinaryError (no prometheus: run hack/install-prometheus.sh),
        PortInUseError, or ComponentError naming the log when it exits or is not ready in time.
        """
        if self.running():
            return
        binary = shutil.which(self._binary)
        if binary is None:
            raise MissingBinaryError(
                f"{COMPONENT}: {self._binary!r} not found (run hack/install-prometheus.sh)"
            )
        if self._workdir is None:
            self._workdir = self._workdir_arg or Path(tempfile.mkdtemp(prefix="nimbusguard-prom-"))
            self._workdir.mkdir(parents=True, exist_ok=True)
            self.config_file.write_text(yaml.safe_dump(self._config, sort_keys=False))
            if self._web_config is not None:
                self.web_config_file.write_text(yaml.safe_dump(self._web_config))
        if self._port is None:
            self._port = ports.free_ports(1)[0]
        if not ports.port_is_free(self.port):
            raise PortInUseError(COMPONENT, self.port, self.log_file)
        argv = [
            binary,
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={ports.LOOPBACK}:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]
        if self._web_config is not None:
            argv.append(f"--web.config.file={self.web_config_file}")
        self._child = Child(COMPONENT, argv, self.log_file, cwd=self.workdir)
        self._child.start(tie_to_parent=True)
        child = self._child

        def exited() -> ComponentError | None:
            if child.running():
                return None
            return ComponentError(COMPONENT, f"exited with code {child.exit_code()}", self.log_file)

        if not rest.wait_for(lambda: self._ready(), timeout=self._timeout, abort=exited):
            self.stop()
            raise ComponentError(
                COMPONENT, f"not ready after {self._timeout:.0f}s (GET /-/ready)", self.log_file
            )

    def stop(self) -> None:
        """Stop gracefully (SIGTERM, then SIGKILL after 10 s). Data and port are kept."""
        if self._child is not None:
            stop_all([self._child], grace=10.0)

    def kill(self) -> None:
        """Stop at once (SIGKILL), like a crash. Data and port are kept."""
        if self._child is not None:
            stop_all([self._child], grace=0.0)

    def close(self) -> None:
        """Stop and remove the work dir (config, data and log). Idempotent."""
        self.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> LocalPrometheus:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result of an instant query (`data.result`); raises RuntimeError on an error."""
        path = "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        status, body = self._get(path)
        if status != 200:
            raise RuntimeError(f"prometheus query {promql!r}: HTTP {status}: {body[:300]!r}")
        answer = json.loads(body)
        if answer.get("status") != "success":
            raise RuntimeError(f"prometheus query {promql!r}: {answer}")
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_for_targets_up(self, timeout: float = 30.0) -> None:
        """Wait until every configured target has been scraped successfully (health "up").

        Raises ComponentError listing the targets that are not up when time runs out.
        """
        last: list[str] = []

        def all_up() -> bool:
            try:
                status, body = self._get("/api/v1/targets?state=active")
            except OSError:
                return False
            if status != 200:
                return False
            targets = json.loads(body)["data"]["activeTargets"]
            last[:] = [f"{t['scrapeUrl']}: {t['health']} {t.get('lastError', '')}" for t in targets]
            return bool(targets) and all(t["health"] == "up" for t in targets)

        if not rest.wait_for(all_up, timeout=timeout, interval=0.25):
            raise ComponentError(
                COMPONENT, f"targets not up after {timeout:.0f}s: {'; '.join(last)}", self.log_file
            )

    def _ready(self) -> bool:
        try:
            return self._get("/-/ready")[0] == 200
        except OSError:
            return False

    def _get(self, path: str) -> tuple[int, bytes]:
        conn: http.client.HTTPConnection
        if self.tls:
            conn = http.client.HTTPSConnection(
                ports.LOOPBACK, self.port, timeout=5.0, context=self._client_context
            )
        else:
            conn = http.client.HTTPConnection(ports.LOOPBACK, self.port, timeout=5.0)
        headers = {}
        if self._client_auth is not None:
            pair = ":".join(self._client_auth).encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, ssl.SSLError) as error:
            raise OSError(str(error)) from error
        finally:
            conn.close()

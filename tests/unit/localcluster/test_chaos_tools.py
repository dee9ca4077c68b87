"""The chaos suite's tools without a cluster: audit events, the blackholing proxy, freezing a
process, client identities, and the scripted Prometheus read through the operator's parser."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from hack.localcluster import audit, freeze, identity, pki
from hack.localcluster.clusters import ClusterInfo
from hack.localcluster.proxy import TcpProxy
from nimbusguard.clients import errors, prometheus
from tests.e2e.chaos import fakeprom


def _line(**over: Any) -> str:
    event: dict[str, Any] = {
        "kind": "Event",
        "stage": "ResponseComplete",
        "verb": "patch",
        "user": {"username": "op-a", "groups": ["system:masters"]},
        "objectRef": {
            "resource": "deployments",
            "subresource": "scale",
            "namespace": "ns",
            "name": "web",
            "apiGroup": "apps",
        },
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": "2026-12-02T01:00:00.000001Z",
        "stageTimestamp": "2026-12-02T01:00:00.100000Z",
        "requestObject": {"spec": {"replicas": 3}},
    }
    event.update(over)
    return json.dumps(event) + "\n"


def test_audit_reader_filters_writes_and_reads_from_a_mark(tmp_path: Path) -> None:
    log = audit.AuditLog(tmp_path / "audit.log")
    assert log.mark() == 0 and list(log.events()) == []
    log.path.write_text(_line() + _line(verb="get"))
    mark = log.mark()
    with log.path.open("a") as handle:
        handle.write(_line(user={"username": "op-b"}, responseStatus={"code": 403}))
        handle.write('{"partial": ')  # being written: not yet an event
    assert [e.user for e in log.writes()] == ["op-a", "op-b"]
    later = log.writes(since=mark)
    assert [(e.user, e.code, e.succeeded) for e in later] == [("op-b", 403, False)]
    (first,) = log.writes(user="op-a", resource="deployments/scale", succeeded=True)
    assert first.request == {"spec": {"replicas": 3}}
    assert first.received.microsecond == 1 and first.kind == "deployments/scale"
    assert log.writes(namespace="other") == []
    (read,) = log.requests(writes=False)
    assert (read.user, read.verb) == ("op-a", "get")


def test_audit_event_names_the_pod_a_service_account_token_was_bound_to(tmp_path: Path) -> None:
    log = audit.AuditLog(tmp_path / "audit.log")
    account = "system:serviceaccount:nimbusguard-system:nimbusguard-controller-manager"
    bound = {"username": account,
             "extra": {"authentication.kubernetes.io/pod-name": ["manager-7d9-x2"]}}  # fmt: skip
    log.path.write_text(_line(user=bound) + _line())
    assert [(e.user, e.pod) for e in log.writes()] == [(account, "manager-7d9-x2"), ("op-a", "")]


def test_audit_policy_logs_writes_only_and_bodies_for_our_group(tmp_path: Path) -> None:
    audit.write_policy(tmp_path / "p.yaml")
    rules = yaml.safe_load((tmp_path / "p.yaml").read_text())["rules"]
    # Reads are logged only for the audited-reads group, and only of Deployments.
    assert rules[0]["userGroups"] == [audit.READS_GROUP] and rules[0]["verbs"] == ["get"]
    assert rules[1] == {"level": "None", "verbs": ["get", "list", "watch"]}
    detailed = next(r for r in rules if r["level"] == "Request")
    assert {"group": "nimbusguard.io"} in detailed["resources"]
    assert {"group": "coordination.k8s.io", "resources": ["leases"]} in detailed["resources"]
    assert rules[-1] == {"level": "None"}
    flags = audit.apiserver_flags(tmp_path / "p.yaml", tmp_path / "a.log")
    assert f"--audit-log-path={tmp_path / 'a.log'}" in flags


@pytest.fixture
def echo() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(1024):
            conn.sendall(data)


def _roundtrip(port: int, payload: bytes, timeout: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(payload)
        return conn.recv(1024)


def test_proxy_forwards_blackholes_and_restores(echo: int) -> None:
    with TcpProxy("127.0.0.1", echo) as proxy:
        assert _roundtrip(proxy.port, b"one", 5) == b"one"
        held = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        held.sendall(b"x")
        assert held.recv(16) == b"x"
        proxy.blackhole()
        assert proxy.blackholed
        held.sendall(b"lost")
        with pytest.raises(TimeoutError):
            _roundtrip(proxy.port, b"two", 0.5)  # accepted, never answered
        held.settimeout(0.5)
        with pytest.raises(TimeoutError):
            held.recv(16)
        proxy.restore()
        # A connection that lost bytes is closed; new ones work again.
        held.settimeout(5)
        assert held.recv(16) == b""
        held.close()
        assert _roundtrip(proxy.port, b"three", 5) == b"three"


def test_freeze_stops_and_thaws_a_process_group() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True
    )
    try:
        with freeze.frozen(child.pid):
            deadline = time.monotonic() + 5
            while freeze.state(child.pid) != "T" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert freeze.state(child.pid) == "T"
        # Woken, the process may pass through D for a moment on its way back to its sleep
        # (seen once in CI): poll for the running or sleeping state with a deadline.
        deadline = time.monotonic() + 5
        while freeze.state(child.pid) not in ("S", "R") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert freeze.state(child.pid) in ("S", "R")
    finally:
        child.kill()
        child.wait()
    assert freeze.state(child.pid) == "?"


def test_issued_user_is_signed_by_the_cluster_ca(tmp_path: Path) -> None:
    cluster_pki = pki.make_cluster_pki("hub")
    files = pki.PKIFiles(tmp_path / "pki")
    pki.write_pki(cluster_pki, files)
    info = ClusterInfo(
        "hub",
        "https://127.0.0.1:6443",
        files.ca_cert,
        files.admin_cert,
        files.admin_key,
        tmp_path / "kc",
    )
    user = identity.issue_user(info, "chaos-op-a")
    cert = user.cert.certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "chaos-op-a"
    assert cert.issuer == cluster_pki.ca.certificate.subject
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "system:masters"
    )
    path = identity.kubeconfig_with(
        tmp_path / "op.kubeconfig",
        [user.entry()],
        servers={"hub": "https://127.0.0.1:7000"},
    )
    config = yaml.safe_load(path.read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:7000"
    assert isinstance(x509.load_pem_x509_certificate(user.cert.cert_pem), x509.Certificate)


@pytest.fixture(scope="module")
def fake() -> Iterator[fakeprom.FakePrometheus]:
    server = fakeprom.FakePrometheus(tarpit_seconds=0.1)
    yield server
    server.close()


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=5) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


# Finite numbers pass the response parser; the operator must refuse them later (a negative
# demand, or a value that overflows the HPA formula), which the e2e scenario checks.
PARSED = {"huge": 1e308, "negative": -1.0}


@pytest.mark.parametrize("mode", sorted(fakeprom.MODES))
def test_every_bad_mode_is_refused_or_parsed_as_scripted(
    fake: fakeprom.FakePrometheus, mode: str
) -> None:
    status, body, _ = _get(fake.address(f"{mode}~unit") + "/api/v1/query?query=x")
    assert status == (500 if mode == "html500" else 200)
    if mode in PARSED:
        assert prometheus.decode(body) == PARSED[mode]
    else:
        with pytest.raises(errors.MetricError):
            prometheus.decode(body)


def test_series_tarpit_redirect_and_counting(fake: fakeprom.FakePrometheus) -> None:
    address = fake.series("web~unit") + "/api/v1/query"
    with pytest.raises(errors.MetricError):
        prometheus.decode(_get(address)[1])  # nothing set yet: an empty vector
    fake.set("web~unit", 2.5)
    assert prometheus.decode(_get(address)[1]) == 2.5
    assert prometheus.decode(_get(fake.address("tarpit~unit") + "/api/v1/query")[1]) == 1.0
    status, _, headers = _get(fake.address("redirect~unit") + "/api/v1/query")
    assert status == 302 and headers["Location"].startswith("http://localhost:")
    assert fake.count("tarpit~unit") == 1
    assert fake.count("series-web~unit") == 2

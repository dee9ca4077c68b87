"""A named metric endpoint with authentication, against the real Prometheus behind its own
`--web.config.file`: TLS with a private CA, client certificates required, basic auth.

The operator reads the endpoint list and the credentials from files (as the Deployment
mounts the ConfigMap and the Secret); a policy names the endpoint, never the URL. With the
right credentials it scales on the metric; with a wrong password the policy says HTTP 401 and
nothing of the answer, and the password appears nowhere.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from hack.loadgen import LoadExporter
from hack.localcluster import pki
from hack.localcluster.prometheus import LocalPrometheus
from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import Scenario

USER, PASSWORD = "nimbusguard", "s3cr3t-e2e-password"


def _write(directory: Path, name: str, data: bytes | str) -> Path:
    path = directory / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(0o600)
    return path


@pytest.fixture
def secure_prometheus(load_exporter: LoadExporter, tmp_path: Path) -> Any:
    """Prometheus on https://127.0.0.1 (private CA, client certificate required, basic auth)
    scraping the load exporter; the CA and a client certificate in `tmp_path / "creds"`."""
    creds = tmp_path / "creds"
    creds.mkdir()
    tls = tmp_path / "prometheus-tls"
    tls.mkdir()
    ca = pki.new_ca("e2e-prometheus-ca")
    server = pki.issue(ca, "prometheus", ip_addresses=["127.0.0.1"], server=True)
    client = pki.issue(ca, "nimbusguard-operator", client=True)
    _write(tls, "server.crt", server.cert_pem)
    _write(tls, "server.key", server.key_pem)
    _write(tls, "ca.crt", ca.cert_pem)
    _write(creds, "ca.crt", ca.cert_pem)
    _write(creds, "client.crt", client.cert_pem)
    _write(creds, "client.key", client.key_pem)
    _write(creds, "username", USER)
    _write(creds, "password", PASSWORD)
    _write(creds, "wrong-password", "not-the-password")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web = {
        "tls_server_config": {
            "cert_file": str(tls / "server.crt"),
            "key_file": str(tls / "server.key"),
            "client_ca_file": str(tls / "ca.crt"),
            "client_auth_type": "RequireAndVerifyClientCert",
        },
        "basic_auth_users": {USER: hashed},
    }
    context = ssl.create_default_context(cafile=str(creds / "ca.crt"))
    context.load_cert_chain(str(creds / "client.crt"), str(creds / "client.key"))
    scrape = [{"job_name": "e2e", "static_configs": [{"targets": [load_exporter.target]}]}]
    prom = LocalPrometheus(
        scrape, web_config=web, client_context=context, client_auth=(USER, PASSWORD)
    )
    with prom:
        prom.wait_for_targets_up()
        yield prom, creds


def test_a_named_endpoint_with_tls_client_certificate_and_basic_auth(
    scenario: Scenario, secure_prometheus: tuple[LocalPrometheus, Path], tmp_path: Path
) -> None:
    prom, creds = secure_prometheus
    api, ns = scenario.api, scenario.ns
    assert prom.url.startswith("https://127.0.0.1:")
    tls = {"caFile": "ca.crt", "certFile": "client.crt", "keyFile": "client.key"}
    endpoints_file = tmp_path / "endpoints.yaml"
    endpoints_file.write_text(
        yaml.safe_dump(
            {
                "endpoints": [
                    {
                        "name": "secure",
                        "url": prom.url,
                        "auth": {"basic": {"usernameFile": "username", "passwordFile": "password"}},
                        "tls": tls,
                        "namespaces": [ns],
                    },
                    {
                        "name": "wrong",
                        "url": prom.url,
                        "auth": {
                            "basic": {"usernameFile": "username", "passwordFile": "wrong-password"}
                        },
                        "tls": tls,
                    },
                    {
                        "name": "no-client-cert",
                        "url": prom.url,
                        "auth": {"basic": {"usernameFile": "username", "passwordFile": "password"}},
                        "tls": {"caFile": "ca.crt"},
                    },
                ]
            }
        )
    )
    scenario.deployment("web", 1)
    scenario.deployment("other", 1)
    scenario.deployment("third", 1)
    scenario.demand(3)
    for name, endpoint in (("web", "secure"), ("other", "wrong"), ("third", "no-client-cert")):
        body = h.policy_body(name, name, query=h.demand_query(scenario.series))
        del body["spec"]["metrics"]["prometheus"]["serverAddress"]
        body["spec"]["metrics"]["prometheus"]["endpoint"] = endpoint
        h.create_policy(api, ns, body)
    operator = scenario.operator(
        extra_args=[f"--metric-endpoints={endpoints_file}", f"--metric-credentials={creds}"]
    )

    h.wait_condition(api, ns, "web", "MetricsAvailable", status_="True", timeout=60)
    h.wait_replicas(api, ns, "web", 3, timeout=90)

    h.wait_condition(api, ns, "other", "MetricsAvailable", status_="False", timeout=60)
    message = h.condition(api, ns, "other", "MetricsAvailable")["message"]
    assert "Prometheus endpoint 'wrong' answered HTTP 401" in message
    assert "127.0.0.1" not in message  # the endpoint's address is the installer's business
    assert h.replicas(api, ns, "other") == 1
    # Without its client certificate the TLS handshake fails: no metric, no scaling.
    h.wait_condition(api, ns, "third", "MetricsAvailable", status_="False", timeout=60)
    assert (
        "cannot reach Prometheus endpoint 'no-client-cert'"
        in h.condition(api, ns, "third", "MetricsAvailable")["message"]
    )
    assert h.replicas(api, ns, "third") == 1
    # Credentials are never reflected: not in status, Events or the log.
    seen = [str(h.status(api, ns, n)) for n in ("web", "other")]
    seen += [e.message or "" for n in ("web", "other") for e in h.events(api, ns, n)]
    seen.append(operator.log())
    for text in seen:
        assert PASSWORD not in text and "not-the-password" not in text

"""kopf logs in with the hub client's credentials, read again at every login.

Built from the real `kubernetes.aio` loaders (in-cluster token and CA files, a kubeconfig with
an exec plugin), asserting the Authorization header kopf's session is created with
(`ConnectionInfo.as_http_headers()`).
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes.aio import client as k8s
from kubernetes.aio.config import incluster_config

from controllers import manager
from hack.localcluster import pki
from nimbusguard.clients import kube

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2ln"
ROTATED = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb3RhdGVkIn0.c2lnMg"


def _in_cluster(tmp_path: Path) -> tuple[incluster_config.InClusterConfigLoader, k8s.ApiClient]:
    """What the kubelet mounts, loaded the way `kube.new_hub_client` loads it in a pod."""
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text(JWT)  # the kubelet writes the JWT with no trailing newline
    ca.write_bytes(pki.new_ca("test-cluster-ca").cert_pem)
    loader = incluster_config.InClusterConfigLoader(  # type: ignore[no-untyped-call]
        token_filename=str(token),
        cert_filename=str(ca),
        environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"},
    )
    configuration = k8s.Configuration()
    loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
    return loader, k8s.ApiClient(configuration)


async def test_in_cluster_token_is_sent_as_one_bearer_token(tmp_path: Path) -> None:
    _, api = _in_cluster(tmp_path)
    async with api:
        info = await manager.connection_info(api)
    # The loader stores "bearer <jwt>"; kopf once sent "Bearer bearer <jwt>" and got 401.
    assert info.as_http_headers() == {"Authorization": f"Bearer {JWT}"}
    assert info.server == "https://10.0.0.1:443"
    assert info.ca_path == str(tmp_path / "ca.crt")
    assert info.insecure is False


async def test_a_rotated_projected_token_is_sent_at_the_next_login(tmp_path: Path) -> None:
    loader, api = _in_cluster(tmp_path)
    async with api:
        before = await manager.connection_info(api)
        (tmp_path / "token").write_text(ROTATED)  # the kubelet rotates the projected token
        loader.token_expires_at = datetime.datetime.now()  # the loader's re-read period passed
        after = await manager.connection_info(api)
    assert after.as_http_headers() == {"Authorization": f"Bearer {ROTATED}"}
    # kopf's vault refuses a login result equal to the credentials a 401 invalidated.
    assert after != before


def _exec_kubeconfig(tmp_path: Path, token: str, expires: str) -> Path:
    """A kubeconfig whose user is an exec plugin printing the token and expiry in two files."""
    (tmp_path / "plugin-token").write_text(token)
    (tmp_path / "plugin-expiry").write_text(expires)
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json, pathlib\n"
        f"d = pathlib.Path({str(tmp_path)!r})\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1',"
        " 'kind': 'ExecCredential', 'status': {"
        "'token': (d / 'plugin-token').read_text(),"
        " 'expirationTimestamp': (d / 'plugin-expiry').read_text()}}))\n"
    )
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "hub",
                        "cluster": {
                            "server": "https://127.0.0.1:6443",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "users": [
                    {
                        "name": "cloud",
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1",
                                "command": sys.executable,
                                "args": [str(plugin)],
                                "interactiveMode": "Never",
                            }
                        },
                    }
                ],
                "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "cloud"}}],
                "current-context": "hub",
            }
        )
    )
    return kubeconfig


async def test_an_expired_exec_plugin_token_is_renewed_at_the_next_login(tmp_path: Path) -> None:
    kubeconfig = _exec_kubeconfig(tmp_path, "first", "2000-01-01T00:00:00Z")
    api = await kube.new_hub_client(kube.HubConfig(kubeconfig=kubeconfig))
    async with api:
        assert (await manager.connection_info(api)).as_http_headers() == {
            "Authorization": "Bearer first"
        }
        # The cloud's plugin hands out a new token once the first one has expired.
        (tmp_path / "plugin-token").write_text("second")
        info = await manager.connection_info(api)
    assert info.as_http_headers() == {"Authorization": "Bearer second"}


async def test_an_unexpired_exec_plugin_token_is_not_fetched_again(tmp_path: Path) -> None:
    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    kubeconfig = _exec_kubeconfig(tmp_path, "first", later)
    api = await kube.new_hub_client(kube.HubConfig(kubeconfig=kubeconfig))
    async with api:
        (tmp_path / "plugin-token").write_text("second")
        info = await manager.connection_info(api)
    assert info.as_http_headers() == {"Authorization": "Bearer first"}


@pytest.mark.parametrize(
    ("stored", "header"),
    [
        ("Bearer abc", "Bearer abc"),
        ("BEARER abc", "Bearer abc"),
        ("abc", "Bearer abc"),
        ("Basic dTpw", "Basic dTpw"),
    ],
)
async def test_every_stored_form_becomes_one_authorization_header(stored: str, header: str) -> None:
    configuration = k8s.Configuration(host="https://127.0.0.1:6443")
    configuration.api_key["BearerToken"] = stored
    async with k8s.ApiClient(configuration) as api:
        info = await manager.connection_info(api)
    assert info.as_http_headers() == {"Authorization": header}


async def test_no_credentials_send_no_header() -> None:
    async with k8s.ApiClient(k8s.Configuration(host="https://127.0.0.1:6443")) as api:
        info = await manager.connection_info(api)
    assert info.as_http_headers() == {}

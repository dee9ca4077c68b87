"""Bearer tokens for a member cluster: a real ServiceAccount token, and one that expired.

The expired token is a ServiceAccount JWT signed with the cluster's own signing key (the
local control planes keep it in their PKI directory), so the API server rejects it for its
expiry, exactly as it would a token a kubeconfig Secret kept too long.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from hack.localcluster import args, pki
from hack.localcluster.clusters import ClusterInfo
from tests.e2e import support


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account_token(api: Any, namespace: str, name: str) -> str:
    """A ServiceAccount `namespace/name` bound to cluster-admin, and a 1-hour token for it."""
    core = support.core_v1(api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    rbac: Any = kubernetes.client.RbacAuthorizationV1Api(api)
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": f"{namespace}-{name}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        }
    )
    answer = core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 3600}}
    )
    token: str = answer.status.token
    return token


def expired_token(cluster: ClusterInfo, namespace: str, name: str) -> str:
    """A ServiceAccount token for `namespace/name`, validly signed, expired 10 minutes ago."""
    key = serialization.load_pem_private_key(
        pki.PKIFiles(cluster.ca_file.parent).service_account_key.read_bytes(), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = int(time.time())
    claims = {
        "iss": args.SERVICE_ACCOUNT_ISSUER,
        "aud": [args.SERVICE_ACCOUNT_ISSUER],
        "sub": f"system:serviceaccount:{namespace}:{name}",
        "iat": now - 4200,
        "nbf": now - 4200,
        "exp": now - 600,
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": "0"}},
    }
    header = {"alg": "ES256", "typ": "JWT"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input}.{_b64(signature)}"


def write_token_kubeconfig(path: Path, cluster: ClusterInfo, token: str) -> None:
    """A kubeconfig with one context, named like the cluster, using `token`; replaced
    atomically (a Secret update does the same to a mounted file)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": cluster.name,
        "clusters": [
            {
                "name": cluster.name,
                "cluster": {
                    "server": cluster.server,
                    "certificate-authority-data": base64.b64encode(
                        cluster.ca_file.read_bytes()
                    ).decode(),
                },
            }
        ],
        "users": [{"name": "token", "user": {"token": token}}],
        "contexts": [{"name": cluster.name, "context": {"cluster": cluster.name, "user": "token"}}],
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(yaml.safe_dump(config))
    temporary.replace(path)

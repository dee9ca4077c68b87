"""Client identities of their own for processes talking to a local cluster.

The admin certificate is shared by the controller manager, the scheduler, kwok and the
tests, so the audit log cannot tell them apart from an operator. `issue_user` signs a client
certificate for a new user name with the cluster's CA (the user is in `system:masters`, so
RBAC needs no change); `kubeconfig_with` writes a kubeconfig whose context for that cluster
authenticates as this user, optionally through another address (a fault-injecting proxy).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from hack.localcluster import kubeconfig, pki
from hack.localcluster.clusters import ClusterInfo


@dataclasses.dataclass(frozen=True)
class User:
    """A client certificate for `name` on one cluster."""

    name: str
    cluster: ClusterInfo
    cert: pki.CertKey

    def entry(self, server: str | None = None) -> kubeconfig.Entry:
        """This user's kubeconfig entry (context named like the cluster); `server` replaces
        the API server's address, e.g. with a proxy's."""
        return kubeconfig.Entry(
            name=self.cluster.name,
            server=server or self.cluster.server,
            ca_pem=self.cluster.ca_file.read_bytes(),
            client_cert_pem=self.cert.cert_pem,
            client_key_pem=self.cert.key_pem,
        )


def issue_user(cluster: ClusterInfo, name: str, groups: Sequence[str] = (pki.ADMIN_GROUP,)) -> User:
    """A client certificate for user `name` (in `groups`) signed by `cluster`'s CA."""
    files = pki.PKIFiles(cluster.ca_file.parent)
    ca = pki.CertKey(files.ca_cert.read_bytes(), files.ca_key.read_bytes())
    return User(name, cluster, pki.issue(ca, name, organizations=groups, client=True))


def admin_entry(cluster: ClusterInfo) -> kubeconfig.Entry:
    """The cluster's admin entry, as in the clusters' shared kubeconfig."""
    return kubeconfig.Entry(
        name=cluster.name,
        server=cluster.server,
        ca_pem=cluster.ca_file.read_bytes(),
        client_cert_pem=cluster.client_cert_file.read_bytes(),
        client_key_pem=cluster.client_key_file.read_bytes(),
    )


def kubeconfig_with(
    path: Path,
    entries: Sequence[kubeconfig.Entry],
    *,
    servers: Mapping[str, str] | None = None,
) -> Path:
    """Write a kubeconfig with one context per entry (the first is current); `servers`
    overrides the address of the named contexts. Returns `path`."""
    servers = servers or {}
    rewritten = [
        dataclasses.replace(entry, server=servers.get(entry.name, entry.server))
        for entry in entries
    ]
    kubeconfig.write(path, kubeconfig.render(rewritten))
    return path

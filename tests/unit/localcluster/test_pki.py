"""The cluster PKI: who signs what, for which names and usages, and private files."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hack.localcluster import pki


@pytest.fixture(scope="module")
def cluster_pki() -> pki.ClusterPKI:
    return pki.make_cluster_pki("member")


def usages(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_ca_is_a_ca_named_after_the_cluster(cluster_pki: pki.ClusterPKI) -> None:
    ca = cluster_pki.ca.certificate

    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "member" in ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def test_serving_cert_is_signed_by_the_ca_for_loopback_and_service_names(
    cluster_pki: pki.ClusterPKI,
) -> None:
    serving = cluster_pki.serving.certificate
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    serving.verify_directly_issued_by(cluster_pki.ca.certificate)
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address(pki.SERVICE_IP) in names.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in names.get_values_for_type(x509.DNSName)
    assert usages(serving) == {ExtendedKeyUsageOID.SERVER_AUTH}


def test_admin_is_a_client_in_system_masters(cluster_pki: pki.ClusterPKI) -> None:
    admin = cluster_pki.admin.certificate

    admin.verify_directly_issued_by(cluster_pki.ca.certificate)
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "system:masters"
    )
    assert usages(admin) == {ExtendedKeyUsageOID.CLIENT_AUTH}


def test_front_proxy_client_comes_from_its_own_ca(cluster_pki: pki.ClusterPKI) -> None:
    client = cluster_pki.front_proxy_client.certificate

    client.verify_directly_issued_by(cluster_pki.front_proxy_ca.certificate)
    with pytest.raises(ValueError, match=r"[Ii]ssuer"):
        client.verify_directly_issued_by(cluster_pki.ca.certificate)
    cn = client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == pki.FRONT_PROXY_CLIENT


def test_service_account_keys_are_a_pair(cluster_pki: pki.ClusterPKI) -> None:
    private = serialization.load_pem_private_key(cluster_pki.service_account_key_pem, None)
    public = serialization.load_pem_public_key(cluster_pki.service_account_public_pem)

    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]


def test_a_certificate_must_have_a_use(cluster_pki: pki.ClusterPKI) -> None:
    with pytest.raises(ValueError, match="server, a client, or both"):
        pki.issue(cluster_pki.ca, "nobody")


def test_written_keys_are_private(cluster_pki: pki.ClusterPKI, tmp_path: Path) -> None:
    files = pki.PKIFiles(tmp_path / "pki")

    pki.write_pki(cluster_pki, files)

    assert files.admin_cert.read_bytes() == cluster_pki.admin.cert_pem
    for key in (files.ca_key, files.admin_key, files.serving_key, files.service_account_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key

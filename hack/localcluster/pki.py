"""Certificates and keys for one local cluster, made with `cryptography` (ECDSA P-256: fast
to generate, accepted by every component for serving, client and service-account keys).

One cluster gets:
- a cluster CA that signs the API server's serving certificate and the admin client
  certificate (CN `nimbusguard-admin`, O `system:masters`, so RBAC allows everything);
- a front-proxy CA and its client certificate (CN `front-proxy-client`), with which the API
  server's aggregator calls metrics-server (the `--requestheader-*` / `--proxy-client-*` flags);
- a service-account signing key pair.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ADMIN_USER = "nimbusguard-admin"
ADMIN_GROUP = "system:masters"
FRONT_PROXY_CLIENT = "front-proxy-client"
# The first address of --service-cluster-ip-range: the `kubernetes` Service's ClusterIP.
SERVICE_IP = "10.0.0.1"
SERVING_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
SERVING_IPS = ("127.0.0.1", SERVICE_IP)
_VALIDITY = datetime.timedelta(days=365)
_CLOCK_SKEW = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class CertKey:
    """A PEM certificate and its PEM (PKCS#8, unencrypted) private key."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Signatures only; a CA also signs certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def new_ca(common_name: str, *, now: datetime.datetime | None = None) -> CertKey:
    """A self-signed CA certificate valid for a year."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = _new_key()
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertKey(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue(
    ca: CertKey,
    common_name: str,
    *,
    organizations: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
    now: datetime.datetime | None = None,
) -> CertKey:
    """A leaf certificate signed by `ca` for a server, a client, or both."""
    if not (server or client):
        raise ValueError("a certificate must be for a server, a client, or both")
    now = now or datetime.datetime.now(datetime.UTC)
    ca_cert = ca.certificate
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError("the CA key must be an ECDSA key")
    key = _new_key()
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
    usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return CertKey(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


@dataclass(frozen=True)
class ClusterPKI:
    """Everything one cluster's components need to authenticate each other."""

    ca: CertKey
    serving: CertKey
    admin: CertKey
    front_proxy_ca: CertKey
    front_proxy_client: CertKey
    service_account_key_pem: bytes
    service_account_public_pem: bytes


def make_cluster_pki(cluster_name: str) -> ClusterPKI:
    """A fresh PKI for the cluster `cluster_name` (the name goes into the CA's CN)."""
    ca = new_ca(f"nimbusguard-{cluster_name}-ca")
    front_proxy_ca = new_ca(f"nimbusguard-{cluster_name}-front-proxy-ca")
    sa_key = _new_key()
    return ClusterPKI(
        ca=ca,
        serving=issue(
            ca,
            "kube-apiserver",
            dns_names=SERVING_DNS_NAMES,
            ip_addresses=SERVING_IPS,
            server=True,
        ),
        admin=issue(ca, ADMIN_USER, organizations=(ADMIN_GROUP,), client=True),
        front_proxy_ca=front_proxy_ca,
        front_proxy_client=issue(front_proxy_ca, FRONT_PROXY_CLIENT, client=True),
        service_account_key_pem=_key_pem(sa_key),
        service_account_public_pem=sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


@dataclass(frozen=True)
class PKIFiles:
    """Where `write_pki` puts each file of a ClusterPKI (names are fixed under `directory`)."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "serving.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "serving.key"

    @property
    def admin_cert(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"

    @property
    def front_proxy_ca_cert(self) -> Path:
        return self.directory / "front-proxy-ca.crt"

    @property
    def front_proxy_client_cert(self) -> Path:
        return self.directory / "front-proxy-client.crt"

    @property
    def front_proxy_client_key(self) -> Path:
        return self.directory / "front-proxy-client.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_public(self) -> Path:
        return self.directory / "sa.pub"


def write_pki(pki: ClusterPKI, files: PKIFiles) -> None:
    """Write every file of `pki`; private keys are readable by the owner only."""
    files.directory.mkdir(parents=True, exist_ok=True)
    public = {
        files.ca_cert: pki.ca.cert_pem,
        files.serving_cert: pki.serving.cert_pem,
        files.admin_cert: pki.admin.cert_pem,
        files.front_proxy_ca_cert: pki.front_proxy_ca.cert_pem,
        files.front_proxy_client_cert: pki.front_proxy_client.cert_pem,
        files.service_account_public: pki.service_account_public_pem,
    }
    private = {
        files.ca_key: pki.ca.key_pem,
        files.serving_key: pki.serving.key_pem,
        files.admin_key: pki.admin.key_pem,
        files.front_proxy_client_key: pki.front_proxy_client.key_pem,
        files.service_account_key: pki.service_account_key_pem,
    }
    for path, data in public.items():
        path.write_bytes(data)
    for path, data in private.items():
        path.touch(mode=0o600)
        path.write_bytes(data)

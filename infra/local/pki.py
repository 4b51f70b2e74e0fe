"""The local control plane's keys and certificates, made once per state directory.

Called by the platform bootstrap before kube-apiserver starts. One CA signs the apiserver's
serving certificate and a client certificate per identity; the identities are the ones
Kubernetes' bootstrap RBAC already knows, so the control plane runs with RBAC on, as a real
cluster does. Files that exist are kept: a second `make up` reuses them.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)
SERVING_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
# Loopback, and the `kubernetes` Service's cluster IP that pods dial; `up` adds the node's
# address, where the relay to the apiserver listens inside the node's network namespace.
SERVING_IPS = ("127.0.0.1", "10.96.0.1")


@dataclass(frozen=True)
class ClientIdentity:
    """A user name and groups, carried in a client certificate's CN and O fields."""

    file_stem: str
    user: str
    groups: tuple[str, ...] = ()


ADMIN = ClientIdentity("admin", "kubesaga-admin", ("system:masters",))
CONTROLLER_MANAGER = ClientIdentity("controller-manager", "system:kube-controller-manager")
SCHEDULER = ClientIdentity("scheduler", "system:kube-scheduler")
# kwok plays every kubelet, so it needs node and pod status rights across the cluster.
KWOK = ClientIdentity("kwok", "kwok-controller", ("system:masters",))
# The real node's programs. Bootstrap RBAC binds system:kube-proxy (system:node-proxier); the
# others are bound by infra/local/node/cluster.py (kubelet-api-admin, coredns, metrics-server).
KUBE_PROXY = ClientIdentity("kube-proxy", "system:kube-proxy")
APISERVER_KUBELET_CLIENT = ClientIdentity(
    "apiserver-kubelet-client", "kube-apiserver-kubelet-client"
)
COREDNS = ClientIdentity("coredns", "kubesaga:coredns")
METRICS_SERVER = ClientIdentity("metrics-server", "kubesaga:metrics-server")
CLIENT_IDENTITIES = (
    ADMIN,
    CONTROLLER_MANAGER,
    SCHEDULER,
    KWOK,
    KUBE_PROXY,
    APISERVER_KUBELET_CLIENT,
    COREDNS,
    METRICS_SERVER,
)
# The aggregation layer: the apiserver proxies metrics.k8s.io to metrics-server as this
# identity, signed by a CA of its own so no ordinary client certificate can pose as it.
FRONT_PROXY_CLIENT = ClientIdentity("front-proxy-client", "front-proxy-client")


def node_identity(node_name: str) -> ClientIdentity:
    """The kubelet's: the Node authorizer grants system:node:<name> its own node's objects."""
    return ClientIdentity("kubelet", f"system:node:{node_name}", ("system:nodes",))


@dataclass(frozen=True)
class Pki:
    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.directory / "sa.pub"

    @property
    def front_proxy_ca_cert(self) -> Path:
        return self.directory / "front-proxy-ca.crt"

    @property
    def front_proxy_ca_key(self) -> Path:
        return self.directory / "front-proxy-ca.key"

    def serving(self, stem: str) -> tuple[Path, Path]:
        """A serving certificate and key other than the apiserver's (kubelet, metrics-server)."""
        return self.directory / f"{stem}.crt", self.directory / f"{stem}.key"

    def client_cert(self, identity: ClientIdentity) -> Path:
        return self.directory / f"{identity.file_stem}.crt"

    def client_key(self, identity: ClientIdentity) -> Path:
        return self.directory / f"{identity.file_stem}.key"


def ensure_pki(directory: Path, *, serving_ips: tuple[str, ...] = ()) -> Pki:
    """Create whatever is missing; an existing CA keeps signing, so old certs stay valid.

    The apiserver's certificate is made anew when it lacks one of the names or addresses
    (`serving_ips` adds to SERVING_IPS), e.g. after the node's address moved.
    """
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    if not pki.ca_cert.exists():
        _write_ca(pki.ca_cert, pki.ca_key, "kubesaga-local-ca")
    if not pki.front_proxy_ca_cert.exists():
        _write_ca(pki.front_proxy_ca_cert, pki.front_proxy_ca_key, "kubesaga-front-proxy-ca")
    ensure_serving_cert(
        pki,
        pki.serving_cert,
        pki.serving_key,
        common_name="kube-apiserver",
        names=SERVING_NAMES,
        ips=(*SERVING_IPS, *serving_ips),
    )
    for identity in CLIENT_IDENTITIES:
        ensure_client_cert(pki, identity)
    if not pki.client_cert(FRONT_PROXY_CLIENT).exists():
        _write_client_cert(
            pki,
            FRONT_PROXY_CLIENT,
            x509.load_pem_x509_certificate(pki.front_proxy_ca_cert.read_bytes()),
            _load_key(pki.front_proxy_ca_key),
        )
    if not pki.service_account_key.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        _write_key(pki.service_account_key, key)
        pki.service_account_public_key.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return pki


def ensure_client_cert(pki: Pki, identity: ClientIdentity) -> None:
    if not pki.client_cert(identity).exists():
        ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        _write_client_cert(pki, identity, ca_cert, _load_key(pki.ca_key))


def ensure_serving_cert(
    pki: Pki,
    cert_path: Path,
    key_path: Path,
    *,
    common_name: str,
    names: tuple[str, ...],
    ips: tuple[str, ...],
) -> None:
    """A serving certificate from the platform CA for these names; remade when one is missing."""
    wanted = {x509.DNSName(n) for n in names} | {
        x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips
    }
    if cert_path.exists():
        existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
        try:
            held = set(
                existing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            )
        except x509.ExtensionNotFound:
            held = set()
        if wanted <= held:
            return
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    _write_serving_cert(
        cert_path, key_path, common_name, sorted(wanted, key=str), ca_cert, _load_key(pki.ca_key)
    )


def _write_ca(cert_path: Path, key_path: Path, common_name: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_serving_cert(
    cert_path: Path,
    key_path: Path,
    common_name: str,
    names: list[x509.GeneralName],
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_key_usage(), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_client_cert(
    pki: Pki,
    identity: ClientIdentity,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in identity.groups]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, identity.user))
    cert = (
        _builder(x509.Name(attributes), ca_cert.subject, key.public_key())
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(_key_usage(), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pki.client_key(identity), key)
    pki.client_cert(identity).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _key_usage(*, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{path} is not an EC private key; delete the pki folder to remake it")
    return key

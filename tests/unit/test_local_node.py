"""The real node's pure parts: per-instance names, rendered configs, DNS parsing, certs."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

from cryptography import x509

from infra.local.node import configs, dns
from infra.local.node.layout import NodeLayout, instance_id
from infra.local.pki import ensure_pki, ensure_serving_cert

LAYOUT = NodeLayout(instance="abc123", octet=42)


def test_every_name_is_per_instance_and_fits_a_linux_interface_name() -> None:
    for name in (LAYOUT.host_veth, LAYOUT.node_veth, LAYOUT.bridge):
        assert "abc123" in name and len(name) <= 15
    assert LAYOUT.netns == "kubesaga-abc123" and LAYOUT.cgroup_root == "/kubesaga-abc123"
    assert instance_id(Path("/a/.local")) != instance_id(Path("/b/.local"))


def test_the_node_link_and_pods_are_private_ranges_that_do_not_overlap() -> None:
    link = ipaddress.ip_network(LAYOUT.link_cidr)
    pods = ipaddress.ip_network(LAYOUT.pod_cidr)
    assert link.is_private and pods.is_private and not link.overlaps(pods)
    assert ipaddress.ip_address(LAYOUT.node_ip) in link
    assert ipaddress.ip_address(LAYOUT.host_ip) in link


def test_the_kubelet_authenticates_and_authorizes_through_the_apiserver(tmp_path: Path) -> None:
    files = configs.NodeFiles(tmp_path)
    kubelet = configs.kubelet_config(
        files, LAYOUT, ca_cert=tmp_path / "ca.crt", serving=(tmp_path / "c", tmp_path / "k")
    )
    assert kubelet["authentication"] == {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": True, "cacheTTL": "30s"},
        "x509": {"clientCAFile": str(tmp_path / "ca.crt")},
    }
    assert kubelet["authorization"] == {"mode": "Webhook"}
    assert kubelet["cgroupRoot"] == "/kubesaga-abc123" and kubelet["failCgroupV1"] is False
    assert kubelet["clusterDNS"] == [LAYOUT.node_ip]


def test_containerd_restricts_oom_scores_and_pins_the_pause_image(tmp_path: Path) -> None:
    rendered = configs.containerd_config(configs.NodeFiles(tmp_path))
    assert "restrict_oom_score_adj = true" in rendered
    assert 'sandbox_image = "registry.k8s.io/pause:3.10"' in rendered
    assert f'address = "{tmp_path}/containerd/containerd.sock"' in rendered


def test_corefile_serves_the_cluster_domain_and_forwards_nothing(tmp_path: Path) -> None:
    corefile = configs.corefile(LAYOUT, tmp_path / "kubeconfig")
    assert f"bind {LAYOUT.node_ip}" in corefile and "kubernetes cluster.local" in corefile
    assert "forward" not in corefile


def test_a_records_are_read_through_compressed_names() -> None:
    question = dns.query(7, "kubernetes.default.svc.cluster.local")
    header = struct.pack(">HHHHHH", 7, 0x8180, 1, 1, 0, 0)
    answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + bytes([10, 96, 0, 1])
    assert dns.a_records(header + question[12:] + answer) == ["10.96.0.1"]
    refused = struct.pack(">HHHHHH", 7, 0x8183, 1, 0, 0, 0) + question[12:]
    assert dns.a_records(refused) == []


def test_the_apiserver_certificate_is_remade_when_the_node_address_moves(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, serving_ips=("10.201.1.2",))
    ensure_pki(tmp_path, serving_ips=("10.201.2.2",))
    cert = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.201.2.2") in names.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc.cluster.local" in names.get_values_for_type(x509.DNSName)

    before = pki.serving_cert.read_bytes()
    ensure_serving_cert(
        pki,
        pki.serving_cert,
        pki.serving_key,
        common_name="kube-apiserver",
        names=("localhost",),
        ips=("10.201.2.2",),
    )
    assert pki.serving_cert.read_bytes() == before, "a certificate that covers them is kept"

"""What kube-apiserver needs to serve the real node: given to it by infra/local/components.py.

It reaches the kubelet on the node's InternalIP with a client certificate of its own (the
kubelet asks the apiserver whether that identity may), proxies the aggregated metrics API
to metrics-server as the front-proxy client, and advertises the relay on the node's address
as the `kubernetes` Service's endpoint, so in-cluster clients in pods find it.
"""

from __future__ import annotations

from infra.local.node.layout import NodeLayout
from infra.local.pki import APISERVER_KUBELET_CLIENT, FRONT_PROXY_CLIENT
from infra.local.state import State


def apiserver_flags(state: State, layout: NodeLayout) -> list[str]:
    """What kube-apiserver needs to serve a real node: its kubelet, aggregated metrics API."""
    pki = state.pki
    return [
        # The `kubernetes` Service's endpoint: the relay on the node's address.
        f"--advertise-address={layout.node_ip}",
        "--endpoint-reconciler-type=lease",
        # A Node's name is never looked up in the machine's DNS.
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-client-certificate={pki.client_cert(APISERVER_KUBELET_CLIENT)}",
        f"--kubelet-client-key={pki.client_key(APISERVER_KUBELET_CLIENT)}",
        f"--kubelet-certificate-authority={pki.ca_cert}",
        "--enable-admission-plugins=NodeRestriction",
        # The aggregation layer, for metrics.k8s.io; it dials the endpoint, not the
        # Service's cluster IP, which only exists inside the node's namespace.
        f"--requestheader-client-ca-file={pki.front_proxy_ca_cert}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT.user}",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={pki.client_cert(FRONT_PROXY_CLIENT)}",
        f"--proxy-client-key-file={pki.client_key(FRONT_PROXY_CLIENT)}",
        "--enable-aggregator-routing=true",
    ]

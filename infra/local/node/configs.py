"""Every file the node's programs read, rendered per instance into `<state>/node/`.

Written on every `up`, before supervisord starts the node, from the instance's layout:
containerd's config (its own root, sockets and CNI folder; the pinned pause image;
`restrict_oom_score_adj`, since root here lacks CAP_SYS_RESOURCE), the CNI bridge, the
kubelet's and kube-proxy's configurations, CoreDNS's Corefile, and the mount namespace's
set-up script with the files it lays over the host's. JSON is valid YAML, so the kubelet and
kube-proxy read their JSON files as the YAML they expect.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from infra.local.node.layout import (
    KUBE_PROXY_HEALTHZ_PORT,
    KUBELET_PORT,
    NODE_LABEL,
    NODE_NAME,
    NodeLayout,
    node_folder,
)

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
CLUSTER_DOMAIN = "cluster.local"
# The kubelet sets these at start; in the node's mount namespace it writes to copies instead.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
# Private to the mount namespace: the runtime's sockets and state, pod network namespaces,
# CNI's IP leases, the kubelet's fixed device-plugin folder, and pod logs.
TMPFS_FOLDERS = ("/run/containerd", "/run/netns", "/var/lib/cni", "/var/lib/kubelet", "/var/log")


@dataclass(frozen=True)
class NodeFiles:
    """Where the node's files and sockets live in the state folder."""

    root: Path

    @classmethod
    def of(cls, state_root: Path) -> NodeFiles:
        return cls(node_folder(state_root))

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd" / "config.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def cni_folder(self) -> Path:
        return self.root / "cni"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet" / "config.json"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet" / "root"

    @property
    def pod_resolv_conf(self) -> Path:
        return self.root / "kubelet" / "resolv.conf"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy" / "config.json"

    @property
    def corefile(self) -> Path:
        return self.root / "coredns" / "Corefile"

    @property
    def mounts(self) -> Path:
        return self.root / "mounts"

    @property
    def holder_script(self) -> Path:
        return self.mounts / "holder.sh"

    @property
    def holder_pid(self) -> Path:
        return self.mounts / "holder.pid"

    @property
    def apiserver_socket(self) -> Path:
        return self.root / "apiserver.sock"


def write_all(
    files: NodeFiles,
    layout: NodeLayout,
    *,
    ca_cert: Path,
    kubelet_serving: tuple[Path, Path],
    kubeconfigs: dict[str, Path],
) -> None:
    _write(files.containerd_config, containerd_config(files))
    _write(files.cni_folder / "10-kubesaga.conflist", json.dumps(cni_config(layout), indent=2))
    _write(files.pod_resolv_conf, f"nameserver {layout.node_ip}\n")
    _write(
        files.kubelet_config,
        json.dumps(
            kubelet_config(files, layout, ca_cert=ca_cert, serving=kubelet_serving), indent=2
        ),
    )
    _write(
        files.kube_proxy_config,
        json.dumps(kube_proxy_config(layout, kubeconfigs["kube-proxy"]), indent=2),
    )
    _write(files.corefile, corefile(layout, kubeconfigs["coredns"]))
    _write_mount_files(files)


def containerd_config(files: NodeFiles) -> str:
    """containerd 1.6 (config version 2); its state is on the mount namespace's tmpfs."""
    containerd = files.containerd_socket.parent
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""\
# Written by infra/local/node/configs.py on every `make up`.
version = 2
root = "{containerd / "root"}"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "{files.containerd_socket}"

[ttrpc]
  address = "{files.containerd_socket}.ttrpc"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "/usr/sbin/runc"

[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{files.cni_folder}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{containerd / "opt"}"
"""


def cni_config(layout: NodeLayout) -> dict[str, object]:
    return {
        "cniVersion": "0.4.0",
        "name": "kubesaga",
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": layout.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": "/var/lib/cni/networks",
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(
    files: NodeFiles, layout: NodeLayout, *, ca_cert: Path, serving: tuple[Path, Path]
) -> dict[str, object]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # cgroup v1 on this host; every pod goes under the instance's own cgroup root.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": layout.cgroup_root,
        "cgroupsPerQOS": True,
        "containerRuntimeEndpoint": f"unix://{files.containerd_socket}",
        "address": layout.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "tlsCertFile": str(serving[0]),
        "tlsPrivateKeyFile": str(serving[1]),
        # The apiserver and metrics-server present platform-CA client certificates; what
        # they may do is asked of the apiserver (SubjectAccessReview).
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True, "cacheTTL": "30s"},
            "x509": {"clientCAFile": str(ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "failSwapOn": False,
        "protectKernelDefaults": False,
        "podLogsDir": "/var/log/pods",
        "volumePluginDir": str(files.root / "kubelet" / "volume-plugins"),
        # The disk is shared with the whole machine: evict only when it is nearly full, and
        # keep images (they are imported, never pulled) unless the disk is.
        "evictionHard": {
            "memory.available": "200Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "imageGCHighThresholdPercent": 99,
        "imageGCLowThresholdPercent": 98,
        "maxPods": 30,
        "serializeImagePulls": False,
        "containerLogMaxSize": "5Mi",
        "containerLogMaxFiles": 2,
        "clusterDNS": [layout.node_ip],
        "clusterDomain": CLUSTER_DOMAIN,
        # Even `dnsPolicy: Default` pods ask CoreDNS, never the machine's resolver.
        "resolvConf": str(files.pod_resolv_conf),
    }


def kubelet_flags(files: NodeFiles, layout: NodeLayout, kubeconfig: Path) -> list[str]:
    return [
        f"--config={files.kubelet_config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={files.kubelet_root}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={layout.node_ip}",
        f"--node-labels={NODE_LABEL}",
        "--v=1",
    ]


def kube_proxy_config(layout: NodeLayout, kubeconfig: Path) -> dict[str, object]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "hostnameOverride": NODE_NAME,
        "bindAddress": layout.node_ip,
        "clusterCIDR": layout.pod_cidr,
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": f"{layout.node_ip}:{KUBE_PROXY_HEALTHZ_PORT}",
        # Without br_netfilter a pod reaching itself through its Service gets the reply
        # from the bridge unNATed; masquerading every Service connection avoids that.
        "iptables": {"masqueradeAll": True, "minSyncPeriod": "1s"},
        # Zeros leave the conntrack sysctls alone (they are global, not per namespace).
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
            "udpTimeout": "0s",
            "udpStreamTimeout": "0s",
        },
    }


def corefile(layout: NodeLayout, kubeconfig: Path) -> str:
    """Cluster names only: no `forward`, so no lookup leaves the machine."""
    return f"""\
# Written by infra/local/node/configs.py on every `make up`.
.:53 {{
    bind {layout.node_ip}
    errors
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    cache 30
}}
"""


def _write_mount_files(files: NodeFiles) -> None:
    """The holder script, and the files it lays over /etc/resolv.conf and the sysctls."""
    shadows = files.mounts / "sysctl"
    shadows.mkdir(parents=True, exist_ok=True)
    binds = []
    for name in KUBELET_SYSCTLS:
        target = Path("/proc/sys") / name
        copy = shadows / name.replace("/", ".")
        copy.write_text(target.read_text())
        binds.append((copy, target))
    # The node's programs resolve nothing outside the cluster: a resolver on the
    # namespace's own loopback, where nothing listens, fails at once.
    resolv = files.mounts / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    binds.append((resolv, Path("/etc/resolv.conf")))
    lines = [
        "#!/bin/sh",
        "# Written by infra/local/node/configs.py on every `make up`. Runs in the node's new",
        "# mount namespace (private propagation): nothing mounted here reaches the host, and",
        "# it all goes when the namespace's last process exits. Then it holds the namespace.",
        "set -eu",
    ]
    for folder in TMPFS_FOLDERS:
        quoted = shlex.quote(folder)
        lines.append(f"mkdir -p {quoted} && mount -t tmpfs -o mode=0755 kubesaga-node {quoted}")
    for source, target in binds:
        lines.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(str(target))}")
    lines += [f"echo $$ > {shlex.quote(str(files.holder_pid))}", "exec sleep infinity", ""]
    _write(files.holder_script, "\n".join(lines))


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)

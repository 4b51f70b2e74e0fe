"""The platform's one real worker node: containerd + runc + CNI bridge, kubelet, kube-proxy,
CoreDNS and metrics-server, in a network and a mount namespace of the instance's own.

`layout` names and addresses everything per state folder, `network` and `cgroups` make and
remove the host-side pieces, `configs` renders every file the node's programs read,
`components` lists its supervisord programs, `cluster` the API objects it needs, `images`
packs and imports OCI images, `probes` says when each part is ready, `teardown` undoes it all.
"""

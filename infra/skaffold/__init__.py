"""skaffold on the local platform, which has no Docker engine and no registry.

skaffold's `local` profile builds with a custom command, ``python -m infra.skaffold build``
(:mod:`infra.skaffold.build`): the builder `make images` uses, tagged with skaffold's
``$IMAGE`` and imported into the node's containerd. After a custom build that was not pushed,
skaffold asks a Docker Engine API for the image's ID and tags it ``<repo>:<id>`` (the
reference it deploys); :mod:`infra.skaffold.docker_api` answers those few calls from the
buildah store. :mod:`infra.skaffold.session` runs skaffold with that API, the platform's
kubeconfig and tools, and its own config, home and cache inside the state folder (no
metrics, no update check): ``python -m infra.local skaffold -- dev -p local``.
"""

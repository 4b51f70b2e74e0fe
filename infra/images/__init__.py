"""Container images built without a Docker engine: mmdebstrap for the base, buildah for layers.

`make images` (``python -m infra.images build``) builds every Containerfile under ``images/``
with the repo as context, into a buildah store of its own under the tool cache, and writes
one OCI archive per image into the state folder for the node to import.
"""

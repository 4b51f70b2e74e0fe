"""The local control plane is a real one: CRDs, custom objects, RBAC, scheduling, kwok nodes."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from infra.local.endpoints import Endpoints
from infra.local.kubectl import kubectl
from tests.support import eventually


@pytest.fixture
async def namespace(kube: client.ApiClient) -> AsyncIterator[str]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    await core.delete_namespace(name)


@pytest.fixture
async def widget_crd(kube: client.ApiClient) -> AsyncIterator[dict[str, str]]:
    """A throwaway CRD in a group of its own, so runs never collide."""
    group = f"t{uuid.uuid4().hex[:8]}.smoke.kubesaga.io"
    size = client.V1JSONSchemaProps(type="integer", minimum=1)
    spec = client.V1JSONSchemaProps(type="object", required=["size"], properties={"size": size})
    body = client.V1CustomResourceDefinition(
        metadata=client.V1ObjectMeta(name=f"widgets.{group}"),
        spec=client.V1CustomResourceDefinitionSpec(
            group=group,
            scope="Namespaced",
            names=client.V1CustomResourceDefinitionNames(
                plural="widgets", singular="widget", kind="Widget"
            ),
            versions=[
                client.V1CustomResourceDefinitionVersion(
                    name="v1",
                    served=True,
                    storage=True,
                    schema=client.V1CustomResourceValidation(
                        open_apiv3_schema=client.V1JSONSchemaProps(
                            type="object", properties={"spec": spec}
                        )
                    ),
                )
            ],
        ),
    )
    extensions = client.ApiextensionsV1Api(kube)
    await extensions.create_custom_resource_definition(body)

    async def established() -> bool | None:
        crd = await extensions.read_custom_resource_definition(f"widgets.{group}")
        conditions = crd.status.conditions or []
        return (
            True
            if any(c.type == "Established" and c.status == "True" for c in conditions)
            else None
        )

    await eventually(established, what=f"CRD widgets.{group} Established")
    yield {"group": group, "plural": "widgets"}
    await extensions.delete_custom_resource_definition(f"widgets.{group}")


def widget(group: str, name: str, *, size: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size},
    }


async def test_custom_object_round_trips_through_the_api_and_kubectl(
    kube: client.ApiClient, widget_crd: dict[str, str], platform: Endpoints
) -> None:
    objects = client.CustomObjectsApi(kube)
    group = widget_crd["group"]
    await objects.create_namespaced_custom_object(
        group, "v1", "default", "widgets", widget(group, "w1", size=3)
    )

    read = await objects.get_namespaced_custom_object(group, "v1", "default", "widgets", "w1")
    assert read["spec"] == {"size": 3}
    assert read["metadata"]["uid"]

    listed = json.loads(
        kubectl(platform.kubeconfig, "get", f"widgets.{group}", "-n", "default", "-o", "json")
    )
    assert [item["metadata"]["name"] for item in listed["items"]] == ["w1"]
    assert listed["items"][0]["metadata"]["uid"] == read["metadata"]["uid"]


async def test_the_api_server_enforces_the_crd_schema(
    kube: client.ApiClient, widget_crd: dict[str, str]
) -> None:
    group = widget_crd["group"]
    with pytest.raises(ApiException) as refused:
        await client.CustomObjectsApi(kube).create_namespaced_custom_object(
            group, "v1", "default", "widgets", widget(group, "bad", size=0)
        )
    assert refused.value.status == 422
    body = refused.value.body  # typed as bytes, but kubernetes_asyncio hands back str
    message = body.decode() if isinstance(body, bytes) else str(body)
    assert "spec.size" in message


async def test_a_deployment_gets_a_ready_pod_on_a_kwok_node(
    kube: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(kube), client.CoreV1Api(kube)
    labels = {"app": "smoke"}
    container = client.V1Container(name="app", image="example/smoke:1")
    await apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="smoke"),
            spec=client.V1DeploymentSpec(
                replicas=1,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    # kwok's nodes are tainted so that real workloads go to the real node.
                    spec=client.V1PodSpec(
                        containers=[container],
                        node_selector={"type": "kwok"},
                        tolerations=[
                            client.V1Toleration(
                                key="kwok.x-k8s.io/node", value="fake", effect="NoSchedule"
                            )
                        ],
                    ),
                ),
            ),
        ),
    )

    async def ready_replicas() -> int | None:
        deployment = await apps.read_namespaced_deployment_status("smoke", namespace)
        ready = deployment.status.ready_replicas
        return ready if ready == 1 else None

    await eventually(ready_replicas, what="the Deployment's pod Ready")
    pods = await core.list_namespaced_pod(namespace, label_selector="app=smoke")
    assert len(pods.items) == 1
    pod = pods.items[0]
    assert pod.status.phase == "Running"
    node = await core.read_node(pod.spec.node_name)
    assert node.metadata.annotations.get("kwok.x-k8s.io/node") == "fake"


async def test_rbac_is_enforced_for_an_unprivileged_identity(
    kube: client.ApiClient, namespace: str
) -> None:
    """The API server runs with RBAC on: a fresh service account may not list secrets."""
    review = await client.AuthorizationV1Api(kube).create_subject_access_review(
        client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=f"system:serviceaccount:{namespace}:default",
                resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace, verb="list", resource="secrets"
                ),
            )
        )
    )
    assert review.status.allowed is False


async def test_kubectl_shows_every_fake_node_ready(platform: Endpoints) -> None:
    nodes = json.loads(
        kubectl(platform.kubeconfig, "get", "nodes", "-l", "type=kwok", "-o", "json")
    )["items"]
    assert nodes, "no kwok nodes registered"
    for node in nodes:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", node["metadata"]["name"]

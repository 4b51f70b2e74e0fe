"""The operator's two edges: the services' internal HTTP APIs, and Order resources.

``Services`` posts the saga's commands with the service token and the order's correlation id
(httpx is instrumented, so each call carries the step span's traceparent). ``Orders`` reads,
creates, patches and deletes Order resources through kubernetes_asyncio; kopf itself only
watches. Nothing here decides anything: ``steps`` reads the answers, the machine decides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from operators.saga.settings import SagaSettings

GROUP, VERSION, PLURAL = "kubesaga.io", "v1alpha1", "orders"
CORRELATION_HEADER = "X-Correlation-ID"


class ServiceUnreachable(Exception):
    """No HTTP answer at all (connection refused, timeout): always worth retrying."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def problem(self) -> str:
        """The problem+json detail (or title) for messages, else the status code."""
        detail = self.body.get("detail") or self.body.get("title")
        return f"HTTP {self.status}: {detail}" if detail else f"HTTP {self.status}"


class Services:
    def __init__(self, settings: SagaSettings) -> None:
        self._urls = settings.services
        self._http = httpx.AsyncClient(
            timeout=settings.retry.request_timeout.total_seconds(),
            headers={"Authorization": f"Bearer {settings.service_token.get_secret_value()}"},
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def post(
        self,
        service: str,
        path: str,
        payload: dict[str, Any] | None,
        *,
        correlation_id: str | None,
    ) -> Answer:
        base = getattr(self._urls, service)
        headers = {CORRELATION_HEADER: correlation_id} if correlation_id else {}
        try:
            response = await self._http.post(base + path, json=payload, headers=headers)
        except httpx.TransportError as e:
            raise ServiceUnreachable(f"{service} {path}: {type(e).__name__}: {e}") from e
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = {}
        return Answer(response.status_code, body if isinstance(body, dict) else {})

    async def close(self) -> None:
        await self._http.aclose()


class Orders:
    """Order resources in one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self._custom = client.CustomObjectsApi(api)
        self.namespace = namespace

    @classmethod
    async def connect(cls, namespace: str) -> tuple[Orders, client.ApiClient]:
        """In a pod, the service account; elsewhere, $KUBECONFIG."""
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            await config.load_kube_config(client_configuration=configuration)
        api = client.ApiClient(configuration)
        return cls(api, namespace), api

    async def create(self, body: dict[str, Any]) -> bool:
        """Create the Order; False if it exists already (a redelivered order.created)."""
        try:
            await self._custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, body
            )
        except ApiException as e:
            if e.status == 409:
                return False
            raise
        return True

    async def get(self, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self._custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return found

    async def patch_status(self, name: str, status: dict[str, Any]) -> bool:
        """Merge ``status`` into the Order's status; False if the Order is gone."""
        try:
            # CRDs take no strategic merge patch, the client's default for a dict body.
            await self._custom.patch_namespaced_custom_object_status(  # type: ignore[call-arg]
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                name,
                {"status": status},
                _content_type="application/merge-patch+json",
            )
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return True

    async def delete(self, name: str) -> None:
        try:
            await self._custom.delete_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as e:
            if e.status != 404:
                raise


class Peerings:
    """kopf's KopfPeering objects in one namespace: the record of which replicas are alive."""

    GROUP, VERSION, PLURAL = "kopf.dev", "v1", "kopfpeerings"

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self._custom = client.CustomObjectsApi(api)
        self.namespace = namespace

    async def ensure(self, name: str) -> None:
        """kopf keeps peers in a KopfPeering object but does not create it: create it once."""
        body = {
            "apiVersion": f"{self.GROUP}/{self.VERSION}",
            "kind": "KopfPeering",
            "metadata": {"name": name, "namespace": self.namespace},
        }
        try:
            await self._custom.create_namespaced_custom_object(
                self.GROUP, self.VERSION, self.namespace, self.PLURAL, body
            )
        except ApiException as e:
            if e.status != 409:
                raise

    async def records(self, name: str) -> dict[str, Any] | None:
        """The peering's status: identity -> {priority, lastseen, lifetime}; None if absent."""
        try:
            found: dict[str, Any] = await self._custom.get_namespaced_custom_object(
                self.GROUP, self.VERSION, self.namespace, self.PLURAL, name
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        status = found.get("status")
        return status if isinstance(status, dict) else {}

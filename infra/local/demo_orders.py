"""The demo's six orders, shared by both ways of running it: placing them and watching them.

Three complete, one is out of stock, one card is declined, and one waits for 3-D Secure until
its payment deadline passes (the stack runs with a short one), so `kubectl get orders` shows
every way a saga ends.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx

from infra.local.kubectl import kubectl

ORDERS = [
    ("completes", "SKU-1", 2, "pm_card_visa"),
    ("completes", "SKU-5", 3, "pm_card_mastercard"),
    ("completes", "SKU-7", 1, "pm_card_visa"),
    ("out of stock", "SKU-10", 1, "pm_card_visa"),
    ("card declined", "SKU-2", 1, "pm_card_chargeDeclined"),
    ("times out (3-D Secure)", "SKU-3", 1, "pm_card_authenticationRequired"),
]


def place_orders(base_url: str) -> dict[str, str]:
    """POST the six orders; order id -> what it is meant to show."""
    placed: dict[str, str] = {}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for story, sku, quantity, card in ORDERS:
            response = http.post(
                "/orders",
                json={
                    "customerId": f"c-demo-{len(placed) + 1}",
                    "items": [{"sku": sku, "quantity": quantity}],
                    "currency": "EUR",
                    "paymentMethod": card,
                },
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            if response.status_code != 201:
                print(f"  {story}: POST /orders answered {response.status_code} {response.text}")
                continue
            order_id = response.json()["orderId"]
            placed[order_id] = story
            print(f"  {order_id}  {sku} x{quantity} with {card}: {story}")
    return placed


def watch(kubeconfig: str, namespace: str, placed: dict[str, str], deadline_seconds: float) -> None:
    """`kubectl get orders` every few seconds until the placed orders settle, then a summary."""
    deadline = time.monotonic() + deadline_seconds + 60
    while True:
        table = kubectl(kubeconfig, "get", "orders", "-n", namespace)
        rows = [line for line in table.splitlines()[1:] if line.split()[0] in placed]
        done = [r for r in rows if any(p in r.split() for p in ("Completed", "Cancelled"))]
        print(f"\n$ kubectl get orders -n {namespace}   ({len(done)}/{len(placed)} settled)")
        print(table.splitlines()[0])
        print("\n".join(rows))
        if len(done) == len(placed) or time.monotonic() > deadline:
            break
        time.sleep(5)
    print("\nSUMMARY")
    listed = json.loads(kubectl(kubeconfig, "get", "orders", "-n", namespace, "-o", "json"))
    for order in listed["items"]:
        story = placed.get(order["metadata"]["name"])
        if story is not None:
            status = order.get("status", {})
            print(f"  {story:<24} {status.get('phase', ''):<10} {status.get('reason', '')}")

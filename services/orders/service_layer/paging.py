"""Opaque keyset cursors for ``GET /orders``: a place in the newest-first listing.

A cursor is the (created_at, id) of the last order of a page, base64url-encoded JSON, so
paging stays stable while orders are added (no offsets) and clients cannot depend on its
shape. ``list_orders`` encodes the next one and decodes the one it is given.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from services.orders.domain import errors

Position = tuple[datetime, uuid.UUID]


class InvalidCursor(errors.OrdersError):
    def __init__(self) -> None:
        super().__init__("the cursor is not one this service issued")


def encode(position: Position) -> str:
    created_at, order_id = position
    raw = json.dumps([created_at.isoformat(), str(order_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, order_id = json.loads(raw)
        position = (datetime.fromisoformat(created_at), uuid.UUID(order_id))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as e:
        raise InvalidCursor from e
    if position[0].tzinfo is None:
        raise InvalidCursor
    return position

"""Idempotency keys in Redis: a retried request gets the first answer instead of a second effect.

Orders' ``POST /orders`` requires an ``Idempotency-Key``; the HTTP wrapper in
``services.runtime.idempotency_http`` drives this store around the route. ``begin`` claims
the key with a short in-flight lock (``lock_ttl``) or says why not: the request was answered
already (``Replay``), the key came with a different request (``Mismatch``), or the first
request is still running (``InFlight``). ``complete`` stores the final answer for ``ttl``
(2xx and 4xx alike: a 4xx is that request's answer too); ``abandon`` drops the lock after a
5xx or a crash so a retry may run, and a crashed process's lock simply expires.

One Redis string per key holds a small JSON record, so every transition is a single atomic
command or Lua script and concurrent replicas agree on who runs the request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

MAX_KEY_LENGTH = 255
_KEY_PATTERN = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}")


def valid_key(key: str) -> bool:
    """Keys are 1 to 255 printable ASCII characters (spaces allowed, as in Stripe's)."""
    return _KEY_PATTERN.fullmatch(key) is not None


def fingerprint(method: str, path: str, body: bytes) -> str:
    """sha256 over the method, the path and the body, JSON bodies in canonical form.

    Canonical means sorted keys and no insignificant whitespace, so a client that re-encodes
    the same document differently still matches; a body that is not JSON is hashed as is.
    """
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no ambiguous joins
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    """The first answer, replayed byte for byte (headers as sent, minus framing ones)."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Started:
    """This request holds the key: run it, then ``complete`` or ``abandon`` with ``token``."""

    token: str


@dataclass(frozen=True)
class Replay:
    response: StoredResponse


@dataclass(frozen=True)
class Mismatch:
    """The key was used with a different method, path or body."""


@dataclass(frozen=True)
class InFlight:
    """The same request is still being processed; ``retry_after`` is the lock's rest (s)."""

    retry_after: float


Outcome = Started | Replay | Mismatch | InFlight

# KEYS: record. ARGV: fingerprint, done record (JSON), ttl_ms.
# Stores the answer unless another request's answer or lock is there: 1 stored, 0 not.
_COMPLETE = """
local raw = redis.call('GET', KEYS[1])
if raw then
  local record = cjson.decode(raw)
  if record.state ~= 'in_flight' or record.fingerprint ~= ARGV[1] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS: record. ARGV: token ('' for any). Drops an in-flight lock, never a stored answer.
_ABANDON = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.state ~= 'in_flight' or (ARGV[1] ~= '' and record.token ~= ARGV[1]) then return 0 end
return redis.call('DEL', KEYS[1])
"""


class IdempotencyStore:
    """Idempotency records of one API under ``<namespace>:idempotency:<key>``."""

    def __init__(
        self,
        redis: Redis,
        *,
        namespace: str,
        ttl: timedelta = timedelta(hours=24),
        lock_ttl: timedelta = timedelta(seconds=30),
    ) -> None:
        if ttl <= timedelta(0) or lock_ttl <= timedelta(0):
            raise ValueError("ttl and lock_ttl must be positive")
        self._redis = redis
        self._prefix = f"{namespace}:idempotency:"
        self._ttl_ms = _ms(ttl)
        self._lock_ttl_ms = _ms(lock_ttl)
        self._complete = redis.register_script(_COMPLETE)
        self._abandon = redis.register_script(_ABANDON)

    async def begin(self, key: str, fingerprint: str) -> Outcome:
        """Claim ``key`` for the request with ``fingerprint``, or say why it may not run."""
        token = secrets.token_hex(16)
        lock = json.dumps({"state": "in_flight", "fingerprint": fingerprint, "token": token})
        # SET NX GET (Redis >= 7): claims the key, or returns what holds it, in one step.
        raw = await self._redis.set(self._key(key), lock, nx=True, px=self._lock_ttl_ms, get=True)
        if raw is None:
            return Started(token)
        if isinstance(raw, bool):  # typed for SET without GET; cannot happen here
            raise AssertionError("SET ... GET answered a flag")
        record: dict[str, Any] = json.loads(raw)
        if record["fingerprint"] != fingerprint:
            return Mismatch()
        if record["state"] == "in_flight":
            remaining_ms = await self._redis.pttl(self._key(key))  # -2 if it just expired
            return InFlight(retry_after=max(remaining_ms, 1) / 1000)
        return Replay(
            StoredResponse(
                status=int(record["status"]),
                body=base64.b64decode(record["body"]),
                headers=dict(record["headers"]),
            )
        )

    async def complete(self, key: str, fingerprint: str, response: StoredResponse) -> bool:
        """Store the final answer for ``ttl``; False if another request's record is there.

        That happens only if this request outlived its lock and a retry took the key, or
        answered first: the first stored answer stays the one replayed.
        """
        record = json.dumps(
            {
                "state": "done",
                "fingerprint": fingerprint,
                "status": response.status,
                "headers": dict(response.headers),
                "body": base64.b64encode(response.body).decode(),
            }
        )
        stored = await self._complete(
            keys=[self._key(key)], args=[fingerprint, record, self._ttl_ms]
        )
        return bool(stored)

    async def abandon(self, key: str, *, token: str | None = None) -> bool:
        """Release the in-flight lock (after a 5xx or an exception) so a retry can run.

        With ``token`` (from ``Started``) only that request's own lock is released, not one a
        retry took after this request's lock expired. A stored answer is never removed.
        """
        removed = await self._abandon(keys=[self._key(key)], args=[token or ""])
        return bool(removed)

    def _key(self, key: str) -> str:
        return self._prefix + key


def _ms(delta: timedelta) -> int:
    return max(round(delta.total_seconds() * 1000), 1)

"""A circuit breaker whose state lives in Redis, so it opens for every replica at once.

Payments wraps its Stripe calls in one: when the provider keeps failing, every replica stops
calling it for ``reset_timeout`` and answers 503 at once, instead of each replica learning
the outage alone and holding requests open until they time out.

Semantics. Closed: calls go through; outcomes are counted in a rolling window (``window``,
in ten buckets). The breaker opens when the window holds at least ``failure_threshold``
failures and they are at least ``failure_rate`` of its calls (``failure_rate=0`` makes it a
plain count). Open: calls fail with ``CircuitOpenError`` without being made. After
``reset_timeout`` it is half-open: exactly one caller, on any replica, wins the trial (a
``SET NX`` token living ``trial_timeout``) and its outcome closes or reopens the breaker;
the others are rejected meanwhile. Each step is one Lua script on Redis' own clock, so
replicas agree without trusting each other's clocks.

Which errors count: ``is_failure`` (transient ones by default). Any other exception (a
declined card) means the dependency answered, so it counts as a success and propagates.
If Redis itself is down or slow (``redis_timeout``), the breaker fails open: the call goes
through, a warning is logged at most every 30 s, and ``circuit_breaker_store_errors`` counts.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.runtime.resilience import is_transient

logger = logging.getLogger(__name__)

CIRCUIT_STATE = Gauge(
    "circuit_breaker_state",
    "Circuit breaker state as last seen by this replica: 0 closed, 1 half-open, 2 open.",
    ["name"],
)
CIRCUIT_REJECTED = Counter(
    "circuit_breaker_rejected", "Calls refused because the circuit was open.", ["name"]
)
CIRCUIT_STORE_ERRORS = Counter(
    "circuit_breaker_store_errors",
    "Redis errors or timeouts met by a circuit breaker (it let the call through).",
    ["name"],
)

T = TypeVar("T")
_BUCKETS = 10
_IDLE_EXPIRY_MS = 24 * 3600 * 1000  # an open state nobody asks about is forgotten after a day
_WARN_EVERY = 30.0


class BreakerState(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitOpenError(Exception):
    """The call was not made: the dependency ``name`` is considered down.

    ``retry_after`` is in seconds (at least 1 ms): when the breaker lets a trial through.
    Not a ``TransientError``, so a retry loop around the breaker stops at once.
    """

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"circuit {name!r} is open; retry in {retry_after:.3f}s")
        self.name = name
        self.retry_after = retry_after


# KEYS: state, trial. ARGV: token, trial_ttl_ms.
# Returns {decision, wait_ms}: 0 closed (go), 1 trial (go), 2 open, 3 half-open, trial taken.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local opened_until = tonumber(redis.call('HGET', KEYS[1], 'until'))
if not opened_until then return {0, 0} end
if now < opened_until then return {2, opened_until - now} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, 0} end
return {3, math.max(redis.call('PTTL', KEYS[2]), 1)}
"""

# KEYS: state, trial, calls, failures. ARGV: outcome (success|failure|cancelled),
# trial (1|0), token, bucket_ms, threshold, rate, reset_ms, idle_ms.
# Returns {state, wait_ms} afterwards: 0 closed, 1 half-open, 2 open for wait_ms more.
_RECORD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local buckets = BUCKETS
local reset_ms = tonumber(ARGV[7])
local function open()
  redis.call('HSET', KEYS[1], 'until', now + reset_ms)
  redis.call('PEXPIRE', KEYS[1], reset_ms + tonumber(ARGV[8]))
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  return {2, reset_ms}
end
local opened_until = tonumber(redis.call('HGET', KEYS[1], 'until'))
local function current()
  if not opened_until then return {0, 0} end
  if now < opened_until then return {2, opened_until - now} end
  return {1, 0}
end
if ARGV[2] == '1' and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
end
if ARGV[1] == 'cancelled' then return current() end
if opened_until then
  -- A trial decides; a call admitted before the breaker opened is too late to count.
  if ARGV[2] ~= '1' then return current() end
  if ARGV[1] == 'failure' then return open() end
  redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
  return {0, 0}
end
local bucket = math.floor(now / tonumber(ARGV[4]))
local ttl = tonumber(ARGV[4]) * (buckets + 1)
local function add(key)
  redis.call('HINCRBY', key, bucket, 1)
  redis.call('PEXPIRE', key, ttl)
end
local function total(key)
  local sum = 0
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    if tonumber(fields[i]) <= bucket - buckets then
      redis.call('HDEL', key, fields[i])
    else
      sum = sum + tonumber(fields[i + 1])
    end
  end
  return sum
end
add(KEYS[3])
if ARGV[1] ~= 'failure' then
  if redis.call('HLEN', KEYS[3]) > 2 * buckets then total(KEYS[3]) end
  return {0, 0}
end
add(KEYS[4])
local failures = total(KEYS[4])
if failures >= tonumber(ARGV[5]) and failures >= tonumber(ARGV[6]) * total(KEYS[3]) then
  return open()
end
return {0, 0}
""".replace("BUCKETS", str(_BUCKETS))


class CircuitBreaker:
    """One dependency's breaker; instances with the same ``namespace`` and ``name`` share it.

    Build one per dependency at start-up and keep it; ``call`` is safe from many tasks.
    """

    def __init__(
        self,
        redis: Redis,
        name: str,
        *,
        namespace: str = "kubesaga",
        failure_threshold: int = 5,
        failure_rate: float = 0.5,
        window: timedelta = timedelta(seconds=30),
        reset_timeout: timedelta = timedelta(seconds=30),
        trial_timeout: timedelta = timedelta(seconds=15),
        is_failure: Callable[[BaseException], bool] = is_transient,
        redis_timeout: timedelta = timedelta(milliseconds=250),
    ) -> None:
        if failure_threshold < 1 or not 0.0 <= failure_rate <= 1.0:
            raise ValueError("need failure_threshold >= 1 and 0 <= failure_rate <= 1")
        if min(window, reset_timeout, trial_timeout, redis_timeout) <= timedelta(0):
            raise ValueError("window, reset_timeout, trial_timeout and redis_timeout must be > 0")
        self.name = name
        base = f"{namespace}:breaker:{{{name}}}"  # one hash slot, should Redis be a cluster
        self._keys = [f"{base}:state", f"{base}:trial", f"{base}:calls", f"{base}:failures"]
        self._bucket_ms = max(_ms(window) // _BUCKETS, 1)
        self._threshold = failure_threshold
        self._rate = failure_rate
        self._reset_ms = _ms(reset_timeout)
        self._trial_ms = _ms(trial_timeout)
        self._is_failure = is_failure
        self._redis_timeout = redis_timeout.total_seconds()
        self._redis = redis
        self._acquire = redis.register_script(_ACQUIRE)
        self._record = redis.register_script(_RECORD)
        self._open_until = 0.0  # monotonic; while in the future we know it is open, skip Redis
        self._warned_at = -_WARN_EVERY
        CIRCUIT_STATE.labels(name=name).set(BreakerState.CLOSED)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Await ``fn()`` unless the circuit is open; record how it went.

        Raises ``CircuitOpenError`` without calling ``fn`` when open (or half-open with the
        trial taken by another caller); otherwise returns or raises what ``fn`` does.
        """
        token = secrets.token_hex(8)
        trial = await self._admit(token)
        try:
            result = await fn()
        except asyncio.CancelledError:
            if trial:  # give the trial back now rather than after trial_timeout
                await self._report("cancelled", trial=True, token=token)
            raise
        except Exception as e:
            failed = self._is_failure(e)
            await self._report("failure" if failed else "success", trial=trial, token=token)
            raise
        await self._report("success", trial=trial, token=token)
        return result

    async def state(self) -> BreakerState:
        """The shared state now (for readiness checks and tests); CLOSED if Redis is down."""
        try:
            async with asyncio.timeout(self._redis_timeout):
                raw = await self._redis.hget(self._keys[0], "until")
                if raw is None:
                    return BreakerState.CLOSED
                seconds, micros = await self._redis.time()
        except (RedisError, OSError, TimeoutError) as e:
            self._store_failed(e)
            return BreakerState.CLOSED
        now_ms = seconds * 1000 + micros // 1000
        return BreakerState.OPEN if now_ms < int(raw) else BreakerState.HALF_OPEN

    async def _admit(self, token: str) -> bool:
        """Whether this call is the half-open trial; raises ``CircuitOpenError`` to refuse it."""
        remaining = self._open_until - time.monotonic()
        if remaining > 0:
            self._reject(BreakerState.OPEN, remaining)
        reply = await self._run(self._acquire, keys=self._keys[:2], args=[token, self._trial_ms])
        if reply is None:
            return False  # Redis is unavailable: fail open
        decision, wait_ms = int(reply[0]), int(reply[1])
        if decision == 0:
            CIRCUIT_STATE.labels(name=self.name).set(BreakerState.CLOSED)
            return False
        if decision == 1:
            CIRCUIT_STATE.labels(name=self.name).set(BreakerState.HALF_OPEN)
            return True
        if decision == 2:
            self._open_until = time.monotonic() + wait_ms / 1000
            self._reject(BreakerState.OPEN, wait_ms / 1000)
        self._reject(BreakerState.HALF_OPEN, wait_ms / 1000)

    def _reject(self, state: BreakerState, retry_after: float) -> NoReturn:
        CIRCUIT_STATE.labels(name=self.name).set(state)
        CIRCUIT_REJECTED.labels(name=self.name).inc()
        raise CircuitOpenError(self.name, max(retry_after, 0.001))

    async def _report(self, outcome: str, *, trial: bool, token: str) -> None:
        args = [
            outcome,
            "1" if trial else "0",
            token,
            self._bucket_ms,
            self._threshold,
            repr(self._rate),
            self._reset_ms,
            _IDLE_EXPIRY_MS,
        ]
        reply = await self._run(self._record, keys=self._keys, args=args)
        if reply is None:
            return
        state, wait_ms = BreakerState(int(reply[0])), int(reply[1])
        CIRCUIT_STATE.labels(name=self.name).set(state)
        if state is BreakerState.OPEN:
            self._open_until = time.monotonic() + wait_ms / 1000
            if outcome == "failure" and wait_ms == self._reset_ms:
                logger.warning("circuit %r opened for %d ms", self.name, wait_ms)
        elif trial and outcome == "success":
            logger.info("circuit %r closed after a successful trial", self.name)

    async def _run(self, script: Any, *, keys: list[str], args: list[str | int]) -> Any:
        """Run a script within ``redis_timeout``; None when Redis is unreachable (fail open)."""
        try:
            async with asyncio.timeout(self._redis_timeout):
                return await script(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as e:
            self._store_failed(e)
            return None

    def _store_failed(self, error: BaseException) -> None:
        CIRCUIT_STORE_ERRORS.labels(name=self.name).inc()
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            logger.warning(
                "circuit %r cannot reach Redis (%r); letting calls through", self.name, error
            )


def _ms(delta: timedelta) -> int:
    return max(round(delta.total_seconds() * 1000), 1)

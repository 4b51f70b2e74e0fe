"""The pure parts of services.runtime.kafka: retry delays, header conversion, worker lifecycle."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.kafka import BackgroundWorker, encode_headers, header_dict, retry_delay

INITIAL, MAXIMUM = timedelta(milliseconds=200), timedelta(seconds=10)


@pytest.mark.parametrize(
    ("attempt", "nominal"),
    [(1, 0.2), (2, 0.4), (3, 0.8), (6, 6.4), (7, 10.0), (50, 10.0)],
)
def test_retry_delays_double_up_to_the_cap_with_the_upper_half_jittered(
    attempt: int, nominal: float
) -> None:
    delays = {retry_delay(attempt, initial=INITIAL, maximum=MAXIMUM) for _ in range(200)}
    assert all(nominal / 2 <= d <= nominal for d in delays)
    assert len(delays) > 100  # jittered, not one fixed value


@given(
    attempt=st.integers(min_value=-5, max_value=10**6),
    initial=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=1)),
    maximum=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1)),
)
def test_a_retry_delay_is_never_negative_nor_above_the_cap(
    attempt: int, initial: timedelta, maximum: timedelta
) -> None:
    delay = retry_delay(attempt, initial=initial, maximum=maximum)
    assert 0 <= delay <= maximum.total_seconds()


def test_headers_become_text_keeping_the_last_of_a_repeated_key() -> None:
    headers = [
        ("traceparent", b"00-old"),
        ("id", b"e-1"),
        ("traceparent", b"00-new"),
        ("empty", None),
        ("binary", b"\xff"),
    ]
    assert header_dict(headers) == {"traceparent": "00-new", "id": "e-1", "binary": "\ufffd"}


def test_encoded_headers_round_trip() -> None:
    headers = {"id": "e-1", "type": "order.created", "tracestate": "k=v"}
    assert encode_headers(headers) == [
        ("id", b"e-1"),
        ("type", b"order.created"),
        ("tracestate", b"k=v"),
    ]
    assert header_dict(encode_headers(headers)) == headers


class Loop(BackgroundWorker):
    """A worker that counts its turns, optionally failing at start or ignoring stop."""

    def __init__(
        self, *, fail_at_start: bool = False, stubborn: bool = False, crash_after: int = -1
    ) -> None:
        super().__init__()
        self.fail_at_start, self.stubborn, self.crash_after = fail_at_start, stubborn, crash_after
        self.turns = 0
        self.finished = False

    async def run(self, stop: asyncio.Event) -> None:
        if self.fail_at_start:
            raise ConnectionError("broker unreachable")
        self._ready()
        while not stop.is_set() or self.stubborn:
            if self.turns == self.crash_after:
                raise RuntimeError("bug in the loop")
            self.turns += 1
            await asyncio.sleep(0.01)
        self.finished = True


async def test_a_worker_runs_in_the_background_until_stopped() -> None:
    worker = Loop()
    async with worker:
        assert worker.running
        await asyncio.sleep(0.05)
        assert worker.turns > 0
    assert worker.finished
    assert not worker.running


async def test_a_worker_that_fails_to_start_raises_from_start() -> None:
    worker = Loop(fail_at_start=True)
    with pytest.raises(ConnectionError, match="broker unreachable"):
        await worker.start()
    assert not worker.running


async def test_a_worker_cannot_be_started_twice() -> None:
    async with Loop() as worker:
        with pytest.raises(RuntimeError, match="already started"):
            await worker.start()


async def test_a_worker_that_ignores_stop_is_cancelled_after_the_timeout() -> None:
    worker = Loop(stubborn=True)
    await worker.start()
    await asyncio.wait_for(worker.stop(timeout=0.1), timeout=2)
    assert not worker.running
    assert not worker.finished


async def test_a_worker_that_crashes_is_logged_at_once_and_stopping_it_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = Loop(crash_after=3)
    await worker.start()
    await asyncio.sleep(0.1)
    assert not worker.running
    assert "Loop stopped with an error" in caplog.text
    assert "bug in the loop" in caplog.text
    await worker.stop()

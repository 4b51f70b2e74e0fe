"""The Order's status <-> the saga value, and the conditions derived from it. Pure.

The status subresource is the saga's only durable state: the reconciler writes it after
every transition and reads it back after a restart. Conditions follow the Kubernetes shape
(as cert-manager's do): ``Ready`` summarises the saga, ``StockReserved`` and
``PaymentAuthorized`` show its two holds; a condition's ``lastTransitionTime`` only moves when
its status does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from operators.saga import machine
from operators.saga.machine import Phase, Saga, Step, StepRecord, StepState

Condition = dict[str, Any]


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def saga_of(status: Mapping[str, Any], now: datetime) -> Saga:
    """The saga the status records; a new one when the reconciler has not written it yet."""
    phase = status.get("phase")
    if not phase:
        return machine.start(now)
    steps: dict[Step, StepRecord] = {}
    for item in status.get("steps") or ():
        try:
            step = Step(item["name"])
        except (KeyError, ValueError):
            continue  # a step this version does not know: written by a newer operator
        steps[step] = StepRecord(
            state=StepState(item.get("state", StepState.PENDING)),
            attempts=int(item.get("attempts", 0)),
            started_at=parse_time(item.get("startedAt")),
            finished_at=parse_time(item.get("finishedAt")),
            message=item.get("message", ""),
        )
    return Saga(
        phase=Phase(phase),
        started_at=parse_time(status.get("startedAt")) or now,
        steps=MappingProxyType(steps),
        reason=status.get("reason", ""),
        message=status.get("message", ""),
        reservation_id=status.get("reservationId"),
        payment_id=status.get("paymentId"),
        finished_at=parse_time(status.get("finishedAt")),
    )


def status_of(
    saga: Saga,
    *,
    previous_conditions: Sequence[Mapping[str, Any]],
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    """The status fields the reconciler owns (the bridge's ``signals`` are left alone)."""
    steps = [
        _step(step, record)
        for step in (*machine.FORWARD, *machine.COMPENSATIONS)
        if (record := saga.record(step)) is not None
    ]
    return {
        "phase": str(saga.phase),
        "step": in_flight(saga),
        "reason": saga.reason,
        "message": saga.message,
        "steps": steps,
        "reservationId": saga.reservation_id,
        "paymentId": saga.payment_id,
        "startedAt": timestamp(saga.started_at),
        "finishedAt": timestamp(saga.finished_at) if saga.finished_at else None,
        "duration": duration(saga),
        "observedGeneration": generation,
        "conditions": conditions(saga, previous_conditions, generation=generation, now=now),
    }


def duration(saga: Saga) -> str:
    """Start to finish for ``kubectl get orders -o wide``; empty while the saga runs."""
    if saga.finished_at is None:
        return ""
    seconds = max((saga.finished_at - saga.started_at).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{rest:02d}s" if hours else f"{minutes}m{rest:02d}s"


def in_flight(saga: Saga) -> str:
    """The step ``kubectl get orders`` shows: the one to run, or the one waiting on a webhook."""
    if saga.settled:
        return ""
    step = machine.step_to_run(saga) or next(
        (
            s
            for s in (*machine.FORWARD, *machine.COMPENSATIONS)
            if saga.state_of(s) is StepState.RUNNING
        ),
        None,
    )
    return str(step) if step else ""


def _step(step: Step, record: StepRecord) -> dict[str, Any]:
    item: dict[str, Any] = {"name": str(step), "state": str(record.state)}
    item["attempts"] = record.attempts
    if record.started_at:
        item["startedAt"] = timestamp(record.started_at)
    if record.finished_at:
        item["finishedAt"] = timestamp(record.finished_at)
    if record.message:
        item["message"] = record.message[:1024]
    return item


def conditions(
    saga: Saga,
    previous: Sequence[Mapping[str, Any]],
    *,
    generation: int,
    now: datetime,
) -> list[Condition]:
    before = {c.get("type"): c for c in previous}
    wanted = [
        ("Ready", *_ready(saga)),
        ("StockReserved", *_hold(saga, Step.RESERVE_STOCK, Step.RELEASE_STOCK, "Reserved")),
        (
            "PaymentAuthorized",
            *_hold(saga, Step.AUTHORIZE_PAYMENT, Step.REFUND_PAYMENT, "Authorized"),
        ),
    ]
    result = []
    for kind, state, reason, message in wanted:
        old = before.get(kind)
        moved = old is None or old.get("status") != state
        result.append(
            {
                "type": kind,
                "status": state,
                "reason": reason,
                "message": message[:1024],
                "lastTransitionTime": (
                    timestamp(now) if moved or old is None else old["lastTransitionTime"]
                ),
                "observedGeneration": generation,
            }
        )
    return result


def _ready(saga: Saga) -> tuple[str, str, str]:
    if saga.phase is Phase.COMPLETED:
        return "True", "Completed", "the order is paid and its stock sold"
    if saga.phase is Phase.CANCELLED:
        return "False", saga.reason or "Cancelled", saga.message
    if saga.phase is Phase.FAILED:
        return "False", saga.reason or "Failed", saga.message
    return "Unknown", str(saga.phase), saga.message


def _hold(saga: Saga, taken_by: Step, undone_by: Step, taken: str) -> tuple[str, str, str]:
    undo, take = saga.record(undone_by), saga.record(taken_by)
    if undo is not None and undo.state is StepState.SUCCEEDED:
        return "False", "Compensated", f"{undone_by} succeeded"
    if take is None or take.state is StepState.PENDING:
        return "Unknown", "NotStarted", ""
    if take.state is StepState.SUCCEEDED:
        return "True", taken, ""
    if take.state is StepState.FAILED:
        return "False", "Failed", take.message
    return "Unknown", "InProgress", take.message

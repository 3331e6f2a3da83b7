"""Delivery outcomes written back into the step results of the executions that queued texts.

An action that queues texts (send_message, a notification) completes before its texts go on
air; as each text is sent, acknowledged, refused or expires, the queue updates the result of
that step (found by execution uid, action order and attempt) and puts the execution in the
outbox again, so central sees the outcome too. Runs on the engine thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent.core.models import ProcessExecution, ProcessExecutionStep
from agent.core.station_models import OutboundMessage
from agent.engine import store


def report(rows: Iterable[OutboundMessage]) -> None:
    """Write the rows' delivery state into the step result of the execution that queued them."""
    steps: dict[tuple[str, int, int], list[OutboundMessage]] = {}
    for row in rows:
        if row.execution_uid and row.action_order is not None:
            key = (row.execution_uid, row.action_order, row.step_attempt or 0)
            steps.setdefault(key, []).append(row)
    for (execution_uid, order, attempt), items in steps.items():
        execution = ProcessExecution.get_or_none(ProcessExecution.uid == execution_uid)
        if execution is None:
            continue  # pruned
        step = (ProcessExecutionStep.select()
                .where((ProcessExecutionStep.execution == execution.id)
                       & (ProcessExecutionStep.action_order == order)
                       & (ProcessExecutionStep.retry_count == attempt))
                .order_by(ProcessExecutionStep.id.desc()).first())
        if step is None:
            continue
        result = step.result if isinstance(step.result, dict) else {"value": step.result}
        update_result(result, items)
        ProcessExecutionStep.update(result=result).where(
            ProcessExecutionStep.id == step.id).execute()
        store.outbox_execution(execution.id)


def update_result(result: dict[str, Any], rows: Iterable[OutboundMessage]) -> None:
    """Update the entries of ``rows`` in a step result: its ``messages`` list (send_message),
    else a ``radio_delivery`` map keyed by uid (other actions that queue texts)."""
    by_uid = {row.uid: row for row in rows}
    messages = result.get("messages")
    found: set[str] = set()
    if isinstance(messages, list):
        for entry in messages:
            row = by_uid.get(str(entry.get("uid"))) if isinstance(entry, dict) else None
            if row is not None:
                entry.update(_delivery(row))
                found.add(row.uid)
        counts: dict[str, int] = {}
        for entry in messages:
            if isinstance(entry, dict):
                counts[str(entry.get("status"))] = counts.get(str(entry.get("status")), 0) + 1
        result["status_counts"] = counts
    rest = [row for uid, row in by_uid.items() if uid not in found]
    if rest:
        delivery = result.setdefault("radio_delivery", {})
        for row in rest:
            delivery[row.uid] = {"to": row.destination, "part": row.part, **_delivery(row)}


def _delivery(row: OutboundMessage) -> dict[str, Any]:
    return {"status": row.status, "outcome": row.outcome, "packet_id": row.packet_id,
            "sent_at": row.sent_at.isoformat() if row.sent_at else None}

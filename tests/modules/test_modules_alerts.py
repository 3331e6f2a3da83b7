"""Alerts: triggers filtered by severity/source/zone; acknowledge_alert and resolve_alert."""

from __future__ import annotations

from agent.core.codec import decode
from agent.core.models import Alert, Outbox
from tests.modules.modules_support import Station, logging_process, manual


def _alert(station: Station, uid: str) -> Alert:
    return station.engine.call(lambda: Alert.get(Alert.uid == uid)).result()


def test_alert_triggers_filter_by_severity_source_and_zone(station: Station) -> None:
    critical = station.process(logging_process("critical only", "alert_created",
                                               {"min_severity": "critical"}))
    infos = station.process(logging_process("info only", "alert_created", {"severity": "info"}))
    from_processes = station.process(logging_process(
        "operator alerts in avalanche", "alert_created",
        {"source": "operator", "zone": "Avalanche"}))
    raiser = station.process(manual("raise", [{"action_type": "create_alert", "action_config": {
        "title": "SOS from {{ event.who }}", "severity": "{{ event.severity }}"}}]))
    station.engine.run_process(raiser, {"who": "Ana", "severity": "critical"})
    station.engine.run_process(raiser, {"who": "Ben", "severity": "warning"})
    station.wait_executions(raiser, 2)
    alerts = station.modules["alerts"]
    # an alert raised through the module's API by an operator
    station.call(lambda: alerts.create(title="Slide", severity="info", source="operator",
                                       zone="avalanche", created_by="ops"))
    [crit] = station.wait_executions(critical, 1)
    [info] = station.wait_executions(infos, 1)
    [operator] = station.wait_executions(from_processes, 1)
    assert crit.trigger_event["data"]["title"] == "SOS from Ana"
    assert crit.trigger_event["data"]["source"] == "process"
    assert crit.trigger_event["data"]["process_uid"] == raiser
    assert info.trigger_event["data"]["title"] == "Slide"
    assert operator.trigger_event["data"]["alert_uid"] == info.trigger_event["data"]["uid"]
    assert len(station.executions(critical)) == 1


def test_acknowledge_and_resolve_by_uid_from_an_earlier_step(station: Station) -> None:
    acknowledged = station.process(logging_process("acked", "alert_acknowledged"))
    resolved = station.process(logging_process("resolved", "alert_resolved",
                                               {"severity": ["warning", "critical"]}))
    uid = station.process(manual("raise, ack, resolve", [
        {"action_type": "create_alert", "action_config": {"title": "Fall", "severity": "warning"}},
        {"action_type": "acknowledge_alert",
         "action_config": {"alert_uid": "{{ steps.1.result.alert_uid }}"}},
        {"action_type": "resolve_alert",
         "action_config": {"alert_uid": "{{ steps.1.result.alert_uid }}"}},
    ]))
    station.engine.run_process(uid)
    [run] = station.wait_executions(uid, 1)
    assert run.status == "completed", run.error_message
    created, ack, res = station.steps(run.id)
    alert = _alert(station, created.result["alert_uid"])
    assert ack.result["alert_uids"] == res.result["alert_uids"] == [alert.uid]
    assert alert.status == "resolved"
    assert alert.acknowledged_by == alert.resolved_by == "process:raise, ack, resolve"
    assert alert.acknowledged_at is not None and alert.resolved_at >= alert.acknowledged_at
    station.wait_executions(acknowledged, 1)
    [res_run] = station.wait_executions(resolved, 1)
    assert res_run.trigger_event["data"]["resolved_by"] == "process:raise, ack, resolve"
    # every change went into the outbox, the last one with the final status
    records = station.engine.call(lambda: [decode(o.payload)[1] for o in Outbox.select()
                                           .where(Outbox.uid == alert.uid)
                                           .order_by(Outbox.seq)]).result()
    assert [r["status"] for r in records] == ["open", "acknowledged", "resolved"]


def test_resolve_the_alert_this_process_raised_for_a_node(station: Station) -> None:
    """Scenario 2: raise on entry, resolve on exit; another process's alert is untouched."""
    watcher = {
        "name": "avalanche watch", "mode": "queued",
        "triggers": [{"trigger_type": "manual"}],
        "actions": [
            {"action_type": "create_alert", "action_config": {
                "title": "{{ event.node }} in avalanche zone", "node_id": "{{ event.node }}",
                "zone": "avalanche", "severity": "warning"},
             "conditions": {"field": "event.step", "op": "eq", "value": "enter"}},
            {"action_type": "resolve_alert", "action_config": {
                "node_id": "{{ event.node }}", "zone": "avalanche"},
             "conditions": {"field": "event.step", "op": "eq", "value": "leave"}},
        ]}
    uid = station.process(watcher)
    other = station.process(manual("other", [{"action_type": "create_alert", "action_config": {
        "title": "other", "node_id": "!0000e0e1", "zone": "avalanche"}}]))
    station.engine.run_process(other)
    station.wait_executions(other, 1)
    for step, node in (("enter", "!0000e0e1"), ("enter", "!0000e0e2"), ("leave", "!0000e0e1")):
        station.engine.run_process(uid, {"step": step, "node": node})
    runs = station.wait_executions(uid, 3)
    assert [r.status for r in runs] == ["completed"] * 3
    leave_steps = station.steps(runs[2].id)
    assert leave_steps[1].result["count"] == 1
    by_node = station.engine.call(lambda: {(a.title, a.status) for a in Alert.select()}).result()
    assert by_node == {("other", "open"), ("!0000e0e1 in avalanche zone", "resolved"),
                       ("!0000e0e2 in avalanche zone", "open")}


def test_alert_severity_condition(station: Station) -> None:
    uid = station.process({
        "name": "page on serious alerts", "mode": "queued", "max": 10,
        "triggers": [{"trigger_type": "alert_created",
                      "conditions": {"op": "alert_severity", "at_least": "warning"}}],
        "actions": [{"action_type": "log", "action_config": {"message": "{{ event.title }}"}}]})
    alerts = station.modules["alerts"]
    for severity in ("info", "critical", "warning", "info"):
        station.call(lambda s=severity: alerts.create(title=s, severity=s))
    runs = station.wait_executions(uid, 2)
    assert sorted(r.trigger_event["data"]["title"] for r in runs) == ["critical", "warning"]


def test_failed_execution_raises_a_system_alert(station: Station) -> None:
    system = station.process(logging_process("system alerts", "alert_created",
                                             {"source": "system"}))
    uid = station.process(manual("broken", [{"action_type": "resolve_alert", "action_config": {
        "alert_uid": "no-such-alert"}}]))
    station.engine.run_process(uid)
    [run] = station.wait_executions(uid, 1)
    assert run.status == "failed" and "no alert 'no-such-alert'" in run.error_message
    [alerted] = station.wait_executions(system, 1)
    assert alerted.trigger_event["data"]["title"] == "Process 'broken' failed"

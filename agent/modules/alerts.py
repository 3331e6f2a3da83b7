"""Alerts on the station: create, acknowledge, resolve; each change syncs up and is an event."""

from __future__ import annotations

from typing import Any

from agent.core.codec import encode
from agent.core.ids import HybridClock
from agent.core.models import ALERT_SEVERITIES, Alert, Outbox, utcnow
from agent.core.records import alert_record
from agent.engine.events import Event


class AlertError(ValueError):
    pass


class AlertService:
    """All alert writes of a station. Runs on the engine thread (the database's one writer).

    Each operation writes the alert and its outbox row in the caller's transaction and returns
    the event that announces it; the caller delivers the event once the transaction commits.
    """

    def __init__(self, station_id: str, clock: HybridClock) -> None:
        self.station_id = station_id
        self.clock = clock

    def _touch(self, alert: Alert) -> Event:
        alert.updated_at = utcnow()
        alert.hlc = self.clock.now()
        alert.save()
        Outbox.create(kind="alert", uid=alert.uid, payload=encode("alert", alert_record(alert)))
        return Event(
            type=f"alert_{_EVENT_WORD[alert.status]}",
            data=alert_record(alert),
            source="module:alerts",
            keys=frozenset({alert.severity, alert.source}),
        )

    def create(self, *, title: str, message: str = "", severity: str = "info",
               source: str = "operator", source_ref: str | None = None,
               node_id: str | None = None, zone: str | None = None,
               lat: float | None = None, lon: float | None = None,
               created_by: str | None = None) -> tuple[Alert, Event]:
        if severity not in ALERT_SEVERITIES:
            raise AlertError(f"severity: must be one of {', '.join(ALERT_SEVERITIES)}")
        if not title.strip():
            raise AlertError("title: required")
        alert = Alert(
            title=title[:200], message=message[:2000], severity=severity, source=source,
            source_ref=source_ref, node_id=node_id, zone=zone, lat=lat, lon=lon,
            created_by=created_by, station_id=self.station_id,
        )
        return alert, self._touch(alert)

    def find(self, ref: str | int) -> Alert:
        text = str(ref)
        alert = Alert.get_or_none(Alert.uid == text)
        if alert is None and text.isdigit():
            alert = Alert.get_or_none(Alert.id == int(text))
        if alert is None:
            raise AlertError(f"no alert {ref!r}")
        return alert

    def acknowledge(self, alert: Alert, by: str) -> Event | None:
        if alert.status != "open":
            return None
        alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", utcnow(), by
        return self._touch(alert)

    def resolve(self, alert: Alert, by: str) -> Event | None:
        if alert.status == "resolved":
            return None
        alert.status, alert.resolved_at, alert.resolved_by = "resolved", utcnow(), by
        return self._touch(alert)

    def open_alerts(self, **filters: Any) -> list[Alert]:
        query = Alert.select().where(Alert.status != "resolved")
        for name, value in filters.items():
            query = query.where(getattr(Alert, name) == value)
        return list(query.order_by(Alert.id))


_EVENT_WORD = {"open": "created", "acknowledged": "acknowledged", "resolved": "resolved"}

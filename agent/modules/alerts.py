"""Alerts: create, acknowledge, resolve; each change syncs up and is an event.

Events: ``alert_created``, ``alert_acknowledged``, ``alert_resolved``, with the alert record as
data (plus ``alert_uid`` and ``alert_id``), keyed by severity so alert triggers filtered by
severity are found in O(1).
"""

from __future__ import annotations

from typing import Any

from agent.core.codec import encode
from agent.core.ids import HybridClock
from agent.core.models import ALERT_SEVERITIES, ALERT_STATUSES, Alert, Outbox, utcnow
from agent.core.records import alert_record
from agent.engine.events import Event

ALERT_SOURCES = ("process", "node", "operator", "system")


class AlertError(ValueError):
    pass


def severity_rank(severity: str) -> int:
    """info 0, warning 1, critical 2; -1 for anything else."""
    return ALERT_SEVERITIES.index(severity) if severity in ALERT_SEVERITIES else -1


class AlertService:
    """All alert writes of a station. Runs on the engine thread (the database's one writer).

    Each operation writes the alert and its outbox row in the caller's transaction and returns
    the event that announces it; the caller delivers the event once the transaction commits.
    Central uses it with ``outbox=False`` (its changes travel through its own sync feed).
    """

    def __init__(self, station_id: str, clock: HybridClock, *, outbox: bool = True) -> None:
        self.station_id = station_id
        self.clock = clock
        self.outbox = outbox

    def _touch(self, alert: Alert) -> Event:
        alert.updated_at = utcnow()
        alert.hlc = self.clock.now()
        alert.save()
        if self.outbox:
            Outbox.create(kind="alert", uid=alert.uid,
                          payload=encode("alert", alert_record(alert)))
        return self.event_of(alert)

    @staticmethod
    def event_of(alert: Alert) -> Event:
        return Event(
            type=f"alert_{_EVENT_WORD[alert.status]}",
            data={**alert_record(alert), "alert_uid": alert.uid, "alert_id": alert.id},
            source="module:alerts",
            keys=frozenset({alert.severity}),
            triggered_by=alert.node_id or alert.created_by or "system",
        )

    def create(self, *, title: str, message: str = "", severity: str = "info",
               source: str = "operator", source_ref: str | None = None,
               node_id: str | None = None, zone: str | None = None,
               lat: float | None = None, lon: float | None = None,
               created_by: str | None = None, process_uid: str | None = None) \
            -> tuple[Alert, Event]:
        if severity not in ALERT_SEVERITIES:
            raise AlertError(f"severity: must be one of {', '.join(ALERT_SEVERITIES)}")
        if source not in ALERT_SOURCES:
            raise AlertError(f"source: must be one of {', '.join(ALERT_SOURCES)}")
        if not isinstance(title, str) or not title.strip():
            raise AlertError("title: required")
        alert = Alert(
            title=title.strip()[:200], message=str(message or "")[:2000], severity=severity,
            source=source, source_ref=source_ref, node_id=node_id or None, zone=zone or None,
            lat=lat, lon=lon, created_by=created_by, station_id=self.station_id,
            process_uid=process_uid,
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
        """Open -> acknowledged; None (no change) when it is not open."""
        if alert.status != "open":
            return None
        alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", utcnow(), by
        return self._touch(alert)

    def resolve(self, alert: Alert, by: str) -> Event | None:
        """Open or acknowledged -> resolved; None (no change) when already resolved."""
        if alert.status == "resolved":
            return None
        alert.status, alert.resolved_at, alert.resolved_by = "resolved", utcnow(), by
        return self._touch(alert)

    def open_alerts(self, **filters: Any) -> list[Alert]:
        query = Alert.select().where(Alert.status != "resolved")
        for name, value in filters.items():
            query = query.where(getattr(Alert, name) == value)
        return list(query.order_by(Alert.id))

    def raised_by(self, process_uid: str, *, node_id: str | None = None,
                  zone: str | None = None, statuses: tuple[str, ...] = ("open", "acknowledged"),
                  severity: str | None = None) -> list[Alert]:
        """The alerts a process raised (optionally for one node or zone) in these statuses."""
        bad = [s for s in statuses if s not in ALERT_STATUSES]
        if bad:
            raise AlertError(f"status: {bad[0]!r} is not one of {', '.join(ALERT_STATUSES)}")
        query = Alert.select().where((Alert.process_uid == process_uid)
                                     & Alert.status.in_(statuses))
        if node_id:
            query = query.where(Alert.node_id == node_id)
        if zone:
            query = query.where(Alert.zone == zone)
        if severity:
            query = query.where(Alert.severity == severity)
        return list(query.order_by(Alert.id))


_EVENT_WORD = {"open": "created", "acknowledged": "acknowledged", "resolved": "resolved"}

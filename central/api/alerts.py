"""Alerts raised everywhere: list, get, raise (operator), acknowledge, resolve."""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from agent.core.models import ALERT_SEVERITIES, ALERT_STATUSES, Alert, database
from agent.core.records import alert_record
from agent.modules.alerts import ALERT_SOURCES, AlertError
from central.api._common import Api, ApiError, Query, Request
from central.api._fleet import PAGE, Modules
from central.api._schemas import NULLABLE_STR, TIME, array_of, obj
from central.audit import audit
from central.context import CentralContext

NULLABLE_NUMBER = {"type": ["number", "null"]}
ALERT = obj({
    "id": {"type": "integer"}, "uid": {"type": "string"},
    "severity": {"enum": list(ALERT_SEVERITIES)}, "title": {"type": "string"},
    "message": {"type": "string"}, "source": {"type": "string"}, "source_ref": NULLABLE_STR,
    "process_uid": NULLABLE_STR, "node_id": NULLABLE_STR, "zone": NULLABLE_STR,
    "lat": NULLABLE_NUMBER, "lon": NULLABLE_NUMBER, "status": {"enum": list(ALERT_STATUSES)},
    "created_at": TIME, "created_by": NULLABLE_STR, "acknowledged_at": TIME,
    "acknowledged_by": NULLABLE_STR, "resolved_at": TIME, "resolved_by": NULLABLE_STR,
    "station_id": {"type": "string"}, "updated_at": TIME, "hlc": {"type": "string"},
})
ALERT_CREATE = obj({
    "title": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
    "message": {"type": "string", "maxLength": 2000},
    "severity": {"enum": list(ALERT_SEVERITIES), "default": "info"},
    "node_id": {"type": "string", "minLength": 1, "maxLength": 20},
    "zone": {"type": "string", "minLength": 1, "maxLength": 100},
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "lon": {"type": "number", "minimum": -180, "maximum": 180},
}, required=["title"], additionalProperties=False)
ALERT_CHANGE = obj({"comment": {"type": "string", "maxLength": 500}}, required=[],
                   additionalProperties=False)


def alert_view(alert: Alert) -> dict[str, Any]:
    return {"id": alert.id, **alert_record(alert)}


def find_alert(alert_id: int) -> Alert:
    alert = Alert.get_or_none(Alert.id == alert_id)
    if alert is None:
        raise ApiError(404, f"no alert {alert_id}")
    return alert


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="alerts")
    api.schema("Alert", ALERT)
    api.schema("AlertList", obj({"alerts": array_of("Alert"), "total": {"type": "integer"}}))
    api.schema("AlertCreate", ALERT_CREATE)
    api.schema("AlertChange", ALERT_CHANGE)

    @api.get("/api/alerts", "modules:view", "List alerts, newest first",
             query=[*PAGE,
                    Query("status", str, None, "open, acknowledged or resolved",
                          enum=ALERT_STATUSES),
                    Query("open_only", bool, False, "open or acknowledged (not resolved)"),
                    Query("severity", str, None, "exactly this severity", enum=ALERT_SEVERITIES),
                    Query("min_severity", str, None, "at least this severity",
                          enum=ALERT_SEVERITIES),
                    Query("source", str, None, "process, node, operator or system",
                          enum=ALERT_SOURCES),
                    Query("station_id", str, None, "raised at this station", max_length=64),
                    Query("zone", str, None, "about this zone", max_length=100),
                    Query("node_id", str, None, "about this node", max_length=20),
                    Query("since", str, None, "created at or after (ISO 8601)",
                          format="date-time")],
             response="AlertList")
    def list_alerts(req: Request) -> dict[str, Any]:
        q = req.query
        query = Alert.select()
        if q["status"]:
            query = query.where(Alert.status == q["status"])
        if q["open_only"]:
            query = query.where(Alert.status != "resolved")
        if q["severity"]:
            query = query.where(Alert.severity == q["severity"])
        if q["min_severity"]:
            floor = ALERT_SEVERITIES.index(q["min_severity"])
            query = query.where(Alert.severity.in_(list(ALERT_SEVERITIES[floor:])))
        for name in ("source", "station_id", "zone", "node_id"):
            if q[name]:
                query = query.where(getattr(Alert, name) == q[name])
        if q["since"] is not None:
            query = query.where(Alert.created_at >= q["since"])
        page = query.order_by(Alert.created_at.desc(), Alert.id.desc()) \
            .limit(q["limit"]).offset(q["offset"])
        return {"alerts": [alert_view(a) for a in page], "total": query.count()}

    @api.get("/api/alerts/{id:int}", "modules:view", "An alert", response="Alert")
    def get_alert(req: Request, id: int) -> dict[str, Any]:
        return alert_view(find_alert(id))

    @api.post("/api/alerts", "alerts:manage", "Raise an alert (source: operator)",
              body="AlertCreate", response="Alert", status=201)
    def create_alert(req: Request) -> dict[str, Any]:
        modules, body = Modules(req.ctx), req.body
        with database.atomic():
            try:
                alert, event = modules.alerts.create(
                    title=body["title"], message=body.get("message", ""),
                    severity=body.get("severity", "info"), source="operator",
                    source_ref=req.actor, node_id=body.get("node_id"), zone=body.get("zone"),
                    lat=body.get("lat"), lon=body.get("lon"), created_by=req.actor)
            except AlertError as exc:
                path, _, reason = str(exc).partition(": ")
                raise ApiError(400, "invalid alert", errors=[{"path": path,
                                                              "reason": reason}]) from None
            audit(req.actor, "create", "alert", alert.uid, None, alert_view(alert))
        req.ctx.changed("alert", alert.uid)
        modules.submit(event)
        return alert_view(alert)

    def change(req: Request, id: int, action: str) -> dict[str, Any]:
        modules = Modules(req.ctx)
        with database.atomic():
            alert = find_alert(id)
            before = alert_view(alert)
            if action == "acknowledge":
                if alert.status != "open":
                    raise ApiError(409, f"alert {id} is {alert.status}: only an open alert "
                                        "can be acknowledged")
                event = modules.alerts.acknowledge(alert, req.actor)
            else:
                if alert.status == "resolved":
                    raise ApiError(409, f"alert {id} is already resolved")
                event = modules.alerts.resolve(alert, req.actor)
            comment = (req.body or {}).get("comment")
            after = alert_view(alert)
            audit(req.actor, action, "alert", alert.uid, before,
                  {**after, "comment": comment} if comment else after)
        req.ctx.changed("alert", alert.uid)
        modules.submit(event)
        return after

    @api.post("/api/alerts/{id:int}/acknowledge", "alerts:manage", "Acknowledge an alert",
              body="AlertChange", response="Alert", errors=(409,),
              description="Open -> acknowledged (who and when are kept); 409 otherwise.")
    def acknowledge_alert(req: Request, id: int) -> dict[str, Any]:
        return change(req, id, "acknowledge")

    @api.post("/api/alerts/{id:int}/resolve", "alerts:manage", "Resolve an alert",
              body="AlertChange", response="Alert", errors=(409,),
              description="Open or acknowledged -> resolved; 409 when already resolved.")
    def resolve_alert(req: Request, id: int) -> dict[str, Any]:
        return change(req, id, "resolve")

"""The audit trail: who changed what and when, with the before and after."""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from central.api._common import Api, Query, Request
from central.api._schemas import ANY, array_of, obj
from central.context import CentralContext
from central.models import AuditLog
from central.views import iso


def entry_view(entry: AuditLog) -> dict[str, Any]:
    return {"id": entry.id, "at": iso(entry.at), "actor": entry.actor, "action": entry.action,
            "entity": entry.entity, "entity_uid": entry.entity_uid, "before": entry.before,
            "after": entry.after}


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="audit")
    api.schema("AuditEntry", obj({
        "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string"}, "action": {"type": "string"},
        "entity": {"type": "string"}, "entity_uid": {"type": "string"},
        "before": ANY, "after": ANY}))
    api.schema("AuditList", obj({"entries": array_of("AuditEntry"),
                                 "total": {"type": "integer"}}))

    @api.get("/api/audit", "audit:view", "The audit trail, newest first",
             query=[Query("entity", str, None, "process, template, user, alert...",
                          max_length=100),
                    Query("entity_uid", str, None, "one record's uid", max_length=200),
                    Query("actor", str, None, "changes made by this user", max_length=200),
                    Query("limit", int, 50, "page size", minimum=1, maximum=500),
                    Query("offset", int, 0, "rows to skip", minimum=0, maximum=10_000_000)],
             response="AuditList")
    def list_audit(req: Request) -> dict[str, Any]:
        q = req.query
        query = AuditLog.select()
        for name in ("entity", "entity_uid", "actor"):
            if q[name] is not None:
                query = query.where(getattr(AuditLog, name) == q[name])
        page = query.order_by(AuditLog.id.desc()).limit(q["limit"]).offset(q["offset"])
        return {"entries": [entry_view(e) for e in page], "total": query.count()}

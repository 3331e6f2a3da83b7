"""Process templates: list, create from a process, instantiate into a new process."""

from __future__ import annotations

import copy
from typing import Any

from bottle import Bottle

from agent.core.models import ProcessTemplate, database, utcnow
from agent.definitions import NAME_PATTERN
from agent.processes import definition_of
from central.api._common import Api, ApiError, Query, Request
from central.api._schemas import array_of, obj
from central.api.processes import create_process, find_process
from central.audit import audit
from central.context import CentralContext
from central.views import template_view

CATEGORIES = ("emergency", "maintenance", "communication", "monitoring")


def template_data_of(definition: dict[str, Any]) -> dict[str, Any]:
    """A stored definition made reusable: no identities, versions or template link."""
    data = copy.deepcopy(definition)
    for key in ("uid", "version", "template_id"):
        data.pop(key, None)
    for item in (*data.get("triggers", []), *data.get("actions", [])):
        item.pop("uid", None)
    return data


def new_template(req: Request, definition: dict[str, Any], action: str) -> dict[str, Any]:
    """A new template from ``definition``, named and described by the request's body (409 when
    the name is taken), audited as ``action``; the answer ``{"template_id": ...}``."""
    body = req.body
    with database.atomic():
        if ProcessTemplate.select().where((ProcessTemplate.name == body["name"])
                                          & ~ProcessTemplate.deleted).exists():
            raise ApiError(409, f"a template named {body['name']!r} already exists")
        template = ProcessTemplate.create(
            name=body["name"], description=body.get("description"),
            category=body.get("category"), is_public=body.get("is_public", True),
            template_data=template_data_of(definition),
            created_by=req.require_user().user_id, hlc=req.ctx.clock.now(),
            updated_at=utcnow())
        audit(req.actor, action, "template", template.uid, None, template_view(template))
    req.ctx.changed("template", template.uid)
    return {"template_id": template.id}


def find_template(template_id: int) -> ProcessTemplate:
    template = ProcessTemplate.get_or_none((ProcessTemplate.id == template_id)
                                           & ~ProcessTemplate.deleted)
    if template is None:
        raise ApiError(404, f"no template {template_id}")
    return template


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="templates")
    api.schema("TemplateList", obj({"templates": array_of("Template")}))
    api.schema("TemplateCreate", obj({
        "process_id": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "description": {"type": ["string", "null"], "maxLength": 2000},
        "category": {"enum": [*CATEGORIES, None]},
        "is_public": {"type": "boolean"},
    }, required=["process_id", "name"], additionalProperties=False))
    api.schema("TemplateCreated", obj({"template_id": {"type": "integer"}}))
    api.schema("Instantiate", obj({
        "customizations": {"type": "object", "description": "definition fields that replace "
                                                            "the template's (name, stations, "
                                                            "triggers, actions...)"},
    }, required=[], additionalProperties=False))

    @api.get("/api/processes/templates", "processes:view", "List templates",
             query=[Query("category", str, None, "of this category", enum=CATEGORIES)],
             response="TemplateList")
    def list_templates(req: Request) -> dict[str, Any]:
        query = ProcessTemplate.select().where(~ProcessTemplate.deleted)
        if req.query["category"] is not None:
            query = query.where(ProcessTemplate.category == req.query["category"])
        return {"templates": [template_view(t) for t in query.order_by(ProcessTemplate.id)]}

    @api.get("/api/processes/templates/{id:int}", "processes:view", "A template",
             response="Template")
    def get_template(req: Request, id: int) -> dict[str, Any]:
        return template_view(find_template(id))

    @api.post("/api/processes/templates", "processes:create", "Create a template from a process",
              body="TemplateCreate", response="TemplateCreated", status=201, errors=(404, 409))
    def create_template(req: Request) -> dict[str, Any]:
        return new_template(req, definition_of(find_process(req.body["process_id"])), "create")

    @api.post("/api/processes/templates/{id:int}/instantiate", "processes:create",
              "Create a process from a template", body="Instantiate", body_required=False,
              response="ProcessCreated", status=201, errors=(409,),
              description="`customizations` replace the template's top-level definition "
                          "fields; the result is validated like a new process.")
    def instantiate(req: Request, id: int) -> dict[str, Any]:
        template = find_template(id)
        definition = {**copy.deepcopy(template.template_data),
                      **((req.body or {}).get("customizations") or {}),
                      "template_id": template.id}
        with database.atomic():
            process = create_process(req, definition, action="instantiate")
            ProcessTemplate.update(usage_count=ProcessTemplate.usage_count + 1).where(
                ProcessTemplate.id == template.id).execute()
        req.ctx.changed("process", process.uid)
        return {"process_id": process.id}

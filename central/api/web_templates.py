"""``POST /api/processes/templates/import``: a template from a JSON file (the page's import).

The page exports a template as ``{"firefly_template": 1, "name", "description", "category",
"template_data"}``; importing checks ``template_data`` as a process definition (errors carry
their path under ``template_data``), stores it like a template made from a process
(central.api.templates.template_data_of), audits it and announces the change to the sync.
"""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from agent.definitions import NAME_PATTERN, DefinitionError, validate_definition
from central.api._common import Api, ApiError, Request
from central.api._schemas import obj
from central.api.templates import CATEGORIES, new_template
from central.context import CentralContext


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="templates")
    api.schema("TemplateImport", obj({
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "description": {"type": ["string", "null"], "maxLength": 2000},
        "category": {"enum": [*CATEGORIES, None]},
        "is_public": {"type": "boolean"},
        "template_data": {"type": "object"},
    }, required=["name", "template_data"], additionalProperties=False))

    @api.post("/api/processes/templates/import", "processes:create",
              "Create a template from exported JSON", body="TemplateImport",
              response="TemplateCreated", status=201, errors=(409,))
    def import_template(req: Request) -> dict[str, Any]:
        body = req.body
        data = {**body["template_data"]}
        data.setdefault("name", body["name"])
        try:
            definition = validate_definition(data)
        except DefinitionError as exc:
            raise ApiError(400, "invalid template", errors=[
                {"path": f"template_data.{e['path']}", "reason": e["reason"]}
                for e in exc.as_json()]) from None
        return new_template(req, definition, "import")

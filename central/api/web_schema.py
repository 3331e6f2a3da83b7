"""What the process builder is generated from, and its live validation.

- ``GET /api/schema/process-definition``: the process-definition JSON Schema, exactly the
  document the API validates with (agent.definitions.definition_schema): the builder's forms
  for each trigger, action and condition type are generated from it;
- ``GET /api/schema/process-types``: what a schema cannot say: each type's description and
  example config, the event a trigger listens to, whether an action needs a radio;
- ``POST /api/schema/process-definition/validate``: the checks of saving (the same function),
  without saving: ``{"valid": bool, "errors": [{"path", "reason"}]}``;
- ``GET /api/schema/bot-rule``: the JSON Schema of one bot rule (the bots page's form).
"""

from __future__ import annotations

import json
from typing import Any

from bottle import Bottle

from agent.definitions import definition_schema
from agent.engine.conditions import CONDITION_OPS
from agent.engine.registry import ACTION_TYPES, TRIGGER_TYPES, load_builtin_types
from agent.modules.bots import RULE_SCHEMA
from central.api._common import Api, ApiError, Request
from central.api._schemas import obj
from central.api.processes import check_definition
from central.context import CentralContext


def process_types() -> dict[str, Any]:
    load_builtin_types()
    return {
        "triggers": [
            {"type": name, "description": cls.description, "example": cls.EXAMPLE,
             "listens_to": cls.listens_to()}
            for name, cls in sorted(TRIGGER_TYPES.items())
        ],
        "actions": [
            {"type": name, "description": cls.description, "example": cls.EXAMPLE,
             "needs_radio": cls.needs_radio, "effect": cls.effect,
             "repeat_safe": cls.repeat_safe}
            for name, cls in sorted(ACTION_TYPES.items())
        ],
        "conditions": [
            {"op": op.name, "description": op.description}
            for op in sorted(CONDITION_OPS.values(), key=lambda o: o.name)
        ],
    }


def definition_errors(definition: Any) -> list[dict[str, str]]:
    """The problems saving ``definition`` would report (none: it would be accepted)."""
    try:
        check_definition(definition)
    except ApiError as exc:
        body = json.loads(exc.body)
        errors: list[dict[str, str]] = body.get("errors") or [
            {"path": "(root)", "reason": body.get("error", "invalid")}]
        return errors
    return []


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="schema")
    api.schema("ProcessTypes", obj({
        "triggers": {"type": "array", "items": {"type": "object"}},
        "actions": {"type": "array", "items": {"type": "object"}},
        "conditions": {"type": "array", "items": {"type": "object"}},
    }))
    api.schema("ValidateRequest", obj({"definition": {"type": "object"}},
                                      additionalProperties=False))
    api.schema("ValidateResult", obj({
        "valid": {"type": "boolean"},
        "errors": {"type": "array", "items": obj({"path": {"type": "string"},
                                                  "reason": {"type": "string"}})},
    }))

    @api.get("/api/schema/process-definition", "processes:view",
             "The process-definition JSON Schema (what the API validates with)",
             response={"type": "object"})
    def get_schema(req: Request) -> dict[str, Any]:
        return definition_schema()

    @api.get("/api/schema/process-types", "processes:view",
             "Trigger, action and condition types: descriptions, examples, radio needs",
             response="ProcessTypes")
    def get_types(req: Request) -> dict[str, Any]:
        return process_types()

    @api.get("/api/schema/bot-rule", "modules:view", "The JSON Schema of a bot rule",
             response={"type": "object"})
    def get_bot_rule_schema(req: Request) -> dict[str, Any]:
        return RULE_SCHEMA

    @api.post("/api/schema/process-definition/validate", "processes:create",
              "Check a definition as saving would, without saving it",
              body="ValidateRequest", response="ValidateResult")
    def validate(req: Request) -> dict[str, Any]:
        errors = definition_errors(req.body["definition"])
        return {"valid": not errors, "errors": errors}

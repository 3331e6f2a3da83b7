"""JSON Schemas of the shapes in central/views.py (OpenAPI components), and helpers."""

from __future__ import annotations

import copy
import json
from typing import Any

from agent.definitions import definition_schema

TIME = {"type": ["string", "null"], "format": "date-time"}
ANY: dict[str, Any] = {}
NULLABLE_INT = {"type": ["integer", "null"]}
NULLABLE_STR = {"type": ["string", "null"]}


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) \
        -> dict[str, Any]:
    """An object schema; every property is required unless ``required`` says otherwise."""
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required, **extra}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(name)}


ERROR = obj({"error": {"type": "string"},
             "errors": {"type": "array", "items": obj({"path": {"type": "string"},
                                                       "reason": {"type": "string"}})}},
            required=["error"])

PROCESS = obj({
    "id": {"type": "integer"}, "uid": {"type": "string"}, "name": {"type": "string"},
    "description": NULLABLE_STR, "template_id": NULLABLE_INT, "created_by": NULLABLE_INT,
    "created_at": TIME, "updated_at": TIME, "is_active": {"type": "boolean"},
    "execution_count": {"type": "integer"}, "last_executed": TIME,
    "success_rate": {"type": "number"}, "avg_execution_time": {"type": ["number", "null"]},
    "success_count": {"type": "integer"}, "mode": {"type": "string"}, "max": {"type": "integer"},
    "stations": {"type": "array", "items": {"type": "string"}}, "version": {"type": "integer"},
    "paused": {"type": "boolean"}, "pause_reason": NULLABLE_STR,
})

TRIGGER = obj({
    "id": {"type": "integer"}, "uid": {"type": "string"}, "trigger_type": {"type": "string"},
    "trigger_config": {"type": "object"}, "conditions": ANY, "priority": {"type": "integer"},
    "is_active": {"type": "boolean"}, "created_at": TIME,
})

ACTION = obj({
    "id": {"type": "integer"}, "uid": {"type": "string"}, "action_type": {"type": "string"},
    "action_config": {"type": "object"}, "conditions": ANY, "action_order": {"type": "integer"},
    "timeout_seconds": {"type": "integer"}, "retry_count": {"type": "integer"},
    "created_at": TIME,
})

PROCESS_DETAIL = {"allOf": [ref("Process"), obj({"triggers": array_of("ProcessTrigger"),
                                                 "actions": array_of("ProcessAction")})]}

EXECUTION = obj({
    "id": {"type": "integer"}, "uid": {"type": "string"}, "process_id": {"type": "integer"},
    "process_uid": {"type": "string"}, "process_name": NULLABLE_STR,
    "process_version": {"type": "integer"}, "station_id": {"type": "string"},
    "triggered_by": NULLABLE_STR, "trigger_type": NULLABLE_STR, "trigger_event": ANY,
    "started_at": TIME, "completed_at": TIME, "status": {"type": "string"},
    "error_message": NULLABLE_STR, "execution_time_ms": NULLABLE_INT,
    "steps_completed": {"type": "integer"}, "total_steps": NULLABLE_INT, "resume_at": TIME,
    "updated_at": TIME,
})

STEP = obj({
    "id": {"type": "integer"}, "uid": {"type": "string"}, "execution_id": {"type": "integer"},
    "action_id": {"type": "integer"}, "action_uid": {"type": "string"},
    "action_order": {"type": "integer"}, "action_type": {"type": "string"}, "started_at": TIME,
    "completed_at": TIME, "status": {"type": "string"}, "result": ANY,
    "error_message": NULLABLE_STR, "execution_time_ms": NULLABLE_INT,
    "retry_count": {"type": "integer"},
})

LOG_LINE = obj({"seq": {"type": "integer"}, "at": TIME, "level": {"type": "string"},
                "step": NULLABLE_INT, "message": {"type": "string"}})

TEMPLATE = obj({
    "id": {"type": "integer"}, "uid": {"type": "string"}, "name": {"type": "string"},
    "description": NULLABLE_STR, "category": NULLABLE_STR, "template_data": {"type": "object"},
    "usage_count": {"type": "integer"}, "created_by": NULLABLE_INT, "created_at": TIME,
    "updated_at": TIME, "is_public": {"type": "boolean"},
})

USER = obj({"id": {"type": "integer"}, "uid": {"type": "string"},
            "username": {"type": "string"}, "role": {"type": "string"},
            "is_active": {"type": "boolean"}, "created_at": TIME})

MESSAGE = obj({"message": {"type": "string"}})


def process_definition_schemas() -> dict[str, dict[str, Any]]:
    """The process-definition JSON Schema as OpenAPI components.

    agent.definitions.definition_schema() is the one source; its ``$defs`` move to
    components (ProcessCondition) and its document keywords ($schema, $id) are dropped.
    """
    schema = copy.deepcopy(definition_schema())
    defs = schema.pop("$defs", {})
    schema.pop("$schema", None)
    schema.pop("$id", None)
    names = {name: "Process" + name[:1].upper() + name[1:] for name in defs}

    def rewrite(value: Any) -> Any:
        text = json.dumps(value)
        for name, component in names.items():
            text = text.replace(f'"#/$defs/{name}"', f'"#/components/schemas/{component}"')
        return json.loads(text)

    out = {"ProcessDefinition": rewrite(schema)}
    for name, body in defs.items():
        out[names[name]] = rewrite(body)
    return out


COMMON_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": ERROR,
    "Message": MESSAGE,
    "Process": PROCESS,
    "ProcessTrigger": TRIGGER,
    "ProcessAction": ACTION,
    "ProcessDetail": PROCESS_DETAIL,
    "Execution": EXECUTION,
    "ExecutionStep": STEP,
    "ExecutionLogLine": LOG_LINE,
    "Template": TEMPLATE,
    "AdminUser": USER,
}

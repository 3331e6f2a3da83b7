"""The process-definition format: its JSON Schema, validation and normalisation.

One format everywhere (command line, agent, central API, web builder): the seed's create body
with the spec's column names, plus ``mode``, ``max`` and ``stations``. The schema is generated
from the trigger, action and condition registries and published as
``docs/process-definition.schema.json`` (a test keeps the file equal to this code).
Errors name the exact place: ``actions[2].action_config.text: required``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import jsonschema

from agent.engine import templating
from agent.engine.conditions import ConditionError, compile_condition, condition_schema
from agent.engine.registry import ACTION_TYPES, TRIGGER_TYPES, load_builtin_types

MODES = ("single", "restart", "queued", "parallel")
NAME_PATTERN = r"^[^\x00-\x1f]{1,200}$"
SLUG = re.compile(r"[^a-z0-9]+")


class DefinitionError(ValueError):
    """A definition that cannot be stored; ``errors`` lists (path, reason) pairs."""

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors = sorted(set(errors))
        super().__init__("; ".join(f"{p}: {r}" for p, r in self.errors))

    def as_json(self) -> list[dict[str, str]]:
        return [{"path": p, "reason": r} for p, r in self.errors]


def _type_rules(kind: str, registry: dict[str, Any]) -> list[dict[str, Any]]:
    type_key, config_key = f"{kind}_type", f"{kind}_config"
    return [
        {
            "if": {"required": [type_key], "properties": {type_key: {"const": name}}},
            "then": {"properties": {config_key: cls.CONFIG_SCHEMA}},
        }
        for name, cls in sorted(registry.items())
    ]


@cache
def definition_schema() -> dict[str, Any]:
    """The JSON Schema document of a process definition."""
    load_builtin_types()
    condition_ref = {"$ref": "#/$defs/condition"}
    trigger = {
        "type": "object",
        "required": ["trigger_type"],
        "properties": {
            "uid": {"type": "string", "maxLength": 64},
            "trigger_type": {"enum": sorted(TRIGGER_TYPES)},
            "trigger_config": {"type": "object"},
            "conditions": condition_ref,
            "priority": {"type": "integer", "minimum": -1000, "maximum": 1000},
            "is_active": {"type": "boolean"},
        },
        "additionalProperties": False,
        "allOf": _type_rules("trigger", TRIGGER_TYPES),
    }
    action = {
        "type": "object",
        "required": ["action_type"],
        "properties": {
            "uid": {"type": "string", "maxLength": 64},
            "action_type": {"enum": sorted(ACTION_TYPES)},
            "action_config": {"type": "object"},
            "conditions": condition_ref,
            "action_order": {"type": "integer", "minimum": 0, "maximum": 10000},
            "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 86400},
            "retry_count": {"type": "integer", "minimum": 0, "maximum": 10},
        },
        "additionalProperties": False,
        "allOf": _type_rules("action", ACTION_TYPES),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://firefly.invalid/schemas/process-definition.json",
        "title": "Firefly process definition",
        "type": "object",
        "required": ["name", "triggers", "actions"],
        "properties": {
            "uid": {"type": "string", "maxLength": 64},
            "version": {"type": "integer"},
            "name": {"type": "string", "pattern": NAME_PATTERN},
            "description": {"type": ["string", "null"], "maxLength": 2000},
            "is_active": {"type": "boolean"},
            "template_id": {"type": ["integer", "null"]},
            "mode": {"enum": list(MODES)},
            "max": {"type": "integer", "minimum": 1, "maximum": 1000},
            "stations": {
                "type": "array",
                "items": {"type": "string", "pattern": r"^(\*|[A-Za-z0-9_.\-]{1,64})$"},
                "uniqueItems": True,
            },
            "triggers": {"type": "array", "items": trigger, "minItems": 1, "maxItems": 50},
            "actions": {"type": "array", "items": action, "minItems": 1, "maxItems": 100},
        },
        "additionalProperties": False,
        "$defs": {"condition": condition_schema()},
    }


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = definition_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)  # type: ignore[no-any-return]


def format_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _reason(error: jsonschema.ValidationError) -> tuple[str, str]:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = re.match(r"'([^']+)' is a required property", error.message)
        if missing:
            return format_path([*path, missing.group(1)]), "required"
    if error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message)
        return format_path(path), f"unknown field {', '.join(extra)}" if extra else error.message
    if error.validator == "enum":
        return format_path(path), "must be one of " + ", ".join(
            map(str, list(error.validator_value)))  # type: ignore[arg-type]
    if error.validator == "const":
        return format_path(path), f"must be {error.validator_value!r}"
    return format_path(path), error.message


def _leaf_errors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    if error.context:
        return [leaf for sub in error.context for leaf in _leaf_errors(sub)]
    return [error]


def validate_definition(data: Any) -> dict[str, Any]:
    """Check a definition and return it normalised (defaults filled, actions ordered).

    Raises DefinitionError listing every problem with its path.
    """
    if not isinstance(data, dict):
        raise DefinitionError([("(root)", "a process definition is a JSON object")])
    errors = [_reason(leaf) for e in _validator().iter_errors(data) for leaf in _leaf_errors(e)]
    if errors:
        raise DefinitionError(errors)
    definition = normalise(data)
    errors += _semantic_errors(definition)
    if errors:
        raise DefinitionError(errors)
    return definition


def normalise(data: dict[str, Any]) -> dict[str, Any]:
    d: dict[str, Any] = json.loads(json.dumps(data))  # a deep copy with no shared items
    d.setdefault("description", None)
    d.setdefault("is_active", True)
    d.setdefault("mode", "single")
    d.setdefault("max", 10)
    d.setdefault("stations", ["*"])
    for t in d["triggers"]:
        t.setdefault("trigger_config", {})
        t.setdefault("conditions", None)
        t.setdefault("priority", 0)
        t.setdefault("is_active", True)
    for i, a in enumerate(d["actions"]):
        a.setdefault("action_config", {})
        a.setdefault("conditions", None)
        a.setdefault("action_order", i + 1)
        a.setdefault("timeout_seconds", 30)
        a.setdefault("retry_count", 0)
    d["actions"].sort(key=lambda a: a["action_order"])
    return d


def _semantic_errors(d: dict[str, Any]) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    orders = [a["action_order"] for a in d["actions"]]
    if len(set(orders)) != len(orders):
        errors.append(("actions", "action_order values must be unique"))
    for kind, items in (("triggers", d["triggers"]), ("actions", d["actions"])):
        for i, item in enumerate(items):
            try:
                compile_condition(item["conditions"], f"{kind}[{i}].conditions")
            except ConditionError as exc:
                where, _, reason = str(exc).partition(": ")
                errors.append((where, reason))
    for i, a in enumerate(d["actions"]):
        cls = ACTION_TYPES[a["action_type"]]
        errors += _config_errors(cls.CONFIG_SCHEMA, a["action_config"],
                                 f"actions[{i}].action_config")
        errors += templating.check_config(a["action_config"], f"actions[{i}].action_config")
        errors += [
            (f"actions[{i}].action_config.{p}", r)
            for p, r in cls().validate_extra(a["action_config"])
        ]
    for i, t in enumerate(d["triggers"]):
        missing = _config_errors(TRIGGER_TYPES[t["trigger_type"]].CONFIG_SCHEMA,
                                 t["trigger_config"], f"triggers[{i}].trigger_config")
        errors += missing
        try:
            if not missing:
                TRIGGER_TYPES[t["trigger_type"]](t["trigger_config"], process_uid="",
                                                 trigger_uid="")
        except ValueError as exc:
            errors.append((f"triggers[{i}].trigger_config", str(exc)))
    return errors


def _config_errors(schema: dict[str, Any], config: Any, where: str) -> list[tuple[str, str]]:
    """A config left out (defaulted to {}) still has to satisfy its type's schema."""
    out = []
    for error in jsonschema.Draft202012Validator(schema).iter_errors(config):
        for leaf in _leaf_errors(error):
            path, reason = _reason(leaf)
            out.append((where if path == "(root)" else f"{where}.{path}", reason))
    return out


def needs_radio(definition: dict[str, Any]) -> bool:
    return any(ACTION_TYPES[a["action_type"]].needs_radio for a in definition["actions"])


def slug(name: str) -> str:
    """A process name as typed on a handset: ``Evac North`` -> ``evac-north``."""
    return SLUG.sub("-", name.casefold()).strip("-")


if __name__ == "__main__":
    import sys

    json.dump(definition_schema(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")

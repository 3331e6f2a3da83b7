"""Conditions: a JSON tree compiled once into a checker, evaluated without re-parsing.

Shape::

    {"all": [c, ...]}   {"any": [c, ...]}   {"not": c}   [c, ...] (same as "all")
    {"field": "event.text", "op": "contains", "value": "sos", "case_sensitive": false}
    {"op": "time_window", "after": "19:00", "before": "06:00", "timezone": "Europe/Zurich"}

Operators live in ``CONDITION_OPS`` (name -> compiler with its JSON Schema): the comparisons
here, domain operators registered by the station modules. A condition that cannot be evaluated
(missing field, wrong type) raises ``ConditionError``: it is reported, never silently false.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.engine.templating import _MISSING, _lookup


class ConditionError(Exception):
    """The condition could not be evaluated; the message says which and why."""


@dataclass(frozen=True)
class ConditionContext:
    variables: dict[str, Any]  # event, steps, process, station
    services: Any = None  # the station's modules, for domain operators
    now: dt.datetime | None = None  # aware UTC time, for time windows; None: the real clock


Checker = Callable[[ConditionContext], bool]
Compiler = Callable[[dict[str, Any], str], Checker]


@dataclass(frozen=True)
class ConditionOp:
    name: str
    compile: Compiler
    schema: dict[str, Any]  # JSON Schema of the leaf (without "op")
    description: str


CONDITION_OPS: dict[str, ConditionOp] = {}


def register_op(name: str, schema: dict[str, Any], description: str) -> Callable[[Compiler], Compiler]:
    def decorate(fn: Compiler) -> Compiler:
        CONDITION_OPS[name] = ConditionOp(name, fn, schema, description)
        return fn

    return decorate


def field_value(ctx: ConditionContext, path: str, where: str) -> Any:
    value = _lookup(ctx.variables, path)
    if value is _MISSING:
        raise ConditionError(f"{where}: field {path!r} is missing")
    return value


# -- comparisons ---------------------------------------------------------------------------

_FIELD_PROPS: dict[str, Any] = {
    "field": {"type": "string", "minLength": 1},
    "op": {"type": "string"},
    "value": {},
    "case_sensitive": {"type": "boolean"},
}
_FIELD_LEAF: dict[str, Any] = {
    "type": "object",
    "required": ["field", "op"],
    "properties": _FIELD_PROPS,
    "additionalProperties": False,
}


def _comparison(name: str, test: Callable[[Any, Any], bool], description: str) -> None:
    def compile_leaf(node: dict[str, Any], where: str) -> Checker:
        path = node["field"]
        expected = node.get("value")
        fold = not node.get("case_sensitive", True)
        if fold and isinstance(expected, str):
            expected = expected.casefold()

        def check(ctx: ConditionContext) -> bool:
            actual = field_value(ctx, path, where)
            if fold and isinstance(actual, str):
                actual = actual.casefold()
            try:
                return bool(test(actual, expected))
            except TypeError as exc:
                raise ConditionError(
                    f"{where}: cannot compare {path}={actual!r} with {expected!r} ({name})"
                ) from exc

        return check

    register_op(name, _FIELD_LEAF, description)(compile_leaf)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str | list | dict):
        if isinstance(actual, list) and isinstance(expected, str):
            return any(isinstance(a, str) and a.casefold() == expected.casefold() for a in actual)
        return expected in actual
    raise TypeError


def _starts_with(actual: Any, expected: Any) -> bool:
    if not isinstance(actual, str) or not isinstance(expected, str):
        raise TypeError
    return actual.startswith(expected)


_comparison("eq", lambda a, b: a == b, "equal")
_comparison("ne", lambda a, b: a != b, "not equal")
_comparison("gt", lambda a, b: a > b, "greater than")
_comparison("gte", lambda a, b: a >= b, "greater than or equal")
_comparison("lt", lambda a, b: a < b, "less than")
_comparison("lte", lambda a, b: a <= b, "less than or equal")
_comparison("contains", _contains, "text contains a substring, or a list contains an item")
_comparison("starts_with", _starts_with, "text starts with")


def _in(actual: Any, expected: Any) -> bool:
    if not isinstance(expected, list | str):
        raise TypeError
    if isinstance(actual, str):
        return any(isinstance(e, str) and e.casefold() == actual.casefold() for e in expected) \
            if isinstance(expected, list) else actual in expected
    return actual in expected


_comparison("in", _in, "value is one of a list")


@register_op("matches", _FIELD_LEAF, "text matches a regular expression (search)")
def _compile_matches(node: dict[str, Any], where: str) -> Checker:
    flags = 0 if node.get("case_sensitive", False) else re.IGNORECASE
    try:
        pattern = re.compile(str(node.get("value", "")), flags)
    except re.error as exc:
        raise ConditionError(f"{where}.value: invalid regular expression: {exc}") from exc
    path = node["field"]

    def check(ctx: ConditionContext) -> bool:
        actual = field_value(ctx, path, where)
        if not isinstance(actual, str):
            raise ConditionError(f"{where}: {path} is not text")
        return pattern.search(actual[:4096]) is not None

    return check


@register_op(
    "exists",
    {**_FIELD_LEAF, "properties": {**_FIELD_PROPS, "value": {"type": "boolean"}}},
    "the field is present (value: false for absent)",
)
def _compile_exists(node: dict[str, Any], where: str) -> Checker:
    path, wanted = node["field"], node.get("value", True)

    def check(ctx: ConditionContext) -> bool:
        value = _lookup(ctx.variables, path)
        return bool((value is not _MISSING and value is not None) == wanted)

    return check


# -- time windows --------------------------------------------------------------------------

_HHMM = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@register_op(
    "time_window",
    {
        "type": "object",
        "required": ["op"],
        "properties": {
            "op": {"type": "string"},
            "after": _HHMM,
            "before": _HHMM,
            "weekdays": {"type": "array", "items": {"enum": _WEEKDAYS}, "uniqueItems": True},
            "timezone": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "local time is within [after, before) (may wrap midnight), on the given weekdays",
)
def _compile_time_window(node: dict[str, Any], where: str) -> Checker:
    try:
        zone = ZoneInfo(node.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConditionError(f"{where}.timezone: unknown time zone {node.get('timezone')!r}") \
            from exc
    after = dt.time.fromisoformat(node.get("after", "00:00"))
    before = dt.time.fromisoformat(node["before"]) if "before" in node else None
    weekdays = {_WEEKDAYS.index(d) for d in node.get("weekdays", _WEEKDAYS)}

    def check(ctx: ConditionContext) -> bool:
        now = (ctx.now or dt.datetime.now(dt.UTC)).astimezone(zone)
        t = now.time().replace(tzinfo=None)
        if before is None:
            inside = t >= after
        elif after <= before:
            inside = after <= t < before
        else:  # wraps midnight
            inside = t >= after or t < before
        return inside and now.weekday() in weekdays

    return check


# -- compile --------------------------------------------------------------------------------

def compile_condition(node: Any, where: str = "conditions") -> Checker:
    """Compile a condition tree; raises ConditionError naming the path of a bad node."""
    if node is None:
        return lambda ctx: True
    if isinstance(node, list):
        return compile_condition({"all": node}, where)
    if not isinstance(node, dict):
        raise ConditionError(f"{where}: a condition is an object or a list")
    if "all" in node or "any" in node:
        key = "all" if "all" in node else "any"
        children = [compile_condition(c, f"{where}.{key}[{i}]") for i, c in enumerate(node[key])]
        if key == "all":
            return lambda ctx: all(c(ctx) for c in children)
        return lambda ctx: any(c(ctx) for c in children)
    if "not" in node:
        inner = compile_condition(node["not"], f"{where}.not")
        return lambda ctx: not inner(ctx)
    op = node.get("op")
    if op not in CONDITION_OPS:
        raise ConditionError(f"{where}.op: unknown operator {op!r}")
    return CONDITION_OPS[op].compile(node, where)


def condition_schema() -> dict[str, Any]:
    """The JSON Schema of a condition tree, built from the registered operators.

    Written with if/then rather than anyOf so a validator names the exact field at fault.
    """
    ref = {"$ref": "#/$defs/condition"}
    groups = ("all", "any", "not")
    rules: list[dict[str, Any]] = [
        {
            "if": {"type": "object", "required": [key]},
            "then": {
                "properties": {key: ref if key == "not" else {"type": "array", "items": ref}},
                "maxProperties": 1,
            },
        }
        for key in groups
    ]
    rules.append(
        {
            "if": {"type": "object", "not": {"anyOf": [{"required": [k]} for k in groups]}},
            "then": {"required": ["op"], "properties": {"op": {"enum": sorted(CONDITION_OPS)}}},
        }
    )
    for op in sorted(CONDITION_OPS.values(), key=lambda o: o.name):
        rules.append(
            {
                "if": {"type": "object", "required": ["op"], "properties": {"op": {"const": op.name}}},
                "then": {**op.schema, "description": op.description},
            }
        )
    return {"type": ["object", "array", "null"], "items": ref, "allOf": rules}

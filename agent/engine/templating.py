"""Sandboxed text templates for action fields: ``Help is coming, {{ event.from_name }}``.

A template may only look up keys of dicts and indexes of lists in the variables it is given
(``event``, ``steps``, ``process``, ``station``, ``trigger``), then apply filters from a fixed
list. There is no attribute access, no call, no loop: a hostile template or a hostile event
text cannot run code or read anything else, and the output is bounded in size.

A string that is exactly one ``{{ ... }}`` renders to the value itself (a list stays a list), so
``"to": "{{ steps.1.result.users }}"`` hands a list to the next action.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

MAX_OUTPUT_CHARS = 4096
MAX_TEMPLATE_CHARS = 4096

_EXPR = re.compile(r"\{\{((?:(?!\}\}|\{\{).)*)\}\}", re.DOTALL)
_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]+$")
_FILTER = re.compile(r"^\s*([a-z_]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)


class TemplateError(Exception):
    """A template that cannot be parsed or rendered; the message says where and why."""


_MISSING = object()


def _lookup(variables: dict[str, Any], path: str) -> Any:
    value: Any = variables
    for segment in path.split("."):
        if not _SEGMENT.match(segment):
            raise TemplateError(f"invalid name {segment!r} in {path!r}")
        if isinstance(value, dict):
            value = value.get(segment, _MISSING)
        elif isinstance(value, list) and segment.lstrip("-").isdigit():
            index = int(segment)
            value = value[index] if -len(value) <= index < len(value) else _MISSING
        else:
            value = _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _to_text(value: Any) -> str:
    if value is None or value is _MISSING:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_to_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _parse_literal(text: str) -> Any:
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        if len(text) >= 2 and text[0] == text[-1] == "'":
            return text[1:-1]
        raise TemplateError(f"filter argument {text!r} is not a literal") from None


def _round(value: Any, digits: Any = 0) -> Any:
    try:
        return round(float(value), int(digits or 0))
    except (TypeError, ValueError):
        return value


def _truncate(value: Any, length: Any = 80) -> str:
    text = _to_text(value)
    n = max(1, int(length))
    return text if len(text) <= n else text[: n - 1] + "…"


FILTERS: dict[str, Callable[..., Any]] = {
    "upper": lambda v: _to_text(v).upper(),
    "lower": lambda v: _to_text(v).lower(),
    "title": lambda v: _to_text(v).title(),
    "trim": lambda v: _to_text(v).strip(),
    "default": lambda v, d="": d if v is _MISSING or v is None or v == "" else v,
    "join": lambda v, sep=", ": sep.join(_to_text(x) for x in v) if isinstance(v, list) else v,
    "length": lambda v: len(v) if isinstance(v, list | dict | str) else 0,
    "round": _round,
    "truncate": _truncate,
    "json": lambda v: json.dumps(None if v is _MISSING else v, sort_keys=True),
    "first": lambda v: v[0] if isinstance(v, list) and v else _MISSING,
    "last": lambda v: v[-1] if isinstance(v, list) and v else _MISSING,
}


def _evaluate(expression: str, variables: dict[str, Any]) -> Any:
    path, *filters = expression.split("|")
    value = _lookup(variables, path.strip())
    for item in filters:
        match = _FILTER.match(item)
        if not match or match.group(1) not in FILTERS:
            raise TemplateError(f"unknown filter {item.strip()!r}")
        args = [] if match.group(2) is None else [_parse_literal(match.group(2))]
        value = FILTERS[match.group(1)](value, *args)
    return value


def check(template: str) -> None:
    """Raise TemplateError if ``template`` cannot be rendered by this engine."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"template longer than {MAX_TEMPLATE_CHARS} characters")
    for match in _EXPR.finditer(template):
        path, *filters = match.group(1).split("|")
        for segment in path.strip().split("."):
            if not _SEGMENT.match(segment):
                raise TemplateError(f"invalid name {segment!r} in {{{{{match.group(1)}}}}}")
        for item in filters:
            filter_match = _FILTER.match(item)
            if not filter_match or filter_match.group(1) not in FILTERS:
                raise TemplateError(f"unknown filter {item.strip()!r}")
            if filter_match.group(2) is not None:
                _parse_literal(filter_match.group(2))


def render(template: str, variables: dict[str, Any]) -> Any:
    """Render one template string; see the module docstring for the rules."""
    if "{{" not in template:
        return template
    check(template)
    whole = _EXPR.fullmatch(template.strip())
    if whole:
        value = _evaluate(whole.group(1), variables)
        if value is _MISSING:
            return None
        if isinstance(value, str) and len(value) > MAX_OUTPUT_CHARS:
            raise TemplateError(f"output longer than {MAX_OUTPUT_CHARS} characters")
        return value
    out = _EXPR.sub(lambda m: _to_text(_evaluate(m.group(1), variables)), template)
    if len(out) > MAX_OUTPUT_CHARS:
        raise TemplateError(f"output longer than {MAX_OUTPUT_CHARS} characters")
    return out


def render_config(config: Any, variables: dict[str, Any]) -> Any:
    """Render every string inside a JSON value (dicts and lists walked, keys left alone)."""
    if isinstance(config, str):
        return render(config, variables)
    if isinstance(config, dict):
        return {k: render_config(v, variables) for k, v in config.items()}
    if isinstance(config, list):
        return [render_config(v, variables) for v in config]
    return config


def check_config(config: Any, path: str) -> list[tuple[str, str]]:
    """Template errors in a JSON value, as (path, reason) pairs."""
    errors: list[tuple[str, str]] = []
    if isinstance(config, str):
        try:
            check(config)
        except TemplateError as exc:
            errors.append((path, str(exc)))
    elif isinstance(config, dict):
        for key, value in config.items():
            errors += check_config(value, f"{path}.{key}")
    elif isinstance(config, list):
        for i, value in enumerate(config):
            errors += check_config(value, f"{path}[{i}]")
    return errors

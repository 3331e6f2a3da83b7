"""Conditions and templates: evaluation, 'cannot evaluate' as an error, and hostile input."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.engine.conditions import ConditionContext, ConditionError, compile_condition
from agent.engine.templating import MAX_OUTPUT_CHARS, TemplateError, render, render_config

EVENT = {"event": {"text": "SOS need help", "from_name": "Ann", "snr": 5.5, "hops": 2,
                   "tags": ["hiker", "north"]},
         "steps": {"1": {"result": {"users": ["Bo", "Cy"], "count": 2}}}}


def check(node: object, variables: dict | None = None, now: dt.datetime | None = None) -> bool:
    return compile_condition(node)(ConditionContext(variables or EVENT, None, now))


@pytest.mark.parametrize(("node", "expected"), [
    ({"field": "event.text", "op": "contains", "value": "sos", "case_sensitive": False}, True),
    ({"field": "event.text", "op": "contains", "value": "sos"}, False),
    ({"field": "event.text", "op": "starts_with", "value": "SOS"}, True),
    ({"field": "event.text", "op": "matches", "value": r"^s\w+\b"}, True),
    ({"field": "event.snr", "op": "gt", "value": 5}, True),
    ({"field": "event.snr", "op": "lte", "value": 5}, False),
    ({"field": "event.hops", "op": "in", "value": [1, 2, 3]}, True),
    ({"field": "event.from_name", "op": "in", "value": ["ann", "bo"]}, True),
    ({"field": "event.tags", "op": "contains", "value": "North"}, True),
    ({"field": "event.from_name", "op": "ne", "value": "Bo"}, True),
    ({"field": "event.missing", "op": "exists"}, False),
    ({"field": "event.text", "op": "exists"}, True),
    ({"field": "steps.1.result.count", "op": "eq", "value": 2}, True),
    ({"any": [{"field": "event.hops", "op": "gt", "value": 5},
              {"all": [{"field": "event.snr", "op": "gt", "value": 1},
                       {"not": {"field": "event.from_name", "op": "eq", "value": "Bo"}}]}]}, True),
    ([{"field": "event.hops", "op": "eq", "value": 2}, {"field": "event.snr", "op": "lt", "value": 0}],
     False),
    (None, True),
])
def test_condition_operators(node: object, expected: bool) -> None:
    assert check(node) is expected


def test_missing_field_cannot_be_evaluated_rather_than_false() -> None:
    with pytest.raises(ConditionError, match=r"event\.battery.*missing"):
        check({"field": "event.battery", "op": "lt", "value": 20})


def test_wrong_type_cannot_be_evaluated() -> None:
    with pytest.raises(ConditionError, match="cannot compare"):
        check({"field": "event.text", "op": "gt", "value": 3})


def test_time_window_wraps_midnight_in_the_stations_time_zone() -> None:
    window = {"op": "time_window", "after": "19:00", "before": "06:00", "timezone": "Europe/Zurich"}
    winter_evening = dt.datetime(2026, 12, 1, 19, 30, tzinfo=dt.UTC)  # 20:30 in Zurich
    noon = dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.UTC)
    assert check(window, now=winter_evening) is True
    assert check(window, now=noon) is False
    weekend = {**window, "weekdays": ["sat", "sun"]}
    assert check(weekend, now=winter_evening) is False  # a Tuesday


def test_unknown_operator_names_its_path() -> None:
    with pytest.raises(ConditionError, match=r"conditions\.all\[1\]\.op"):
        compile_condition({"all": [{"field": "a", "op": "eq"}, {"field": "a", "op": "~"}]})


def test_templates_render_event_and_step_fields() -> None:
    assert render("Help is coming, {{ event.from_name }}!", EVENT) == "Help is coming, Ann!"
    assert render("{{ steps.1.result.users | join(' & ') }}", EVENT) == "Bo & Cy"
    assert render("{{ event.nothing | default('unknown') }}", EVENT) == "unknown"
    assert render("{{ event.text | upper | truncate(8) }}", EVENT) == "SOS NEE…"
    assert render("{{ steps.1.result.users }}", EVENT) == ["Bo", "Cy"]  # whole value kept
    assert render_config({"to": ["{{ event.from_name }}"], "n": 3}, EVENT) == {"to": ["Ann"], "n": 3}


@pytest.mark.parametrize("hostile", [
    "{{ event.__class__ }}",
    "{{ event.text.__class__.__mro__ }}",
    "{{ ''.join }}",
    "{{ event.text() }}",
    "{{ __import__('os').system('echo pwned') }}",
    "{{ event.text | attr('upper') }}",
    "{{ event['text'] }}",
])
def test_hostile_templates_cannot_reach_python(hostile: str) -> None:
    try:
        out = render(hostile, EVENT)
    except TemplateError:
        return
    assert out in (None, ""), f"{hostile!r} rendered {out!r}"


def test_hostile_event_text_is_only_text() -> None:
    variables = {"event": {"text": "{{ event.secret }} {% import os %} ${HOME}", "secret": "x"}}
    assert render("got: {{ event.text }}", variables) == "got: {{ event.secret }} {% import os %} ${HOME}"


def test_output_is_bounded() -> None:
    big = {"event": {"text": "x" * 3000}}
    with pytest.raises(TemplateError, match="longer than"):
        render("{{ event.text }}{{ event.text }}", big)
    assert len(render("{{ event.text }}", big)) <= MAX_OUTPUT_CHARS

"""Bots: message rules answer through the radio's queue, with cooldowns; bot actions; CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main as cli_main
from agent.core.module_models import BotCooldown
from agent.core.station_models import OutboundMessage
from agent.modules.fleet import InvalidRecord
from tests.modules.modules_support import Station, logging_process, manual

RULES: list[dict[str, Any]] = [
    {"name": "sos", "match": "keyword", "pattern": "sos", "priority": "emergency",
     "reply": "Help is coming, {{ event.from_name }}. Stay where you are.",
     "cooldown_seconds": 300},
    {"name": "weather", "match": "command", "pattern": "!weather",
     "reply": "{{ match.args | default('here') }}: sunny at {{ station.id }}"},
    {"name": "ping", "match": "regex", "pattern": r"^ping (?P<n>\d+)$", "reply_to": "channel",
     "reply": "pong {{ match.named.n }}", "cooldown_seconds": 0},
]


def _bot(station: Station, name: str = "helpdesk", rules: list[dict[str, Any]] | None = None,
         **extra: Any) -> Any:
    bots = station.modules["bots"]
    return station.call(lambda: bots.create({"name": name, "rules": rules or RULES, **extra}))


def _text(station: Station, sender: str, text: str, name: str = "Ana") -> None:
    station.submit("message_received", {"text": text, "from_id": sender, "from_name": name,
                                        "channel": 0, "to_id": "^all", "direct": False},
                   triggered_by=sender)


def _outbound(station: Station) -> list[tuple[str, str, int]]:
    return station.engine.call(lambda: [
        (m.destination, m.text, m.priority)
        for m in OutboundMessage.select().order_by(OutboundMessage.id)]).result()


def test_rules_answer_through_the_radio_queue_with_a_cooldown(station: Station) -> None:
    assert station.modules.get("radio") is not None, "the radio module queues the replies"
    _bot(station)
    _bot(station, "sleeping", [{**RULES[0], "reply": "zzz"}], is_active=False)
    fired = station.process(logging_process("bot fired", "bot_trigger_fired",
                                            {"bot": "HelpDesk", "rule": "sos"}))
    _text(station, "!0000f001", "I need SOS now")
    _text(station, "!0000f001", "sos sos")  # the same sender again: cooling down
    _text(station, "!0000f002", "SOS!", name="Ben")  # another sender: answered
    _text(station, "!0000f001", "sosa tastes good")  # not the whole word
    _text(station, "!0000f003", "!weather north ridge")
    _text(station, "!0000f003", "ping 42")
    _text(station, "!0000f003", "ping me")
    runs = station.wait_executions(fired, 2)
    assert _outbound(station) == [
        ("!0000f001", "Help is coming, Ana. Stay where you are.", 0),
        ("!0000f002", "Help is coming, Ben. Stay where you are.", 0),
        ("!0000f003", "north ridge: sunny at field-1", 5),
        ("^all", "pong 42", 5),
    ]
    data = runs[0].trigger_event["data"]
    assert (data["bot"], data["rule"], data["sender"], data["text"]) == \
        ("helpdesk", "sos", "!0000f001", "I need SOS now")
    assert data["queued"] is True and data["outcome"] == "queued"
    assert data["reply"] == "Help is coming, Ana. Stay where you are."
    cooldown = station.engine.call(lambda: BotCooldown.get(
        (BotCooldown.rule == "sos") & (BotCooldown.sender == "!0000f001"))).result()
    assert cooldown.fired_count == 1


def test_without_a_radio_the_reply_is_recorded_not_sent(station: Station) -> None:
    station.modules.pop("radio")
    _bot(station)
    fired = station.process(logging_process("bot fired", "bot_trigger_fired", {"bot": "helpdesk"}))
    _text(station, "!0000f00a", "!weather")
    [run] = station.wait_executions(fired, 1)
    assert run.trigger_event["data"]["queued"] is False
    assert run.trigger_event["data"]["outcome"] == "radio: not available, not sent"
    row = station.engine.call(lambda: BotCooldown.get(BotCooldown.sender == "!0000f00a")).result()
    assert (row.last_reply, row.last_outcome) == ("here: sunny at field-1",
                                                  "radio: not available, not sent")
    assert _outbound(station) == []


def test_trigger_bot_and_trigger_bot_response_actions(station: Station) -> None:
    _bot(station)
    fired = station.process(logging_process("bot fired", "bot_trigger_fired"))
    uid = station.process(manual("ask the bot", [
        {"action_type": "trigger_bot", "action_config": {
            "bot": "helpdesk", "text": "{{ event.text }}", "sender": "{{ event.from_id }}"}},
        {"action_type": "trigger_bot", "action_config": {
            "bot": "helpdesk", "text": "nothing to see", "sender": "{{ event.from_id }}"}},
        {"action_type": "trigger_bot_response", "action_config": {
            "bot": "helpdesk", "rule": "sos", "to": "!0000f0ff", "send": False}},
        {"action_type": "trigger_bot_response", "action_config": {
            "bot": "helpdesk", "rule": "weather", "sender": "{{ event.from_id }}",
            "text": "{{ event.text }}"}},
    ]))
    station.engine.run_process(uid, {"text": "!weather valley", "from_id": "!0000f0a1"})
    [run] = station.wait_executions(uid, 1)
    assert run.status == "completed", run.error_message
    asked, nothing, unsent, canned = (s.result for s in station.steps(run.id))
    assert (asked["matched"], asked["rule"], asked["reply"]) == \
        (True, "weather", "valley: sunny at field-1")
    assert nothing == {"matched": False, "bot": "helpdesk", "bot_uid": asked["bot_uid"],
                       "rule": None, "reply": None, "queued": False,
                       "outcome": "no rule matched"}
    assert (unsent["destination"], unsent["queued"], unsent["outcome"]) == \
        ("!0000f0ff", False, "not sent (send: false)")
    assert canned["reply"] == "here: sunny at field-1" and canned["destination"] == "!0000f0a1"
    # the two sent replies are in the radio queue; the one with send: false is not
    assert _outbound(station) == [("!0000f0a1", "valley: sunny at field-1", 5),
                                  ("!0000f0a1", "here: sunny at field-1", 5)]
    assert len(station.wait_executions(fired, 3)) == 3


def test_invalid_rules_are_refused_with_their_place(station: Station) -> None:
    bots = station.modules["bots"]
    for rules, problem in (
        ([{**RULES[0], "match": "fuzzy"}], "rules[0].match"),
        ([RULES[0], {**RULES[2], "pattern": "(unclosed"}], "rules[1].pattern: invalid regular"),
        ([RULES[0], RULES[0]], "rules[1].name: 'sos' is used twice"),
        ([{**RULES[1], "reply": "{{ event.text | shout }}"}], "rules[0].reply: unknown filter"),
    ):
        with pytest.raises(InvalidRecord, match=problem.replace("[", r"\[").replace("]", r"\]")
                           .replace("(", r"\(")):
            station.call(lambda r=rules: bots.create({"name": "bad", "rules": r}))


def test_bot_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FIREFLY_DB", str(tmp_path / "cli.db"))
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": RULES}), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "x", "match": "keyword"}]), encoding="utf-8")
    assert cli_main(["bot", "add", "helpdesk", "--rules", str(rules)]) == 0
    assert cli_main(["bot", "add", "broken", "--rules", str(bad)]) == 3
    assert "rules[0]" in capsys.readouterr().err
    assert cli_main(["bot", "add", "missing", "--rules", str(tmp_path / "nope.json")]) == 2
    assert cli_main(["bot", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed["rules"]] == ["sos", "weather", "ping"]
    assert listed["rules"][1]["cooldown_seconds"] == 60  # defaults are filled in
    assert cli_main(["bot", "remove", "helpdesk"]) == 0
    assert cli_main(["bot", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1]) == []

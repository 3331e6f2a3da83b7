"""Users and groups: registration from first-heard nodes, group changes, lookups, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main as cli_main
from agent.core.codec import decode
from agent.core.models import Outbox
from agent.core.module_models import User
from agent.core.station_models import Node
from agent.modules.fleet import NotFound
from tests.modules.modules_support import Station, logging_process, manual


def _heard(station: Station, node_id: str, long_name: str | None, short_name: str = "X") -> None:
    station.submit("node_first_heard", {"node_id": node_id, "num": int(node_id[1:], 16),
                                        "long_name": long_name, "short_name": short_name})


def test_first_heard_node_becomes_a_user_once(station: Station) -> None:
    registered = station.process(logging_process("welcome", "user_registered", {"by": "mesh"}))
    by_operator = station.process(logging_process("added by hand", "user_registered",
                                                  {"by": "operator"}))
    station.call(lambda: Node.create(node_id="!00001111", num=0x1111, long_name="Ana Alpine"))
    _heard(station, "!00001111", "Ana Alpine", "ANA")
    _heard(station, "!00001111", "Ana Alpine", "ANA")  # heard "first" again: no second user
    _heard(station, "!00002222", "Ana Alpine")  # same name, other node
    _heard(station, "!00003333", None, "")  # no name at all
    _heard(station, "!00004444", "bad\x00name\n")
    runs = station.wait_executions(registered, 4)
    users = station.modules["users"]
    names = [r.trigger_event["data"]["user"] for r in runs]
    assert names == ["Ana Alpine", "Ana Alpine (!00002222)", "!00003333", "badname"]
    ana = users.user_for_node("!00001111")
    assert ana is not None and ana.node_ids == ["!00001111"]
    assert runs[0].trigger_event["data"]["node_id"] == "!00001111"
    assert station.engine.call(lambda: Node.get(Node.node_id == "!00001111").user_uid) \
        .result() == ana.uid
    assert station.executions(by_operator) == []
    kinds = station.engine.call(lambda: [o.kind for o in Outbox.select()]).result()
    assert kinds.count("user") == 4


def test_update_user_group_fires_user_group_changed_and_feeds_in_group(station: Station) \
        -> None:
    users = station.modules["users"]
    station.call(lambda: users.create_group({"name": "medics"}))
    station.call(lambda: users.create_group({"name": "north-team"}))
    station.call(lambda: users.create_user({"name": "Ana", "node_ids": ["!00005555"],
                                            "groups": ["north-team"]}))
    joined = station.process(logging_process("medic joined", "user_group_changed",
                                             {"group": "Medics", "change": "added"}))
    left = station.process(logging_process("left north", "user_group_changed",
                                           {"group": "north-team", "change": "removed"}))
    changer = station.process(manual("make medic", [
        {"action_type": "update_user_group", "action_config": {
            "node_id": "{{ event.from_id }}", "add": "medics", "remove": ["north-team"]}},
        {"action_type": "log", "action_config": {"message": "medic now"},
         "conditions": {"op": "in_group", "node": "event.from_id", "group": "medics"}},
        {"action_type": "log", "action_config": {"message": "still north"},
         "conditions": {"op": "in_group", "user": "steps.1.result.user",
                        "group": "north-team"}},
    ]))
    station.engine.run_process(changer, {"from_id": "!00005555"})
    [run] = station.wait_executions(changer, 1)
    first, medic, north = station.steps(run.id)
    assert first.result == {"user": "Ana", "user_uid": users.find_user("Ana").uid,
                            "added": ["medics"], "removed": ["north-team"], "groups": ["medics"]}
    assert (medic.status, north.status) == ("completed", "skipped")
    [joined_run] = station.wait_executions(joined, 1)
    station.wait_executions(left, 1)
    assert joined_run.trigger_event["data"]["by"] == "process:make medic"
    assert users.find_user("Ana").groups == [users.find_group("medics").uid]
    # again: nothing changes, so no event
    station.engine.run_process(changer, {"from_id": "!00005555"})
    station.wait_executions(changer, 2)
    assert len(station.executions(joined)) == 1


def test_update_user_group_unknown_group_fails_the_step(station: Station) -> None:
    users = station.modules["users"]
    station.call(lambda: users.create_user({"name": "Ben", "node_ids": ["!00006666"]}))
    uid = station.process(manual("bad group", [{"action_type": "update_user_group",
                                                "action_config": {"user": "Ben",
                                                                  "add": ["nobody"]}}]))
    station.engine.run_process(uid)
    [run] = station.wait_executions(uid, 1)
    assert run.status == "failed" and "no group 'nobody'" in run.error_message


def test_node_ids_for_a_user_or_a_group(station: Station) -> None:
    users = station.modules["users"]
    medics = station.call(lambda: users.create_group({"name": "medics"}))
    station.call(lambda: users.create_user({"name": "Ana", "node_ids": ["!0000000a", "!0000000b"],
                                            "groups": ["medics"]}))
    station.call(lambda: users.create_user({"name": "Ben", "node_ids": ["!0000000c"],
                                            "groups": [medics.uid]}))
    station.call(lambda: users.create_user({"name": "Cleo", "node_ids": ["!0000000d"],
                                            "groups": ["medics"], "is_active": False}))
    station.call(lambda: users.create_user({"name": "Dan", "node_ids": ["!0000000e"]}))
    assert users.node_ids_for(group="MEDICS") == ["!0000000a", "!0000000b", "!0000000c"]
    assert users.node_ids_for(group=medics.uid) == users.node_ids_for(group="medics")
    assert users.node_ids_for(user="ana") == ["!0000000a", "!0000000b"]
    assert users.node_ids_for(user="Dan", group="medics") == [
        "!0000000a", "!0000000b", "!0000000c", "!0000000e"]
    with pytest.raises(NotFound, match="no group 'cooks'"):
        users.node_ids_for(group="cooks")
    with pytest.raises(NotFound, match="no user 'Eve'"):
        users.node_ids_for(user="Eve")
    station.call(lambda: users.delete_group(medics))
    with pytest.raises(NotFound):
        users.node_ids_for(group="medics")


def test_user_and_group_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FIREFLY_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("FIREFLY_STATION_ID", "hut-7")
    assert cli_main(["group", "add", "medics", "--channel", "mesh", "--channel", "mqtt"]) == 0
    assert cli_main(["user", "add", "Ana", "--node", "!A1B2C3D4", "--node", "!00000001",
                     "--group", "medics"]) == 0
    assert cli_main(["user", "add", "Ben", "--node", "!a1b2c3d4"]) == 3  # Ana's node
    assert cli_main(["user", "add", "Ben", "--group", "cooks"]) == 3
    assert cli_main(["user", "add", "Ben"]) == 0
    capsys.readouterr()
    assert cli_main(["user", "list", "--group", "medics", "--json"]) == 0
    [ana] = json.loads(capsys.readouterr().out)
    assert ana["name"] == "Ana" and ana["node_ids"] == ["!a1b2c3d4", "!00000001"]
    assert ana["group_names"] == ["medics"]
    assert cli_main(["group", "list", "--json"]) == 0
    [group] = json.loads(capsys.readouterr().out)
    assert group["members"] == ["Ana"] and group["channels"] == ["mesh", "mqtt"]
    assert cli_main(["user", "remove", "Ana"]) == 0
    assert cli_main(["group", "remove", "medics"]) == 0
    assert cli_main(["group", "remove", "medics"]) == 4
    capsys.readouterr()
    assert cli_main(["user", "list", "--json"]) == 0
    assert [u["name"] for u in json.loads(capsys.readouterr().out)] == ["Ben"]
    sent = [(k, b["name"], b["deleted"]) for k, b, _v in
            (decode(o.payload) for o in Outbox.select().order_by(Outbox.seq))]
    assert sent == [("group", "medics", False), ("user", "Ana", False), ("user", "Ben", False),
                    ("user", "Ana", True), ("group", "medics", True)]
    assert User.select().count() == 2  # Ana's row stays, as a tombstone

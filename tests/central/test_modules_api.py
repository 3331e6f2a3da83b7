"""Central's module endpoints: zones, users, groups, bots, alerts, notifications."""

from __future__ import annotations

from typing import Any

from agent.core.models import Alert, database
from agent.core.module_models import Notification, Zone
from central.models import AuditLog
from tests.central.central_support import Central

CIRCLE = {"name": "avalanche", "center_lat": 46.55, "center_lon": 7.95, "radius_m": 300}
POLYGON = {"name": "north ridge", "polygon": [[46.6, 7.9], [46.6, 8.0], [46.7, 8.0]],
           "margin_m": 40, "metadata": {"risk": "high"}}


def _changes(central: Central) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    central.ctx.on_change.append(lambda entity, uid: seen.append((entity, uid)))
    return seen


def _audit(entity: str) -> list[tuple[str, str]]:
    with database.connection_context():
        return [(a.action, a.actor) for a in AuditLog.select().where(AuditLog.entity == entity)
                .order_by(AuditLog.id)]


def test_zone_crud_validation_and_sync_clock(central: Central) -> None:
    changes = _changes(central)
    circle = central.post("/api/zones", CIRCLE, role="editor", status=201).json
    polygon = central.post("/api/zones", POLYGON, status=201).json
    assert (circle["shape"], circle["radius_m"], circle["origin"]) == ("circle", 300, "central")
    assert polygon["shape"] == "polygon" and polygon["polygon"] == POLYGON["polygon"]
    assert polygon["center_lat"] > 46.6 and polygon["hlc"] and not polygon["deleted"]
    # the same rules as on the station, with the place of each problem
    assert central.post("/api/zones", {**CIRCLE, "name": "AVALANCHE"}, status=409).json[
        "error"] == "name: a zone named 'AVALANCHE' already exists"
    both = central.post("/api/zones", {"name": "x", "polygon": POLYGON["polygon"],
                                       "radius_m": 5}, status=400).json
    assert both["errors"] == [{"path": "radius_m", "reason": "not part of a polygon zone"}]
    flat = central.post("/api/zones", {"name": "x", "polygon": [[46, 7], [47, 7], [46.5, 7]]},
                        status=400).json
    assert flat["errors"] == [{"path": "polygon", "reason": "its vertices enclose no area"}]
    missing = central.post("/api/zones", {"name": "no shape"}, status=400).json
    assert missing["errors"] == [{"path": "shape", "reason": "give radius_m with center_lat/"
                                                             "center_lon, or polygon"}]
    schema_error = central.post("/api/zones", {**CIRCLE, "name": "y", "center_lat": 95},
                                status=400).json
    assert schema_error["errors"][0]["path"] == "center_lat"
    central.post("/api/zones", CIRCLE, role="operator", status=403)
    # list, paginated
    listed = central.get("/api/zones?limit=1", role="viewer").json
    assert listed["total"] == 2 and [z["name"] for z in listed["zones"]] == ["avalanche"]
    assert central.get("/api/zones?name=ridge").json["zones"][0]["id"] == polygon["id"]
    # update: the fields given; a stale hlc is a conflict
    updated = central.put(f"/api/zones/{circle['id']}", {"is_active": False, "radius_m": 500,
                                                         "hlc": circle["hlc"]}).json
    assert (updated["is_active"], updated["radius_m"]) == (False, 500)
    assert updated["hlc"] > circle["hlc"]
    central.put(f"/api/zones/{circle['id']}", {"margin_m": 10, "hlc": circle["hlc"]}, status=409)
    assert central.get("/api/zones?active_only=true").json["total"] == 1
    # delete: a tombstone that syncs; gone from the API
    central.delete(f"/api/zones/{circle['id']}")
    central.get(f"/api/zones/{circle['id']}", status=404)
    with database.connection_context():
        tombstone = Zone.get(Zone.id == circle["id"])
    assert tombstone.deleted and tombstone.hlc > updated["hlc"]
    trail = _audit("zone")
    assert [action for action, _ in trail] == ["create", "create", "update", "delete"]
    assert trail[0][1].startswith("editor-") and trail[1][1].startswith("admin-")
    assert [c for c in changes if c[0] == "zone"] == [
        ("zone", circle["uid"]), ("zone", polygon["uid"]), ("zone", circle["uid"]),
        ("zone", circle["uid"])]


def test_users_and_groups(central: Central) -> None:
    medics = central.post("/api/groups", {"name": "medics", "channels": ["mesh", "mqtt"]},
                          status=201).json
    central.post("/api/groups", {"name": "north-team"}, status=201)
    ana = central.post("/api/users", {"name": "Ana", "node_ids": ["!A1B2C3D4"],
                                      "groups": ["medics", "north-team"]}, status=201).json
    assert ana["node_ids"] == ["!a1b2c3d4"] and ana["group_names"] == ["medics", "north-team"]
    ben = central.post("/api/users", {"name": "Ben", "node_ids": ["!0000000b"]},
                       status=201).json
    taken = central.post("/api/users", {"name": "Cleo", "node_ids": ["!a1b2c3d4"]},
                         status=400).json
    assert taken["errors"] == [{"path": "node_ids",
                                "reason": "!a1b2c3d4 belongs to user 'Ana'"}]
    unknown = central.post("/api/users", {"name": "Cleo", "groups": ["cooks"]}, status=400).json
    assert unknown["errors"][0]["path"] == "groups"
    assert [u["name"] for u in central.get("/api/users?group=medics").json["users"]] == ["Ana"]
    assert central.get("/api/users?node_id=!A1B2C3D4").json["users"][0]["id"] == ana["id"]
    central.get("/api/users?group=cooks", status=404)
    central.get("/api/users?node_id=%25", status=400)
    # membership changes are made on the user
    moved = central.put(f"/api/users/{ben['id']}", {"groups": [medics["uid"]]}).json
    assert moved["group_names"] == ["medics"]
    group = central.get(f"/api/groups/{medics['id']}", role="viewer").json
    assert (group["members"], group["member_count"]) == (["Ana", "Ben"], 2)
    listed = central.get("/api/groups").json
    assert {g["name"]: g["member_count"] for g in listed["groups"]} == {"medics": 2,
                                                                       "north-team": 1}
    # deleting a group: members simply lose it
    central.delete(f"/api/groups/{medics['id']}")
    assert central.get(f"/api/users/{ana['id']}").json["group_names"] == ["north-team"]
    central.delete(f"/api/users/{ben['id']}", role="viewer", status=403)
    central.delete(f"/api/users/{ben['id']}")
    assert central.get("/api/users").json["total"] == 1
    assert [a for a, _ in _audit("user")] == ["create", "create", "update", "delete"]


def test_bots_with_rules_and_a_dry_run(central: Central) -> None:
    rules = [{"name": "sos", "match": "keyword", "pattern": "sos",
              "reply": "Help is coming, {{ event.from_name }}"},
             {"name": "ping", "match": "regex", "pattern": "^ping (\\d+)$",
              "reply": "pong {{ match.groups.0 }}", "cooldown_seconds": 0}]
    bot = central.post("/api/bots", {"name": "helpdesk", "rules": rules}, status=201).json
    assert [r["cooldown_seconds"] for r in bot["rules"]] == [60, 0]
    bad = central.post("/api/bots", {"name": "b", "rules": [{**rules[1], "pattern": "("}]},
                       status=400).json
    assert bad["errors"][0]["path"] == "rules[0].pattern"
    schema_bad = central.post("/api/bots", {"name": "b", "rules": [{"name": "x"}]},
                              status=400).json
    assert schema_bad["errors"][0]["path"].startswith("rules[0]")
    tried = central.post(f"/api/bots/{bot['id']}/try", {"text": "SOS please", "sender":
                                                        "!0000000a", "sender_name": "Ana"},
                         role="viewer").json
    assert tried == {"matched": True, "rule": "sos", "reply": "Help is coming, Ana",
                     "destination": "!0000000a", "outcome": "not sent (send: false)"}
    assert central.post(f"/api/bots/{bot['id']}/try", {"text": "ping 7"}).json["reply"] \
        == "pong 7"
    assert central.post(f"/api/bots/{bot['id']}/try", {"text": "hello"}).json["matched"] \
        is False
    off = central.put(f"/api/bots/{bot['id']}", {"is_active": False}).json
    assert off["is_active"] is False
    assert central.get("/api/bots?active_only=true").json["total"] == 0
    central.delete(f"/api/bots/{bot['id']}")
    assert central.get("/api/bots").json == {"bots": [], "total": 0}


def test_alerts_from_stations_and_operators(central: Central) -> None:
    changes = _changes(central)
    with database.connection_context():
        for i, (severity, station) in enumerate((("critical", "st-1"), ("warning", "st-2"),
                                                 ("info", "st-1"))):
            Alert.create(title=f"a{i}", severity=severity, source="process", station_id=station,
                         hlc=f"{1000 + i:013d}-00000-{station}")
    raised = central.post("/api/alerts", {"title": "Slide on the north path",
                                          "severity": "warning", "zone": "north ridge"},
                          role="operator", status=201).json
    assert (raised["source"], raised["created_by"], raised["status"], raised["station_id"]) == \
        ("operator", raised["created_by"], "open", "central")
    assert raised["created_by"].startswith("operator-")
    central.post("/api/alerts", {"title": "x", "severity": "panic"}, status=400)
    central.post("/api/alerts", {"title": "x"}, role="viewer", status=403)
    assert central.get("/api/alerts").json["total"] == 4
    assert [a["title"] for a in central.get("/api/alerts?station_id=st-1").json["alerts"]] == \
        ["a2", "a0"]
    assert [a["title"] for a in central.get("/api/alerts?min_severity=warning").json[
        "alerts"]] == ["Slide on the north path", "a1", "a0"]
    assert central.get("/api/alerts?source=operator&zone=north%20ridge").json["total"] == 1
    central.get("/api/alerts?severity=panic", status=400)
    acked = central.post(f"/api/alerts/{raised['id']}/acknowledge", {"comment": "on it"},
                         role="operator").json
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"].startswith("operator-")
    assert acked["hlc"] > raised["hlc"]
    central.post(f"/api/alerts/{raised['id']}/acknowledge", {}, status=409)
    resolved = central.post(f"/api/alerts/{raised['id']}/resolve", {}).json
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    central.post(f"/api/alerts/{raised['id']}/resolve", {}, status=409)
    central.post("/api/alerts/99999/resolve", {}, status=404)
    assert central.get("/api/alerts?open_only=true").json["total"] == 3
    assert [a for a, _ in _audit("alert")] == ["create", "acknowledge", "resolve"]
    with database.connection_context():
        ack_entry = AuditLog.select().where(AuditLog.action == "acknowledge").get()
    assert ack_entry.after["comment"] == "on it"
    assert changes == [("alert", raised["uid"])] * 3


def test_notifications_feed(central: Central) -> None:
    recipients: list[dict[str, Any]] = [
        {"user": "Ana", "node_id": "!0000000a", "channel": "mesh", "outcome": "queued"},
        {"user": "medics", "node_id": None, "channel": "feed", "outcome": "queued for central"}]
    with database.connection_context():
        for station, target in (("st-1", "medics"), ("st-2", "Ana"), ("st-1", "north-team")):
            Notification.create(target_kind="group" if target != "Ana" else "user",
                                target=target, message=f"to {target}", channels=["mesh"],
                                recipients=recipients, station_id=station)
    feed = central.get("/api/notifications", role="viewer").json
    assert feed["total"] == 3 and feed["notifications"][0]["message"] == "to north-team"
    assert feed["notifications"][0]["recipients"] == recipients
    only = central.get("/api/notifications?station_id=st-1&target_kind=group").json
    assert [n["target"] for n in only["notifications"]] == ["north-team", "medics"]
    one = central.get(f"/api/notifications/{only['notifications'][1]['id']}").json
    assert one["target"] == "medics"
    central.get("/api/notifications/4242", status=404)


def test_module_routes_are_in_the_openapi_document(central: Central) -> None:
    paths = central.app.get("/api/openapi.json").json["paths"]
    for path, method in (("/api/alerts", "get"), ("/api/alerts", "post"),
                         ("/api/alerts/{id}/acknowledge", "post"),
                         ("/api/alerts/{id}/resolve", "post"), ("/api/zones", "post"),
                         ("/api/zones/{id}", "put"), ("/api/zones/{id}", "delete"),
                         ("/api/users", "get"), ("/api/groups/{id}", "get"),
                         ("/api/bots/{id}/try", "post"), ("/api/notifications", "get")):
        assert method in paths[path], (method, path)
    assert paths["/api/alerts/{id}/acknowledge"]["post"]["x-permission"] == "alerts:manage"
    assert paths["/api/zones"]["post"]["x-permission"] == "modules:edit"

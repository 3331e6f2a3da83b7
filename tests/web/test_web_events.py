"""The live feed (GET /api/events/stream): what it pushes, and that it resumes."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import urllib.parse
from pathlib import Path
from typing import Any

from agent.core.models import ProcessExecution, ProcessExecutionLog, database, utcnow
from central.api.web_events import Feed, open_feed, parse_last_event_id
from tests.support import wait_until
from tests.web.web_support import PASSWORD, definition


def execution(**fields: Any) -> ProcessExecution:
    now = utcnow()
    values: dict[str, Any] = {"process_id": 0, "status": "running", "started_at": now,
                              "updated_at": now, "station_id": "central"}
    values.update(fields)
    with database.connection_context():
        row: ProcessExecution = ProcessExecution.create(**values)
    return row


def update(row: ProcessExecution, **fields: Any) -> None:
    with database.connection_context():
        ProcessExecution.update(**fields).where(ProcessExecution.id == row.id).execute()


def polled(feed: Feed) -> list[tuple[int, str]]:
    executions, _steps = feed.poll()
    return [(e["id"], e["status"]) for e in executions]


def new_feed() -> Feed:
    with database.connection_context():
        return open_feed(None)


def test_feed_pushes_each_change_once(station_db: Path) -> None:
    old = execution(status="completed")
    feed = new_feed()
    assert polled(feed) == [(old.id, "completed")]  # a new stream sees the last seconds
    assert polled(feed) == []
    run = execution()
    assert polled(feed) == [(run.id, "running")]
    update(run, status="completed", updated_at=utcnow())
    assert polled(feed) == [(run.id, "completed")]
    assert polled(feed) == []


def test_feed_catches_a_change_committed_late(station_db: Path) -> None:
    """A change stamped before the cursor but committed after the poll passed it."""
    run = execution()
    feed = new_feed()
    polled(feed)
    later = execution()
    polled(feed)
    update(run, status="failed", updated_at=later.updated_at - dt.timedelta(milliseconds=300))
    assert polled(feed) == [(run.id, "failed")]
    assert polled(feed) == []


def test_feed_sees_synced_records_whatever_their_station_time(station_db: Path) -> None:
    """The ingest keeps a station's updated_at, days old after an outage."""
    feed = new_feed()
    polled(feed)
    two_days_ago = utcnow() - dt.timedelta(days=2)
    synced = execution(station_id="north", started_at=two_days_ago, updated_at=two_days_ago)
    assert polled(feed) == [(synced.id, "running")]
    update(synced, status="completed", updated_at=two_days_ago + dt.timedelta(seconds=5))
    with database.connection_context():
        ProcessExecutionLog.create(execution=synced.id, seq=1, message="completed in 5000 ms")
    assert polled(feed) == [(synced.id, "completed")]
    assert polled(feed) == []


def test_feed_resumes_from_its_last_event_id(station_db: Path) -> None:
    """A browser that reconnects gets what changed while it was away, not the whole past."""
    old = execution(status="completed", updated_at=utcnow() - dt.timedelta(minutes=5))
    feed = new_feed()
    first = execution()
    assert polled(feed) == [(first.id, "running")]
    last_event_id = feed.event_id
    # away: one execution finishes, another starts
    update(first, status="completed", updated_at=utcnow() + dt.timedelta(seconds=3))
    second = execution(updated_at=utcnow() + dt.timedelta(seconds=3))
    resumed = parse_last_event_id(last_event_id)
    assert resumed is not None
    assert sorted(polled(Feed(resumed))) == [(first.id, "completed"), (second.id, "running")]
    assert old.id not in {row_id for row_id, _ in polled(Feed(resumed))}
    assert parse_last_event_id("garbage") is None


# -- over HTTP, from the real server ------------------------------------------------------


def login(url: str, username: str) -> tuple[str, str]:
    """(session cookie, CSRF token)"""
    host = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    conn.request("POST", "/api/auth/login", json.dumps({"username": username,
                                                        "password": PASSWORD}),
                 {"Content-Type": "application/json"})
    response = conn.getresponse()
    body = json.loads(response.read())
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    conn.close()
    return cookie, body["csrf_token"]


def call(url: str, method: str, path: str, cookie: str, csrf: str, body: Any = None) -> Any:
    host = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    conn.request(method, path, json.dumps(body) if body is not None else None,
                 {"Content-Type": "application/json", "Cookie": cookie, "X-CSRF-Token": csrf})
    response = conn.getresponse()
    data = json.loads(response.read() or b"null")
    conn.close()
    assert response.status < 300, data
    return data


def test_the_stream_pushes_a_run_at_central_as_it_happens(central_server: Any) -> None:
    cookie, csrf = login(central_server.url, "admin")
    host = urllib.parse.urlsplit(central_server.url)
    stream = http.client.HTTPConnection(host.hostname, host.port, timeout=15)
    stream.request("GET", "/api/events/stream", headers={"Cookie": cookie})
    response = stream.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    created = call(central_server.url, "POST", "/api/processes", cookie, csrf,
                   definition("Streamed"))
    run = call(central_server.url, "POST", f"/api/processes/{created['process_id']}/execute",
               cookie, csrf, {"trigger_data": {}})
    seen: dict[int, str] = {}
    event = ""

    def completed() -> bool:
        nonlocal event
        line = response.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "executions":
            for row in json.loads(line[6:]):
                seen[row["id"]] = row["status"]
                assert row["process_name"] == "Streamed"
        return seen.get(run["execution_id"]) == "completed"

    wait_until(completed, timeout=15, interval=0, message="the execution in the stream")
    stream.close()


def test_the_stream_needs_a_session(central_server: Any) -> None:
    host = urllib.parse.urlsplit(central_server.url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=5)
    conn.request("GET", "/api/events/stream")
    assert conn.getresponse().status == 401
    conn.close()


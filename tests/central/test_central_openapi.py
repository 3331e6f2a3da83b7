"""/api/openapi.json describes the whole API, and the running server keeps to it."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
import waitress
from hypothesis import HealthCheck, Phase
from hypothesis.errors import FlakyStrategyDefinition

from agent.core.models import database
from central.api._common import PUBLIC
from central.app import make_app
from central.context import CentralContext
from tests.central.central_support import Central, TestApp, definition, seed, settings_for

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

EXAMPLES = 12  # per operation and mode: the whole run stays well under a minute


def test_every_declared_route_is_documented_with_its_permission(
        sqlite_central: Central) -> None:
    doc = sqlite_central.app.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    operations = {(m.upper(), p): op for p, ops in doc["paths"].items() for m, op in ops.items()}
    for spec in sqlite_central.ctx.routes:
        if spec.in_openapi:
            op = operations[(spec.method, spec.path)]
            assert op["x-permission"] == spec.permission
            assert op["security"] == ([] if spec.permission == PUBLIC else
                                      [{"bearer": []}, {"session": []}])
    for path in ("/api/processes", "/api/processes/{id}", "/api/processes/{id}/execute",
                 "/api/processes/executions", "/api/processes/executions/{id}",
                 "/api/processes/executions/{id}/logs", "/api/processes/templates",
                 "/api/processes/templates/{id}/instantiate",
                 "/api/processes/analytics/overview", "/api/processes/{id}/analytics"):
        assert path in doc["paths"], path
    create = doc["paths"]["/api/processes"]["post"]["requestBody"]["content"]
    assert create["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/ProcessDefinition"}
    definition_schema = doc["components"]["schemas"]["ProcessDefinition"]
    assert definition_schema["required"] == ["name", "triggers", "actions"]
    assert "$defs" not in definition_schema


@pytest.fixture
def server(tmp_path: Any) -> Iterator[tuple[str, dict[str, str], requests.Session]]:
    """A real waitress server on a free port, with some data and an admin token."""
    ctx = CentralContext(settings=settings_for(f"sqlite:///{tmp_path / 'central.db'}"))
    app = make_app(ctx.settings, ctx)
    central = Central(app=TestApp(app), ctx=ctx)
    auth = central.auth("admin")
    for i, stations in enumerate((["st-1"], ["st-1", "st-2"], ["central"])):
        pid = central.post("/api/processes", definition(f"P{i}", stations=stations),
                           status=201).json["process_id"]
        seed(pid, "failed", error="radio busy")
        seed(pid, "completed")
    central.post("/api/processes/templates", {"process_id": 1, "name": "T"}, status=201)
    database.close()
    httpd = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    session = requests.Session()
    yield f"http://127.0.0.1:{httpd.effective_port}", auth, session
    session.close()  # its keep-alive connection would hold the server's loop open
    httpd.close()
    thread.join(5)


def run_cases(operation: Any, mode: Any, base: str, session: requests.Session,
              auth: dict[str, str]) -> None:
    """Generated requests for one operation; every answer is checked against the document."""
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    if mode is GenerationMode.POSITIVE:
        checks.append(response_schema_conformance)

    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None,
                         phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        response = case.call(base_url=base, session=session, headers=auth)
        case.validate_response(response, checks=checks)

    check()


@pytest.mark.slow
def test_the_running_server_keeps_to_its_openapi_document(
        server: tuple[str, dict[str, str], requests.Session]) -> None:
    base, auth, session = server
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json")
    failures: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("x-raw"):
            continue
        tested += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for _attempt in range(3):
                try:
                    run_cases(operation, mode, base, session, auth)
                except FlakyStrategyDefinition:
                    # "Inconsistent data generation": schemathesis' generator (seen in its
                    # negative mode), not an answer of the server. Generate afresh.
                    continue
                except (Exception, BaseExceptionGroup) as exc:
                    failures.append(f"{operation.method.upper()} {operation.path} "
                                    f"({mode.value}): {str(exc)[:1500]}")
                break
            else:
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): "
                                "the generator was inconsistent three times")
    assert tested >= 20
    assert not failures, "\n\n".join(failures)

"""The OpenAPI 3.1 document, generated from the route declarations (central/api/_common.py).

Each operation carries its permission (``x-permission``, also in the description), its
parameters, request and response schemas, and the error answers the helper can give.
"""

from __future__ import annotations

from typing import Any

from central.api._common import INT64_MAX, PUBLIC, SESSION_COOKIE, RouteSpec, schema_ref
from central.context import CentralContext

_ERROR_TEXT = {
    400: "invalid parameters or body (each problem with its path)",
    401: "no or invalid credentials",
    403: "the permission is missing, or the CSRF token (cookie sessions)",
    404: "no such record",
    409: "conflict with the current state",
    413: "request body too large",
    429: "too many attempts",
    503: "not able to serve (the body says why)",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _parameters(spec: RouteSpec) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name, kind in spec.path_params:
        schema: dict[str, Any] = ({"type": "integer", "minimum": 1, "maximum": INT64_MAX}
                                  if kind is int else {"type": "string", "maxLength": 500})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for q in spec.query:
        params.append({"name": q.name, "in": "query", "required": q.required,
                       "description": q.description, "schema": q.schema()})
    return params


def _responses(spec: RouteSpec) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "success"}
    if spec.response is not None:
        ok["content"] = {spec.media_type: {"schema": schema_ref(spec.response)}}
    responses: dict[str, Any] = {str(spec.status): ok}
    for code in spec.also:
        responses[str(code)] = {**ok, "description": _ERROR_TEXT.get(code, "see the body")}
    codes = set(spec.errors)
    if spec.query or spec.body is not None or spec.path_params:
        codes.add(400)
    if spec.permission != PUBLIC:
        codes |= {401, 403}
    if spec.path_params:
        codes.add(404)
    if spec.body is not None:
        codes.add(413)
    for code in sorted(codes):
        responses[str(code)] = {"description": _ERROR_TEXT.get(code, "error"),
                                "content": _json(schema_ref("Error"))}
    return responses


def operation(spec: RouteSpec) -> dict[str, Any]:
    who = ("no credentials needed" if spec.permission == PUBLIC
           else f"needs `{spec.permission}`")
    op: dict[str, Any] = {
        "operationId": spec.operation_id,
        "summary": spec.summary,
        "description": (spec.description + "\n\n" if spec.description else "") + who,
        "tags": [spec.tag],
        "x-permission": spec.permission,
        "parameters": _parameters(spec),
        "responses": _responses(spec),
        "security": [] if spec.permission == PUBLIC else [{"bearer": []}, {"session": []}],
    }
    if spec.raw:
        op["x-raw"] = True  # a page, a file or a stream: not a JSON answer
    if spec.body is not None:
        op["requestBody"] = {"required": spec.body_required,
                             "content": _json(schema_ref(spec.body))}
    return op


def openapi_document(ctx: CentralContext) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for spec in ctx.routes:
        if spec.in_openapi:
            paths.setdefault(spec.path, {})[spec.method.lower()] = operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Firefly Processes central API",
            "version": "1.0.0",
            "description": "Processes, executions, templates and analytics of a fleet of "
                           "stations. Authenticate with `Authorization: Bearer <token>` "
                           "(scripts) or the session cookie from POST /api/auth/login (browser; "
                           "changes then need the X-CSRF-Token header). Errors are JSON "
                           "`{\"error\": ...}`.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(ctx.schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
            },
        },
    }

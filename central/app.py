"""The central web application: ``make_app(settings) -> Bottle``.

Every module of the package ``central.api`` (auto-discovered; names starting with ``_`` are
skipped) exposes ``register(app, ctx)`` and declares its routes with central.api._common.Api,
so each route carries its permission and schemas. The database connection is opened before
and closed after every request; every error is answered as JSON ``{"error": ...}``.
"""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
from typing import Any

import bottle
from bottle import Bottle

import central.api
from agent.core.models import database
from central.api._schemas import COMMON_SCHEMAS, process_definition_schemas
from central.config import CentralSettings
from central.context import CentralContext
from central.db import open_central_database
from central.metrics import CentralMetrics

_LOG = logging.getLogger(__name__)

_MESSAGES = {
    400: "bad request",
    401: "authentication required",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    413: "request body too large",
    429: "too many requests",
    500: "internal server error",
}


def api_modules() -> list[str]:
    return sorted(f"{central.api.__name__}.{info.name}"
                  for info in pkgutil.iter_modules(central.api.__path__)
                  if not info.name.startswith("_"))


def make_app(settings: CentralSettings, ctx: CentralContext | None = None) -> Bottle:
    """The application. Without ``ctx`` the database is opened (and migrated) from settings."""
    if ctx is None:
        ctx = CentralContext(settings=settings)
    if ctx.db is None:
        ctx.db = open_central_database(settings.database.url,
                                       run_migrations=settings.database.migrate_on_start)
    if ctx.metrics is None:
        ctx.metrics = CentralMetrics()
    app = Bottle(catchall=True)
    app.config["firefly.context"] = ctx

    app.add_hook("after_request", _close)

    app.default_error_handler = _json_error
    ctx.schemas.update(COMMON_SCHEMAS)
    ctx.schemas.update(process_definition_schemas())
    for name in api_modules():
        module = importlib.import_module(name)
        module.register(app, ctx)
    return app


def _close() -> None:
    if not database.is_closed():
        database.close()


def _json_error(error: bottle.HTTPError) -> str:
    status = int(error.status_code)
    if status >= 500:
        if error.exception is not None:
            _LOG.error("internal error on %s %s: %s", bottle.request.method,
                       bottle.request.path, error.exception,
                       exc_info=(type(error.exception), error.exception,
                                 error.exception.__traceback__))
        message = _MESSAGES[500]
    else:
        body = error.body if isinstance(error.body, str) and error.body else ""
        message = body if body and not body.startswith("<") else _MESSAGES.get(status, "error")
        if status == 404 and message.startswith("Not found: "):
            message = f"not found: {bottle.request.path}"
        if status == 405:
            message = f"method {bottle.request.method} not allowed on {bottle.request.path}"
    bottle.response.content_type = "application/json"
    payload: dict[str, Any] = {"error": message}
    return json.dumps(payload)

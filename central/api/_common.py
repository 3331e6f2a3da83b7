"""Declaring API routes: path, method, permission, parameters and schemas in one line.

Every module in ``central/api/`` (auto-discovered; names starting with ``_`` are skipped)
exposes ``register(app, ctx)`` and declares its routes with an :class:`Api`::

    from typing import Any

    from bottle import Bottle

    from central.api._common import Api, ApiError, Query, Request
    from central.context import CentralContext

    def register(app: Bottle, ctx: CentralContext) -> None:
        api = Api(app, ctx, tag="alerts")
        api.schema("Alert", {"type": "object", "properties": {...}})
        api.schema("AlertList", {"type": "object", "properties": {
            "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
            "total": {"type": "integer"}}})

        @api.get("/api/alerts", "modules:view", "List alerts", response="AlertList",
                 query=[Query("status", str, enum=["open", "acknowledged", "resolved"]),
                        Query("limit", int, default=50, minimum=1, maximum=500)])
        def list_alerts(req: Request) -> dict[str, Any]:
            return {"alerts": [...], "total": 0}

        @api.post("/api/alerts/{id:int}/acknowledge", "alerts:manage", "Acknowledge an alert",
                  body={"type": "object"}, response="Alert", errors=(409,))
        def acknowledge(req: Request, id: int) -> dict[str, Any]:
            if ...:
                raise ApiError(404, f"no alert {id}")
            audit(req.actor, "acknowledge", "alert", uid, before, after)
            return {...}

What the helper does for every route, in this order:

1. authentication: ``Authorization: Bearer <token>`` or the session cookie; none -> 401;
2. CSRF: a state-changing request (POST, PUT, PATCH, DELETE) made with the session cookie needs
   the header ``X-CSRF-Token`` equal to the session's token (from GET /api/auth/me) -> 403;
3. the permission: one of central.auth.PERMISSIONS (missing -> 403), or ``PUBLIC`` (no
   credentials needed) or ``AUTHENTICATED`` (any signed-in user);
4. path parameters: ``{name}`` is a string, ``{name:int}`` an integer from 1 to 2**63-1
   (anything else -> 404, so "/api/processes/executions" is never taken for an id);
   ``{name:path}`` a string that may hold slashes (static files);
5. query parameters (:class:`Query`): parsed, defaulted, bounds-checked -> ``req.query``;
   errors -> 400 ``{"error": "invalid query", "errors": [{"path": "query.limit", ...}]}``;
6. the JSON body (``body=``: a schema name registered with ``api.schema`` or an inline JSON
   Schema): parsed (at most 1 MiB), refused if it holds NUL characters, lone surrogates or
   integers beyond 64 bits, then validated (unless ``validate_body=False``) -> ``req.body``
   (``body_required=False``: an empty body gives ``req.body = None``);
   errors -> 400 ``{"error": "invalid request body", "errors": [{"path", "reason"}]}``;
7. the handler is called as ``handler(req, **path_params)``; a dict or list it returns is sent
   as JSON with the declared ``status`` (200 unless given); ``raise ApiError(status, message,
   errors=[...])`` for errors (JSON ``{"error": message, ...}``).

The declarations (``ctx.routes``) also generate the OpenAPI document (central/openapi.py) and
drive the test that walks every route with every role. ``raw=True`` passes the handler's
return value through untouched (static files, pages), ``in_openapi=False`` hides a route
from the document.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import bottle
import jsonschema  # type: ignore[import-untyped]
from bottle import Bottle

from agent.core.models import database
from agent.definitions import format_path
from central.auth import (
    PERMISSIONS,
    Principal,
    principal_from_session,
    principal_from_token,
)
from central.context import CentralContext

PUBLIC = "public"
AUTHENTICATED = "authenticated"
SESSION_COOKIE = "firefly_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_BODY_BYTES = 1024 * 1024
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
INT64_MAX = 2**63 - 1
NO_BODY: Any = object()  # read_json: the request had no body (and none was required)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(int|path))?\}")
_TYPE_NAMES: dict[type, str] = {str: "string", int: "integer", bool: "boolean", float: "number"}

Handler = Callable[..., Any]


class ApiError(bottle.HTTPResponse):  # type: ignore[misc]
    """An error answer: JSON ``{"error": message, **extra}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(body=json.dumps({"error": message, **extra}, default=str),
                         status=status, headers={"Content-Type": "application/json",
                                                 **(headers or {})})


@dataclass(frozen=True)
class Query:
    """A query parameter: its name, type (str, int, bool, float), default and bounds."""

    name: str
    type: type = str
    default: Any = None
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    enum: Sequence[str] | None = None
    format: str | None = None  # "date-time": parsed to a naive UTC datetime
    max_length: int = 500
    required: bool = False

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": _TYPE_NAMES[self.type]}
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.format:
            schema["format"] = self.format
        if self.type is str and self.enum is None and not self.format:
            schema["maxLength"] = self.max_length
        if self.default is not None:
            schema["default"] = self.default
        return schema

    def parse(self, text: str) -> Any:
        """The value of ``text``; raises ValueError with the reason."""
        if self.type is bool:
            if text.lower() in ("true", "1", "yes"):
                return True
            if text.lower() in ("false", "0", "no"):
                return False
            raise ValueError("must be true or false")
        if self.type in (int, float):
            try:
                value = self.type(text)
            except ValueError:
                raise ValueError(f"must be {'an integer' if self.type is int else 'a number'}") \
                    from None
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("must be a finite number")
            low = self.minimum if self.minimum is not None else -INT64_MAX
            high = self.maximum if self.maximum is not None else INT64_MAX
            if not low <= value <= high:
                raise ValueError(f"must be between {low} and {high}")
            return value
        if "\x00" in text:
            raise ValueError("NUL characters are not allowed")
        if self.enum is not None and text not in self.enum:
            raise ValueError(f"must be one of {', '.join(self.enum)}")
        if self.format == "date-time":
            return parse_time(text)
        if len(text) > self.max_length:
            raise ValueError(f"at most {self.max_length} characters")
        return text


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 date-time as naive UTC (naive input is taken as UTC)."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time") from None
    if value.tzinfo is not None:
        try:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:
            raise ValueError("date-time out of range") from None
    return value


@dataclass(frozen=True)
class RouteSpec:
    """One declared route: what the OpenAPI document and the permission test are built from."""

    method: str
    path: str  # OpenAPI form: /api/processes/{id}
    bottle_path: str
    permission: str
    summary: str
    handler: Handler
    tag: str
    query: tuple[Query, ...] = ()
    path_params: tuple[tuple[str, type], ...] = ()
    body: str | dict[str, Any] | None = None
    validate_body: bool = True
    body_required: bool = True
    response: str | dict[str, Any] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    description: str = ""
    raw: bool = False
    in_openapi: bool = True
    media_type: str = "application/json"  # of the success response (and ``also``)
    also: tuple[int, ...] = ()  # other statuses that answer with the success response's schema
    needs_database: bool = True  # False: the handler connects itself (/healthz answers without)

    @property
    def operation_id(self) -> str:
        return f"{self.tag}.{self.handler.__name__}"


@dataclass
class Request:
    """What a handler gets: the caller, the parsed query and body, the context."""

    user: Principal | None
    query: dict[str, Any]
    body: Any
    ctx: CentralContext
    raw: Any = field(repr=False, default=None)  # bottle.request

    @property
    def actor(self) -> str:
        """Who is acting, for the audit trail."""
        return self.user.username if self.user is not None else "anonymous"

    @property
    def address(self) -> str:
        return str(bottle.request.environ.get("REMOTE_ADDR") or "")

    def require_user(self) -> Principal:
        if self.user is None:
            raise ApiError(401, "authentication required")
        return self.user


def dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value)
    return str(value)


def schema_ref(schema: str | dict[str, Any]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema


class Api:
    """Declares routes on ``app`` and records them in ``ctx.routes``."""

    def __init__(self, app: Bottle, ctx: CentralContext, tag: str) -> None:
        self.app = app
        self.ctx = ctx
        self.tag = tag

    def schema(self, name: str, schema: dict[str, Any]) -> str:
        """Register a named JSON Schema (components/schemas) and return its name."""
        self.ctx.schemas[name] = schema
        return name

    def get(self, path: str, permission: str, summary: str, **options: Any) \
            -> Callable[[Handler], Handler]:
        return self.route("GET", path, permission, summary, **options)

    def post(self, path: str, permission: str, summary: str, **options: Any) \
            -> Callable[[Handler], Handler]:
        return self.route("POST", path, permission, summary, **options)

    def put(self, path: str, permission: str, summary: str, **options: Any) \
            -> Callable[[Handler], Handler]:
        return self.route("PUT", path, permission, summary, **options)

    def delete(self, path: str, permission: str, summary: str, **options: Any) \
            -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, permission, summary, **options)

    def route(self, method: str, path: str, permission: str, summary: str, *,
              query: Iterable[Query] = (), body: str | dict[str, Any] | None = None,
              validate_body: bool = True, body_required: bool = True,
              response: str | dict[str, Any] | None = None,
              status: int = 200, errors: Iterable[int] = (), description: str = "",
              raw: bool = False, in_openapi: bool = True, media_type: str = "application/json",
              also: Iterable[int] = (), needs_database: bool = True) \
            -> Callable[[Handler], Handler]:
        if permission not in (PUBLIC, AUTHENTICATED, *PERMISSIONS):
            raise ValueError(f"{method} {path}: unknown permission {permission!r}")
        params = tuple((m.group(1), int if m.group(2) == "int" else str)
                       for m in _PLACEHOLDER.finditer(path))
        openapi_path = _PLACEHOLDER.sub(lambda m: "{" + m.group(1) + "}", path)
        bottle_path = _PLACEHOLDER.sub(
            lambda m: f"<{m.group(1)}:re:[0-9]{{1,19}}>" if m.group(2) == "int"
            else f"<{m.group(1)}:path>" if m.group(2) == "path" else f"<{m.group(1)}>",
            path)

        def decorate(handler: Handler) -> Handler:
            spec = RouteSpec(method=method, path=openapi_path, bottle_path=bottle_path,
                             permission=permission, summary=summary, handler=handler,
                             tag=self.tag, query=tuple(query), path_params=params, body=body,
                             validate_body=validate_body, body_required=body_required,
                             response=response, status=status,
                             errors=tuple(errors), description=description, raw=raw,
                             in_openapi=in_openapi, media_type=media_type, also=tuple(also),
                             needs_database=needs_database)
            self.ctx.routes.append(spec)
            self.app.route(bottle_path, method, _endpoint(spec, self.ctx),
                           name=spec.operation_id, firefly_spec=spec)
            return handler

        return decorate


# -- what runs for every request ------------------------------------------------------------


def current_principal() -> Principal | None:
    """The caller of the current request, from a bearer token or the session cookie."""
    request = bottle.request
    header = request.get_header("Authorization") or ""
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "Authorization: expected 'Bearer <token>'",
                           headers={"WWW-Authenticate": "Bearer"})
        principal = principal_from_token(token.strip())
        if principal is None:
            raise ApiError(401, "invalid or expired token",
                           headers={"WWW-Authenticate": "Bearer"})
        return principal
    session_id = request.get_cookie(SESSION_COOKIE)
    if session_id:
        return principal_from_session(session_id)
    return None


def authorize(spec: RouteSpec) -> Principal | None:
    if spec.permission == PUBLIC:
        return None
    principal = current_principal()
    if principal is None:
        raise ApiError(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
    if principal.via == "session" and bottle.request.method in STATE_CHANGING:
        sent = bottle.request.get_header(CSRF_HEADER) or ""
        if not sent or sent != principal.csrf_token:
            raise ApiError(403, f"CSRF check failed: send the {CSRF_HEADER} header "
                                "from GET /api/auth/me")
    if spec.permission != AUTHENTICATED and not principal.can(spec.permission):
        raise ApiError(403, f"forbidden: needs the permission {spec.permission}")
    return principal


def _path_args(spec: RouteSpec, args: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kind in spec.path_params:
        value = args[name]
        if kind is int:
            if not value.isdigit() or not 1 <= int(value) <= INT64_MAX:
                raise ApiError(404, f"not found: {name} {value[:40]!r}")
            out[name] = int(value)
        else:
            if "\x00" in value or len(value) > 500:
                raise ApiError(404, f"not found: {name} {value[:40]!r}")
            out[name] = value
    return out


def _query_args(spec: RouteSpec) -> dict[str, Any]:
    values: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    query = bottle.request.query
    for param in spec.query:
        texts = query.getall(param.name)
        if not texts:
            if param.required:
                problems.append({"path": f"query.{param.name}", "reason": "required"})
            values[param.name] = param.default
            continue
        try:
            text = texts[-1].encode("latin1").decode("utf-8")
            values[param.name] = param.parse(text)
        except UnicodeError:
            problems.append({"path": f"query.{param.name}", "reason": "not UTF-8"})
        except ValueError as exc:
            problems.append({"path": f"query.{param.name}", "reason": str(exc)})
    if problems:
        raise ApiError(400, "invalid query", errors=problems)
    return values


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json(required: bool = True) -> Any:
    """The request's JSON body (400 if it is not JSON, 413 if it is too large); NO_BODY when
    there is none and it is not ``required``."""
    request = bottle.request
    length = request.content_length
    if length > MAX_BODY_BYTES:
        raise ApiError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
    raw = request.body.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        if not required:
            return NO_BODY
        raise ApiError(400, "a JSON request body is required")
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"invalid JSON: {str(exc)[:200]}") from None
    problems = unsafe_values(value)
    if problems:
        raise ApiError(400, "invalid request body", errors=problems)
    return value


def unsafe_values(value: Any) -> list[dict[str, str]]:
    """Values no database column can hold: NUL, lone surrogates, integers beyond 64 bits."""
    problems: list[dict[str, str]] = []
    stack: list[tuple[list[Any], Any]] = [([], value)]
    while stack and len(problems) < 20:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                if _bad_text(key):
                    problems.append({"path": format_path(path), "reason": "invalid key text"})
                stack.append(([*path, key], sub))
        elif isinstance(item, list):
            stack.extend(([*path, i], sub) for i, sub in enumerate(item))
        elif isinstance(item, str) and _bad_text(item):
            problems.append({"path": format_path(path),
                             "reason": "NUL characters or invalid Unicode are not allowed"})
        elif isinstance(item, int) and not isinstance(item, bool) \
                and not -INT64_MAX - 1 <= item <= INT64_MAX:
            problems.append({"path": format_path(path), "reason": "integer out of range"})
    return problems


def _bad_text(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _body_validator(ctx: CentralContext, spec: RouteSpec) -> Any:
    assert spec.body is not None
    schema = {**schema_ref(spec.body), "components": {"schemas": ctx.schemas}}
    return jsonschema.Draft202012Validator(schema)


def _validate_body(validator: Any, value: Any) -> None:
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        raise ApiError(400, "invalid request body", errors=[
            {"path": format_path(e.absolute_path), "reason": e.message[:300]}
            for e in errors[:20]])


def _endpoint(spec: RouteSpec, ctx: CentralContext) -> Callable[..., Any]:
    validators: list[Any] = []  # built on first use: every schema is registered by then

    def endpoint(**args: str) -> Any:
        started, status = time.perf_counter(), 500
        try:
            result = answer(**args)
            status = bottle.response.status_code
            return result
        except bottle.HTTPResponse as answered:  # ApiError and redirects
            status = answered.status_code
            raise
        finally:
            if ctx.metrics is not None:
                ctx.metrics.observe_request(spec.method, spec.path, status,
                                            time.perf_counter() - started)

    def answer(**args: str) -> Any:
        if spec.needs_database:  # closed by the app's after_request hook
            database.connect(reuse_if_open=True)
        principal = authorize(spec)
        path_args = _path_args(spec, args)
        query = _query_args(spec)
        body = None
        if spec.body is not None:
            body = read_json(spec.body_required)
            if body is NO_BODY:
                body = None
            elif spec.validate_body:
                if not validators:
                    validators.append(_body_validator(ctx, spec))
                _validate_body(validators[0], body)
        req = Request(user=principal, query=query, body=body, ctx=ctx, raw=bottle.request)
        result = spec.handler(req, **path_args)
        if spec.raw:
            return result
        bottle.response.status = spec.status
        bottle.response.content_type = "application/json"
        return dumps(result)

    endpoint.__name__ = spec.handler.__name__
    return endpoint

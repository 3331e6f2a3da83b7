"""Processes: list, detail, create, update, deactivate, run manually (the seed's API)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bottle import Bottle
from peewee import IntegrityError

from agent.core.models import Process, ProcessTemplate, database
from agent.definitions import DefinitionError, needs_radio, validate_definition
from agent.processes import definition_of, save_process
from central.api._common import Api, ApiError, Query, Request
from central.api._schemas import array_of, obj
from central.audit import audit
from central.context import CentralContext
from central.manual import ExecuteError, execute_process
from central.views import process_detail_view, process_view

CENTRAL = "central"


def find_process(process_id: int) -> Process:
    """The process with this id (deleted ones are gone), or 404."""
    process = Process.get_or_none((Process.id == process_id) & ~Process.deleted)
    if process is None:
        raise ApiError(404, f"no process {process_id}")
    return process


def check_definition(body: Any) -> dict[str, Any]:
    """Validate a definition body, with central's own rules; 400 with every problem."""
    try:
        definition = validate_definition(body)
    except DefinitionError as exc:
        raise ApiError(400, "invalid definition", errors=exc.as_json()) from None
    problems: list[dict[str, str]] = []
    if CENTRAL in definition["stations"] and needs_radio(definition):
        problems.append({"path": "stations", "reason": "a process that runs at central cannot "
                                                       "have actions that need a radio"})
    template_id = definition.get("template_id")
    if template_id is not None and not ProcessTemplate.select().where(
            (ProcessTemplate.id == template_id) & ~ProcessTemplate.deleted).exists():
        problems.append({"path": "template_id", "reason": f"no template {template_id}"})
    if problems:
        raise ApiError(400, "invalid definition", errors=problems)
    return definition


@contextmanager
def unique_uids() -> Iterator[None]:
    """A trigger or action uid already used by another process is a conflict (409)."""
    try:
        with database.atomic():
            yield
    except IntegrityError as exc:
        raise ApiError(409, "a trigger or action uid in the definition belongs to another "
                            "process: leave uids out to get new ones") from exc


def create_process(req: Request, body: Any, *, action: str = "create") -> Process:
    """Store a new process from a definition body (validated here), audited, in one transaction.

    The caller tells ``ctx.changed`` once its transaction is committed.
    """
    definition = check_definition(body)
    with database.atomic():
        if definition.get("uid") and Process.select().where(
                Process.uid == definition["uid"]).exists():
            raise ApiError(409, f"a process with uid {definition['uid']} already exists")
        user_id = req.user.user_id if req.user is not None else None
        with unique_uids():
            process = save_process(definition, origin=CENTRAL, hlc=req.ctx.clock.now(),
                                   created_by=user_id, validated=True)
        audit(req.actor, action, "process", process.uid, None, definition_of(process))
    return process


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="processes")
    api.schema("ProcessList", obj({"processes": array_of("Process"),
                                   "total": {"type": "integer"}}))
    api.schema("ProcessCreated", obj({"process_id": {"type": "integer"}}))
    api.schema("ExecuteRequest", obj({"trigger_data": {"type": "object"}}, required=[],
                                     additionalProperties=False))
    api.schema("ExecutionCreated", obj({"execution_id": {"type": "integer"},
                                        "execution_ids": {"type": "array",
                                                          "items": {"type": "integer"}}}))

    @api.get("/api/processes", "processes:view", "List processes",
             query=[Query("limit", int, 50, "page size", minimum=1, maximum=500),
                    Query("offset", int, 0, "rows to skip", minimum=0),
                    Query("active_only", bool, False, "only active processes"),
                    Query("template_id", int, None, "made from this template", minimum=1),
                    Query("created_by", int, None, "created by this admin user", minimum=1)],
             response="ProcessList")
    def list_processes(req: Request) -> dict[str, Any]:
        q = req.query
        query = Process.select().where(~Process.deleted)
        if q["active_only"]:
            query = query.where(Process.is_active)
        if q["template_id"] is not None:
            query = query.where(Process.template_id == q["template_id"])
        if q["created_by"] is not None:
            query = query.where(Process.created_by == q["created_by"])
        page = query.order_by(Process.id).limit(q["limit"]).offset(q["offset"])
        return {"processes": [process_view(p) for p in page], "total": query.count()}

    @api.get("/api/processes/{id:int}", "processes:view",
             "A process with its triggers and actions", response="ProcessDetail")
    def get_process(req: Request, id: int) -> dict[str, Any]:
        return process_detail_view(find_process(id))

    @api.post("/api/processes", "processes:create", "Create a process",
              body="ProcessDefinition", validate_body=False, response="ProcessCreated",
              status=201, errors=(409,),
              description="The body is a process definition (see ProcessDefinition); errors "
                          "list each problem with its path.")
    def create(req: Request) -> dict[str, Any]:
        process = create_process(req, req.body)
        req.ctx.changed("process", process.uid)
        return {"process_id": process.id}

    @api.put("/api/processes/{id:int}", "processes:create", "Update a process (a new version)",
             body="ProcessDefinition", validate_body=False, response="Message", errors=(409,),
             description="Same body as create. Send the `version` you edited to be told "
                         "(409) when someone else changed the process meanwhile.")
    def update(req: Request, id: int) -> dict[str, Any]:
        process = find_process(id)
        definition = check_definition(req.body)
        with database.atomic():
            process = find_process(id)
            if definition.get("uid") not in (None, process.uid):
                raise ApiError(409, f"uid {definition['uid']} is not the uid of process {id}")
            if definition.get("version") not in (None, process.version):
                raise ApiError(409, f"process {id} is at version {process.version}, "
                                    f"not {definition['version']}: reload it and edit again")
            before = definition_of(process)
            definition["uid"] = process.uid
            with unique_uids():
                save_process(definition, existing=process, origin=CENTRAL,
                             hlc=req.ctx.clock.now(), validated=True)
            audit(req.actor, "update", "process", process.uid, before, definition_of(process))
        req.ctx.changed("process", process.uid)
        return {"message": "updated"}

    @api.delete("/api/processes/{id:int}", "processes:create", "Deactivate a process",
                response="Message")
    def deactivate(req: Request, id: int) -> dict[str, Any]:
        with database.atomic():
            process = find_process(id)
            if not process.is_active:
                return {"message": "deactivated"}
            before = definition_of(process)
            save_process({**before, "is_active": False}, existing=process, origin=CENTRAL,
                         hlc=req.ctx.clock.now())
            audit(req.actor, "deactivate", "process", process.uid, before,
                  definition_of(process))
        req.ctx.changed("process", process.uid)
        return {"message": "deactivated"}

    @api.post("/api/processes/{id:int}/execute", "processes:execute", "Run a process now",
              body="ExecuteRequest", body_required=False, response="ExecutionCreated",
              status=201, errors=(409,),
              description="Runs at central when the process is assigned to station "
                          "'central'; for field stations a queued execution and a 'run' "
                          "command are created per station. Returns the first execution id.")
    def execute(req: Request, id: int) -> dict[str, Any]:
        process = find_process(id)
        data = (req.body or {}).get("trigger_data") or {}
        try:
            ids = execute_process(req.ctx, process, data, req.require_user())
        except ExecuteError as exc:
            raise ApiError(409, str(exc)) from None
        return {"execution_id": ids[0], "execution_ids": ids}

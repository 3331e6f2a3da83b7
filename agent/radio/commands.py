"""Mesh commands: an operator with only a handset runs processes on the station.

A direct message to the station's radio whose first word is a command:

- ``!run <process> [args...]`` runs a process (by id, uid or name slug, e.g. ``evac-north``)
  with trigger_data ``{"args": [...], "from_id": "!a1b2c3d4", "from_name": ...}``; only a
  process that has an active manual trigger with ``"allow_mesh": true`` may be run this way;
- ``!status`` the station's state in one line; ``!help`` the commands.

Only nodes listed in ``radio.command_nodes`` may use them. Anyone else gets one short refusal
per hour (per node), so a stranger cannot make the station flood the mesh with refusals.
Replies go through the outbound queue. Runs on the engine thread (a module hook for the
``mesh_command`` events that agent/radio/packets.py makes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from agent.core.models import ProcessExecution, database
from agent.engine.events import Event
from agent.processes import ProcessNotFound, find_process
from agent.radio.packets import normalise_node

if TYPE_CHECKING:
    from agent.engine.compiled import CompiledProcess
    from agent.radio.service import RadioService

_LOG = logging.getLogger(__name__)

REFUSAL_INTERVAL_SECONDS = 3600.0
REPLY_PRIORITY = 2  # after emergencies, before routine texts
MAX_NAME_IN_REPLY = 40


def mesh_allowed(process: CompiledProcess) -> bool:
    """Whether a process may be run with ``!run``: an active manual trigger with allow_mesh."""
    return any(t.type_name == "manual" and bool(t.trigger.config.get("allow_mesh"))
               for t in process.triggers)


class MeshCommands:
    def __init__(self, radio: RadioService) -> None:
        self.radio = radio
        self.authorised: frozenset[str] = frozenset()
        self._refused: dict[str, float] = {}
        self.handlers: dict[str, Callable[[str, list[str], dict[str, Any]], None]] = {
            "run": self._run, "status": self._status, "help": self._help}

    def configure(self, nodes: list[str]) -> None:
        authorised = set()
        for ref in nodes:
            node = normalise_node(ref)
            if node is None:
                _LOG.warning("radio.command_nodes: %r is not a node id (!a1b2c3d4); ignored", ref)
            else:
                authorised.add(node)
        self.authorised = frozenset(authorised)

    # -- the hook (engine thread, in a transaction) --------------------------------------------

    def on_command(self, event: Event) -> list[Event]:
        data = event.data
        node = str(data.get("from_id", ""))
        command = str(data.get("command", ""))
        if node not in self.authorised:
            self._refuse(node, command)
            return []
        args = [str(a) for a in data.get("args") or []]
        _LOG.info("mesh command !%s %s from %s", command, " ".join(args), node)
        self.handlers.get(command, self._help)(node, args, data)
        return []

    def _refuse(self, node: str, command: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        last = self._refused.get(node)
        if last is not None and now - last < REFUSAL_INTERVAL_SECONDS:
            _LOG.info("mesh command !%s from %s refused again (no reply)", command, node)
            return
        if len(self._refused) > 1000:
            self._refused = {n: t for n, t in self._refused.items()
                             if now - t < REFUSAL_INTERVAL_SECONDS}
        self._refused[node] = now
        _LOG.warning("mesh command !%s from %s refused: not in radio.command_nodes", command, node)
        self.reply(node, f"{self._station()}: not authorised for commands")

    def reply(self, node: str, text: str) -> None:
        try:
            self.radio.enqueue(destination=node, text=text, priority=REPLY_PRIORITY)
        except (ValueError, RuntimeError) as exc:
            _LOG.warning("mesh command reply to %s not queued: %s", node, exc)

    def _station(self) -> str:
        return str(self.radio.services.station_id)

    # -- commands ------------------------------------------------------------------------------

    def _run(self, node: str, args: list[str], data: dict[str, Any]) -> None:
        if not args:
            self.reply(node, "usage: !run <process> [args]")
            return
        ref = args[0]
        try:
            process = find_process(ref)
        except ProcessNotFound:
            self.reply(node, f"!run: no process '{ref[:MAX_NAME_IN_REPLY]}'")
            return
        name = str(process.name)[:MAX_NAME_IN_REPLY]
        engine = self.radio.services.engine
        compiled = engine.processes.get(process.uid)
        if compiled is None:
            self.reply(node, f"!run {name}: not active on this station")
            return
        if not mesh_allowed(compiled):
            self.reply(node, f"!run {name}: not allowed from the mesh")
            return
        trigger_data = {"args": args[1:], "from_id": node, "from_name": data.get("from_name")}
        handle = engine.run_process(process.uid, trigger_data, triggered_by=node,
                                    source="mesh-command")

        def created(future: Future[int]) -> None:
            engine.call(lambda: self._started(node, name, future, handle.finished))

        handle.created.add_done_callback(created)

    def _started(self, node: str, name: str, created: Future[int],
                 finished: Future[str]) -> None:
        try:
            execution_id = created.result(timeout=0)
        except Exception as exc:  # noqa: BLE001 - the engine's reason goes to the operator
            text = f"!run {name}: {exc}"
        else:
            dropped = finished.done() and finished.exception() is None \
                and finished.result() == "dropped"
            text = (f"!run {name}: not run (already running)" if dropped
                    else f"!run {name}: started, execution {execution_id}")
        with database.atomic():
            self.reply(node, text)

    def _status(self, node: str, args: list[str], data: dict[str, Any]) -> None:
        status = self.radio.status()
        counts = self.radio.nodes.counts()
        alerts = self.radio.services.modules.get("alerts")
        open_alerts = len(alerts.open_alerts()) if alerts is not None else 0
        running = ProcessExecution.select().where(
            ProcessExecution.status.in_(("running", "waiting"))).count()
        self.reply(node, f"{self._station()}: radio {'up' if status.get('connected') else 'down'}, "
                         f"queue {status['queue']['pending']}, nodes {counts['online']}/"
                         f"{counts['known']} online, {running} running, {open_alerts} alerts open")

    def _help(self, node: str, args: list[str], data: dict[str, Any]) -> None:
        self.reply(node, "commands: !run <process> [args], !status, !help")

"""firefly-agent run: the station, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from agent.cli import EXIT_OK
from agent.config import AgentConfig

_LOG = logging.getLogger("agent")


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the station: engine, radio, sync")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace, config: AgentConfig) -> int:
    from agent.runlock import hold_run_lock
    from agent.station import Station

    hold_run_lock(config.station.db)  # until exit: restore refuses, a second run too
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    station = Station(config)
    station.start()
    _LOG.info("station %s running (db %s, radio %s, mqtt %s)", config.station.id,
              config.station.db, config.radio.url, "on" if config.mqtt.url != "none" else "off")
    try:
        stop.wait()
    finally:
        _LOG.info("station %s stopping", config.station.id)
        station.stop()
    return EXIT_OK

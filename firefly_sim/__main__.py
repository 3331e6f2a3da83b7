"""Command line: ``firefly-sim --radio-port PORT [...] --control HOST:PORT [--scenario FILE]``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from firefly_sim.app import Simulator
from firefly_sim.mesh import SimError
from firefly_sim.scenario import ScenarioError, load_scenario
from firefly_sim.scenarios import builtin_scenario

log = logging.getLogger("firefly_sim")


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port 1..65535, got {value!r}")
    return int(value)


def _speed(value: str) -> float:
    try:
        speed = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not 0.001 <= speed <= 10_000:
        raise argparse.ArgumentTypeError("speed must be between 0.001 and 10000")
    return speed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="firefly-sim",
        description=(
            "Simulated Meshtastic mesh: each --radio-port is a station radio speaking the "
            "Meshtastic TCP stream API; a JSON control API drives the virtual nodes."
        ),
    )
    parser.add_argument(
        "--radio-port",
        type=_port,
        action="append",
        required=True,
        metavar="PORT",
        help="TCP port of one station radio (repeat for several stations on one mesh)",
    )
    parser.add_argument(
        "--radio-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address the radio ports listen on (default 127.0.0.1)",
    )
    parser.add_argument(
        "--control",
        type=_host_port,
        required=True,
        metavar="HOST:PORT",
        help="address of the HTTP control API, e.g. 127.0.0.1:8765",
    )
    parser.add_argument(
        "--scenario",
        metavar="FILE",
        help="scenario TOML file, or the name of a built-in scenario ('demo')",
    )
    parser.add_argument("--speed", type=_speed, help="scenario seconds per real second (overrides the file)")
    parser.add_argument("--seed", type=int, help="random seed (overrides the file)")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level on stderr (default INFO)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    scenario = None
    if args.scenario:
        path = Path(args.scenario)
        if not path.exists():
            path = builtin_scenario(args.scenario) or path
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            print(f"firefly-sim: {exc}", file=sys.stderr)
            return 2
    try:
        sim = Simulator(
            radio_ports=args.radio_port,
            control=args.control,
            scenario=scenario,
            speed=args.speed,
            seed=args.seed,
            radio_host=args.radio_host,
        )
        sim.start()
    except (OSError, ValueError, SimError) as exc:
        print(f"firefly-sim: cannot start: {exc}", file=sys.stderr)
        return 1

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d received, stopping", signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    log.info(
        "firefly-sim ready: radios %s, control http://%s:%d",
        ", ".join(str(p) for p in args.radio_port),
        sim.control.host,
        sim.control.port,
    )
    while not stop.wait(0.5):
        pass
    sim.stop()
    log.info("firefly-sim stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The agent's logs under systemd: structured key=value lines on standard error, with levels,
and never the MQTT password, whether the broker accepts the station or refuses it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.ops.ops_support import (
    STATION_PASSWORD,
    agent_env,
    password_broker,
    running_agent,
)
from tests.support import wait_until

LINE = re.compile(r'^level=(debug|info|warning|error|critical) logger=\S+ msg=(".*")( exc=".*")?$')


def assert_structured(output: str) -> list[str]:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines
    for line in lines:
        match = LINE.match(line)
        assert match, f"not a structured log line: {line!r}"
        json.loads(match.group(2))  # the message is one JSON string
    return lines


@pytest.mark.broker
@pytest.mark.parametrize(("password", "wait_for"), [
    (STATION_PASSWORD, "sync: connected to"),
    ("Wr0ng-Secret-4712", "refused the connection"),
])
def test_run_start_up_logs_never_show_the_mqtt_password(tmp_path: Path, password: str,
                                                        wait_for: str) -> None:
    with password_broker(tmp_path) as broker:
        env = agent_env(tmp_path, FIREFLY_MQTT=broker.url(password=password),
                        FIREFLY_LOG_LEVEL="debug", FIREFLY_STATION_ID="st01")
        with running_agent(env, tmp_path / "agent.log") as agent:
            wait_until(lambda: wait_for in agent.output(), timeout=60,
                       message=f"a log line with {wait_for!r}")
        output = agent.output()
    assert password not in output
    lines = assert_structured(output)
    assert any(f"st01@127.0.0.1:{broker.port}" in line for line in lines), output
    assert any(line.startswith("level=info logger=agent ") and "running" in line
               for line in lines)

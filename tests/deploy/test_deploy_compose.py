"""deploy/compose.yaml and deploy/Dockerfile. No Docker engine here, so they are not built:
the compose file is parsed and checked for what `docker compose up` needs (services, files it
mounts, central's settings through central's own loader), and the Dockerfile for what the
image needs (files it copies exist, the command it runs)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from central.config import ENV as CENTRAL_ENV
from central.config import load_settings
from tests.support import REPO

DEPLOY = REPO / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def substitute(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:?message} and ${VAR:-default}."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        if name in env:
            return env[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg
    return re.sub(r"\$\{(\w+)(:\?|:-)?([^}]*)\}", one, value)


def test_services_and_their_wiring(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"central", "mosquitto", "postgres"}
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        for dependency in service.get("depends_on", {}):
            assert dependency in services
    declared = set(compose.get("volumes", {}))
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("."):
                assert source in declared, f"undeclared volume {source}"
    assert "healthcheck" in services["postgres"]
    assert services["central"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # Only the TLS listener and (on loopback) central's page reach the host.
    assert services["mosquitto"]["ports"] == ["8883:8883"]
    assert services["central"]["ports"] == ["127.0.0.1:8080:8080"]
    assert "ports" not in services["postgres"]


def test_mounted_files_exist_and_match_the_broker_config(compose: dict[str, Any]) -> None:
    mosquitto = compose["services"]["mosquitto"]
    mounts = {}
    for volume in mosquitto["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[target] = source
        if source.startswith("./") and not source.startswith("./secrets"):
            assert (DEPLOY / source).exists(), f"{source} is mounted but not in deploy/"
    config = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    command = " ".join(mosquitto["command"])
    assert "mosquitto -c /etc/mosquitto/mosquitto.conf" in command
    assert mounts["/etc/mosquitto/mosquitto.conf"] == "./mosquitto/mosquitto.conf"
    # Every file the broker config names is mounted, or copied in by the command.
    for key in ("password_file", "acl_file", "certfile", "keyfile", "persistence_location"):
        path = re.search(rf"^{key} (\S+)$", config, re.M).group(1)  # type: ignore[union-attr]
        assert path.rstrip("/") in mounts or f" {path}" in command, f"{key} {path}"
    include = re.search(r"^include_dir (\S+)$", config, re.M).group(1)  # type: ignore[union-attr]
    assert any(target.startswith(include + "/") for target in mounts)


def test_central_environment_loads_with_centrals_loader(compose: dict[str, Any]) -> None:
    env = compose["services"]["central"]["environment"]
    assert set(env) <= set(CENTRAL_ENV), "a variable central does not read"
    values = {"POSTGRES_PASSWORD": "pg-pw", "CENTRAL_MQTT_PASSWORD": "mq-pw"}
    resolved = {key: substitute(str(value), values) for key, value in env.items()}
    settings = load_settings(None, env=resolved)
    assert settings.database.url == "postgresql://firefly:pg-pw@postgres:5432/firefly"
    assert settings.mqtt.url == "mqtt://central:mq-pw@mosquitto:1883"
    assert settings.server.listen == "0.0.0.0:8080"
    with pytest.raises(KeyError):
        substitute(str(env["FIREFLY_MQTT"]), {})  # refuses to start without the password
    example = dict(line.split("=", 1) for line in (DEPLOY / "compose.env.example").read_text()
                   .splitlines() if line and not line.startswith("#"))
    assert set(example) == set(values)


def test_dockerfile_builds_from_files_that_exist(compose: dict[str, Any]) -> None:
    build = compose["services"]["central"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    dockerfile = context / build["dockerfile"]
    assert context == REPO and dockerfile == DEPLOY / "Dockerfile"
    instructions = []
    for line in re.sub(r"\\\n", " ", dockerfile.read_text()).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instructions.append(line.split(None, 1))
    known = {"FROM", "WORKDIR", "COPY", "RUN", "USER", "ENV", "VOLUME", "EXPOSE",
             "HEALTHCHECK", "ENTRYPOINT", "CMD", "ARG", "LABEL"}
    assert {word for word, *_ in instructions} <= known
    assert instructions[0][0] == "FROM"
    for word, rest in instructions:
        if word == "COPY" and "--from=" not in rest:
            for source in rest.split()[:-1]:
                assert (context / source).exists(), f"COPY {source}: not in the build context"
    final = {word: rest for word, rest in instructions}
    assert final["ENTRYPOINT"] == '["firefly-central"]' and final["CMD"] == '["serve"]'
    assert final["USER"] == "firefly"  # not root
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert "!agent/" in ignore and "!central/" in ignore

"""Central's settings: TOML file, FIREFLY_* overrides, errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import ConfigError
from central.config import load_settings
from tests.support import REPO


def test_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "central.toml"
    config.write_text('[server]\nlisten = "0.0.0.0:9000"\nthreads = 4\n'
                      '[database]\nurl = "sqlite:///tmp/x.db"\n[auth]\nsecure_cookie = true\n')
    settings = load_settings(config, {})
    assert (settings.server.listen, settings.server.threads) == ("0.0.0.0:9000", 4)
    assert settings.auth.secure_cookie is True and settings.mqtt.url == "none"
    settings = load_settings(config, {"FIREFLY_LISTEN": "127.0.0.1:8181",
                                      "FIREFLY_DATABASE_URL": "postgresql://u@db/central",
                                      "FIREFLY_MQTT": "mqtt://central:pw@broker:1883"})
    assert settings.server.listen == "127.0.0.1:8181"
    assert settings.database.url == "postgresql://u@db/central"
    assert settings.mqtt.url == "mqtt://central:pw@broker:1883"
    defaults = load_settings(None, {})
    assert (defaults.server.listen, defaults.database.url) == ("127.0.0.1:8080",
                                                               "sqlite:///var/central.db")


@pytest.mark.parametrize(("text", "env", "named"), [
    ('[server]\nlisten = "nowhere"\n', {}, "server.listen"),
    ("[server]\nthreads = \"many\"\n", {}, "server.threads"),
    ("[auth]\nsession_days = 3\n", {}, "auth.session_days"),
    ("", {"FIREFLY_DATABASE_URL": "mysql://x"}, "database.url"),
])
def test_bad_settings_are_named(tmp_path: Path, text: str, env: dict[str, str],
                                named: str) -> None:
    config = tmp_path / "central.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_settings(config, env)


def test_the_example_config_loads() -> None:
    settings = load_settings(REPO / "deploy" / "central.example.toml", {})
    assert settings.database.url.startswith("sqlite:///")

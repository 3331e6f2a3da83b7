"""Built-in scenarios (``--scenario demo`` uses ``demo.toml`` from here)."""

from pathlib import Path

SCENARIO_DIR = Path(__file__).resolve().parent


def builtin_scenario(name: str) -> Path | None:
    """Path of the built-in scenario ``name`` (without ``.toml``), if there is one."""
    path = SCENARIO_DIR / f"{name}.toml"
    return path if name.isidentifier() and path.is_file() else None

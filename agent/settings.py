"""Settings from a TOML file, overridden by environment variables, checked at start-up.

Generic over dataclasses: each section is a frozen dataclass whose fields carry a default and
a help text; an unknown key or a wrong type is refused with its dotted name. Central uses the
same loader with its own sections.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


def setting(default: Any, help: str) -> Any:
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: default.copy(),
                                 metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def _coerce(name: str, kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name}: expected a table")
        return build(kind, value, name)  # type: ignore[arg-type]
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return None if value is None else _coerce(name, args[0], value)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{name}: expected a list")
        (item,) = typing.get_args(kind)
        return [_coerce(f"{name}[{i}]", item, v) for i, v in enumerate(value)]
    if kind is bool:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false")
        return value
    if kind in (int, float):
        try:
            if isinstance(value, bool):
                raise ValueError
            return kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None
    if kind is str:
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{name}: expected text")
        return str(value)
    return value


def build(cls: type[T], values: Mapping[str, Any], prefix: str = "") -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - set(fields)
    if unknown:
        name = f"{prefix}.{sorted(unknown)[0]}" if prefix else sorted(unknown)[0]
        raise ConfigError(f"{name}: unknown setting")
    kwargs = {
        key: _coerce(f"{prefix}.{key}" if prefix else key, hints[key], value)
        for key, value in values.items()
    }
    return cls(**kwargs)


def load(cls: type[T], path: str | Path | None, env: Mapping[str, str],
         env_map: Mapping[str, str]) -> T:
    """Read ``path`` (if given), apply environment overrides (``VAR -> section.key``)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    for var, dotted in env_map.items():
        if var in env and env[var] != "":
            section, _, key = dotted.rpartition(".")
            target = data
            for part in section.split(".") if section else []:
                target = target.setdefault(part, {})
            target[key] = env[var]
    return build(cls, data)


def describe(cls: type[Any], prefix: str = "") -> list[tuple[str, Any, str]]:
    """Every setting as (dotted name, default, help): for docs and `config show`."""
    out: list[tuple[str, Any, str]] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name = f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(hints[f.name]):
            out += describe(hints[f.name], name)
        else:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
                else f.default
            out.append((name, default, f.metadata.get("help", "")))
    return out


def environ() -> Mapping[str, str]:
    return os.environ

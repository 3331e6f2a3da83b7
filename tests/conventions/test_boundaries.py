"""Import boundaries: central may import the agent, never the reverse; the core stays light."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imports_of(package: str) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in (REPO / package.replace(".", "/")).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path] = names
    return found


def test_agent_never_imports_central_or_the_simulator() -> None:
    offenders = {str(p.relative_to(REPO)): sorted(n for n in names
                                                  if n.split(".")[0] in ("central", "firefly_sim"))
                 for p, names in imports_of("agent").items()}
    assert {p: n for p, n in offenders.items() if n} == {}


def test_core_imports_nothing_else_of_the_agent() -> None:
    offenders = {str(p.relative_to(REPO)): sorted(n for n in names if n.startswith("agent.")
                                                  and not n.startswith("agent.core"))
                 for p, names in imports_of("agent.core").items()}
    assert {p: n for p, n in offenders.items() if n} == {}


def test_simulator_uses_only_the_pure_radio_helpers_of_the_agent() -> None:
    allowed = {"agent.radio.airtime", "agent.radio.textsplit"}
    offenders = {str(p.relative_to(REPO)): sorted(n for n in names if n.split(".")[0] == "agent"
                                                  and n not in allowed)
                 for p, names in imports_of("firefly_sim").items()}
    assert {p: n for p, n in offenders.items() if n} == {}

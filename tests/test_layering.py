"""The house's layout, read from the code: every module imports, rooms meet only at each other's public
names, printing never reaches into the technician's room, and no two packages import each other.

Imports are read from each module's syntax tree, those inside functions included (an import made
lazily still ties two modules together).
"""
from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOMS = ("jobs", "card", "printing", "technician", "offline", "observe", "power", "storage")
#: The station's top: it wires the rooms, so no room may import it.
TOP = ("agent.station", "agent.daemon", "agent.startup", "agent.cli", "agent.__main__")


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((REPO / package).rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = {**_modules("agent"), **_modules("drivers")}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imports(module: str) -> list[tuple[str, tuple[str, ...]]]:
    """(the module imported from, the names taken) for each import statement of ``module``."""
    tree = ast.parse(MODULES[module].read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if _is_package(module) else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = tuple(alias.name for alias in node.names)
            # ``from agent.card import layout``: the submodule itself is what is imported
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            found += [(sub, ()) for sub in subs]
            rest = tuple(n for n in names if f"{target}.{n}" not in MODULES)
            if rest or not subs:
                found.append((target, rest))
    return [(target, names) for target, names in found if target.split(".")[0] in ("agent", "drivers")]


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "agent" and len(parts) > 1 and parts[1] in ROOMS else None


def _public(room: str) -> set[str]:
    return set(importlib.import_module(f"agent.{room}").__all__)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_every_module_imports(module):
    importlib.import_module(module)  # a ``__main__`` runs its command when imported: its syntax is read above


def test_rooms_import_each_other_only_by_their_public_names():
    wrong = []
    for module in MODULES:
        here = _room(module)
        for target, names in _imports(module):
            there = _room(target)
            if there is None or there == here:
                continue
            if target != f"agent.{there}":
                wrong.append(f"{module} reaches inside {target}")
            else:
                wrong += [f"{module} takes {name!r}, not a public name of agent.{there}"
                          for name in names if name not in _public(there)]
    assert wrong == []


def test_no_room_imports_the_station_that_wires_it():
    wrong = [f"{module} imports {target}" for module in MODULES if _room(module)
             for target, _ in _imports(module) if target in TOP]
    assert wrong == []


def test_printing_never_imports_the_technician_room():
    wrong = [f"{module} imports {target}" for module in MODULES if _room(module) == "printing"
             for target, _ in _imports(module) if _room(target) == "technician"]
    assert wrong == []


def test_each_room_exports_only_what_it_defines():
    for room in ROOMS:
        package = importlib.import_module(f"agent.{room}")
        missing = [name for name in package.__all__ if not hasattr(package, name)]
        assert missing == [], f"agent.{room}.__all__ names what it lacks"


def _package_of(module: str) -> str:
    """The node a module counts for: its sub-package (a room, drivers.evolis, ...), or itself at a root."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and _is_package(module)):
        return ".".join(parts[:2])
    return module


def _package_cycles(top: str) -> list[list[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        if not module.startswith(top):
            continue
        for target, _ in _imports(module):
            if target.startswith(top) and target in MODULES:
                a, b = _package_of(module), _package_of(target)
                if a != b:
                    edges[a].add(b)
    cycles, done, path = [], set(), []

    def visit(node: str) -> None:
        if node in path:
            cycles.append(path[path.index(node):] + [node])
            return
        if node in done:
            return
        path.append(node)
        for nxt in sorted(edges[node]):
            visit(nxt)
        path.pop()
        done.add(node)

    for node in sorted(edges):
        visit(node)
    return cycles


def test_no_cycle_between_the_station_packages():
    assert _package_cycles("agent") == []


def test_no_cycle_between_the_driver_packages():
    assert _package_cycles("drivers") == []

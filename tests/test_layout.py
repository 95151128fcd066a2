"""The package layout: imports run one way, from a room to the rooms below it, never back up.

Data flows figures → sim/llm → tsallis; inside ``llm/`` the rooms are ordered as listed in :data:`ROOMS`
(a room may import from itself and from the rooms before it). Lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

ROOMS = {"models": 0, "seeding": 0, "data": 1, "scoring": 2, "rollout": 2, "evaluation": 3, "train": 4, "runs": 5,
         "integrations": 5, "coldstart": 6, "cli": 7}
"""The rooms of ``llm/`` and their level; ``models.py`` and ``seeding.py`` are the ground floor."""


def imported_modules(path: Path) -> list[str]:
    """Every module ``path`` imports (absolute imports, at any depth of the file)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "llm" and len(parts) > 1 else None


@pytest.mark.parametrize("package", ["tsallis", "sim", "figures"])
def test_lower_packages_import_no_llm(package):
    offenders = [f"{p.relative_to(ROOT)}: {m}" for p in sorted((ROOT / package).rglob("*.py"))
                 for m in imported_modules(p) if m == "llm" or m.startswith("llm.")]
    assert offenders == []


def test_llm_rooms_import_only_downwards():
    offenders = []
    for path in sorted((ROOT / "llm").rglob("*.py")):
        parts = path.relative_to(ROOT / "llm").with_suffix("").parts
        if parts[0] == "__init__":
            continue
        here = ROOMS[parts[0]]
        for module in imported_modules(path):
            there = room(module)
            if there is not None and there != parts[0] and ROOMS[there] >= here:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []

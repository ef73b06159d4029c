"""The all-in-one ``caio`` distribution repeats every part's dependencies (pyproject.toml says so).

An editable checkout installs the root project only, so a dependency a part
declares but the root forgets would be missing from a development install
and present in a user's: each part's requirements must appear in the root's
with the same specifier.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PARTS = [
    "sdk",
    "broker",
    "gateway",
    "workers/codex",
    "workers/local_review",
    "workers/http_bridge",
    "workers/onnx_bridge",
    "workers/grpc_bridge",
]


def requirements(pyproject: Path) -> dict[str, Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    found = (Requirement(line) for line in project["dependencies"])
    return {r.name.lower(): r for r in found}


@pytest.mark.parametrize("part", PARTS)
def test_every_dependency_of_a_part_is_in_the_root_distribution(part: str) -> None:
    root = requirements(ROOT / "pyproject.toml")
    own = {
        name: r
        for name, r in requirements(ROOT / part / "pyproject.toml").items()
        if not name.startswith("caio-")  # the parts themselves are in the root wheel
    }

    missing = sorted(set(own) - set(root))
    differing = {n: (str(own[n]), str(root[n])) for n in own if n in root and own[n] != root[n]}

    assert missing == []
    assert differing == {}

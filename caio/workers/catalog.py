"""The bridge workers the CLI runs: installed ones by name (``caio worker <name>``),
and your own by ``module:Class`` (``caio worker my_worker:MyWorker --contract my.yaml``,
see ``caio.workers.custom``).

A worker package makes its worker known by an entry point in the group
``caio.workers`` (``codex = "caio_codex.worker:CodexWorker"``): installing the
package is all it takes for ``caio worker`` to list and run it. CAIO's own
workers are found the same way (the root pyproject declares them, and so
does each worker's own).

A worker class names the contract it serves when ``--contract`` is not
given in a class attribute, ``default_contract``: a file in CAIO's contracts
directory, or an absolute path (a contract shipped inside the worker's
package). CAIO's contracts directory is found where the schema is:
``<checkout>/contracts`` next to the packages when running from a checkout,
else ``caio/_data/contracts`` inside an installed wheel (see
``[tool.hatch.build.targets.wheel.force-include]`` in pyproject.toml). A worker
without one (and every ``module:Class``) needs its contract given.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from caio.paths import bundled_contracts_dir
from caio.workers.custom import checked_worker_class, is_custom_worker, load_worker_class
from caio_integration.bridge import BridgeWorker, WorkerConfig
from caio_integration.contracts.model import ServiceContract

__all__ = [
    "ENTRY_POINT_GROUP",
    "available_workers",
    "contracts_dir",
    "create_worker",
    "default_contract_path",
    "worker_and_contract",
    "worker_class",
]

ENTRY_POINT_GROUP = "caio.workers"


def _installed() -> dict[str, EntryPoint]:
    """Each installed worker's entry point by name; the first found wins (the root
    distribution and a worker's own may both declare the same one)."""
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry)
    return found


def available_workers() -> list[str]:
    """The names ``create_worker`` accepts besides ``module:Class``, sorted."""
    return sorted(_installed())


def contracts_dir() -> Path:
    """``<checkout>/contracts`` if present, else the wheel's ``caio/_data/contracts``."""
    return bundled_contracts_dir()


def worker_class(name: str) -> type[BridgeWorker]:
    """The class ``name`` stands for: an installed worker, or ``module:Class``.

    Every failure is a ``ValueError`` whose message is one line saying what to fix.
    """
    if is_custom_worker(name):
        return load_worker_class(name)
    entry = _installed().get(name)
    if entry is None:
        raise ValueError(
            f"unknown worker {name!r}; built-in workers: {', '.join(available_workers())}, "
            "or your own BridgeWorker subclass as module:Class with --contract FILE"
        )
    try:
        loaded = entry.load()  # imports the worker's package (the Codex one: the openai SDK)
    except Exception as exc:  # noqa: BLE001 - an installed package's import: report what it raised
        raise ValueError(
            f"worker {name!r} ({entry.value}) failed to load: {type(exc).__name__}: {exc}"
        ) from None
    return checked_worker_class(f"worker {name!r} ({entry.value})", loaded)


def default_contract_path(name: str) -> Path:
    """The contract ``caio worker NAME`` serves without ``--contract``."""
    return worker_and_contract(name)[1]


def worker_and_contract(
    name: str, contract_path: Path | None = None
) -> tuple[type[BridgeWorker], Path]:
    """The class ``name`` stands for and the contract it is to serve: ``contract_path``,
    else the one its class names (a ``ValueError`` if it names none)."""
    cls = worker_class(name)
    if contract_path is not None:
        return cls, contract_path
    # Read with getattr: the attribute is the worker packages' convention, not
    # part of BridgeWorker (a custom class may well not have it).
    named = getattr(cls, "default_contract", None)
    if not isinstance(named, str):
        raise ValueError(f"worker {name} needs its contract: --contract FILE")
    return cls, contracts_dir() / named


def create_worker(
    name: str, config: WorkerConfig, contract_path: Path | None = None
) -> BridgeWorker:
    """A worker serving ``contract_path``: an installed worker by name (default: the
    contract its class names), or the ``module:Class`` of your ``BridgeWorker``."""
    cls, path = worker_and_contract(name, contract_path)
    if not path.is_file():
        raise FileNotFoundError(f"contract file for worker {name!r} not found: {path}")
    return cls(_load_contract(path), config)


def _load_contract(path: Path) -> ServiceContract:
    # Imported on use: caio_integration.contracts pulls in jsonschema and the schema
    # file, which listing the workers does not need.
    from caio_integration.contracts import load_contract_file

    return load_contract_file(path)

"""The bridge workers the CLI runs: built-ins by name (``caio worker <name>``), and
your own by ``module:Class`` (``caio worker my_worker:MyWorker --contract my.yaml``,
see ``caio.workers.custom``).

Each built-in name comes with its default contract file; a custom worker
needs its contract given. Contracts are found where the
schema is: ``<checkout>/contracts`` next to the packages when running from a
checkout, else ``caio/_data/contracts`` inside an installed wheel (see
``[tool.hatch.build.targets.wheel.force-include]`` in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from caio.paths import bundled_contracts_dir
from caio.workers.custom import is_custom_worker, load_worker_class
from caio_integration.bridge import BridgeWorker, WorkerConfig
from caio_integration.contracts.model import ServiceContract

__all__ = ["available_workers", "contracts_dir", "create_worker", "default_contract_path"]


def _codex(contract: ServiceContract, config: WorkerConfig) -> BridgeWorker:
    from caio_codex.worker import CodexSettings, CodexWorker  # the openai SDK loads on demand

    return CodexWorker(contract, config, CodexSettings.from_env())


def _local_review(contract: ServiceContract, config: WorkerConfig) -> BridgeWorker:
    from caio_local_review.worker import LocalReviewWorker

    return LocalReviewWorker(contract, config)


@dataclass(frozen=True, slots=True)
class _Entry:
    contract_file: str
    factory: Callable[[ServiceContract, WorkerConfig], BridgeWorker]


_WORKERS: dict[str, _Entry] = {
    "codex": _Entry("codex.yaml", _codex),
    "local-review": _Entry("local-review.yaml", _local_review),
}


def available_workers() -> list[str]:
    """The names ``create_worker`` accepts, sorted."""
    return sorted(_WORKERS)


def contracts_dir() -> Path:
    """``<checkout>/contracts`` if present, else the wheel's ``caio/_data/contracts``."""
    return bundled_contracts_dir()


def default_contract_path(name: str) -> Path:
    return contracts_dir() / _entry(name).contract_file


def create_worker(
    name: str, config: WorkerConfig, contract_path: Path | None = None
) -> BridgeWorker:
    """A worker serving ``contract_path``: a built-in by name (default: its bundled
    contract), or the ``module:Class`` of your ``BridgeWorker`` (contract required)."""
    if is_custom_worker(name):
        worker_class = load_worker_class(name)
        if contract_path is None:
            raise ValueError(f"worker {name} needs its contract: --contract FILE")
        return worker_class(_load_contract(_existing(name, contract_path)), config)
    entry = _entry(name)
    path = contract_path if contract_path is not None else contracts_dir() / entry.contract_file
    return entry.factory(_load_contract(_existing(name, path)), config)


def _existing(name: str, path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"contract file for worker {name!r} not found: {path}")
    return path


def _entry(name: str) -> _Entry:
    try:
        return _WORKERS[name]
    except KeyError:
        raise ValueError(
            f"unknown worker {name!r}; built-in workers: {', '.join(available_workers())}, "
            "or your own as module:Class"
        ) from None


def _load_contract(path: Path) -> ServiceContract:
    # Imported on use: caio_integration.contracts pulls in jsonschema and the schema
    # file, which listing the workers does not need.
    from caio_integration.contracts import load_contract_file

    return load_contract_file(path)

"""Your own bridge worker, by ``module:Class``, for ``caio worker module:Class --contract F``.

The class is a ``BridgeWorker`` subclass in any importable module; the
current directory is put on ``sys.path`` first, so ``my_worker.py`` next to
where ``caio worker`` runs is found as ``my_worker``, as ``python -m`` would.
Every failure is a ``ValueError`` whose message says what to fix.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys

from caio_integration.bridge import BridgeWorker

__all__ = ["checked_worker_class", "is_custom_worker", "load_worker_class"]


def is_custom_worker(name: str) -> bool:
    """``module:Class`` names a user's class; a plain name is a built-in worker."""
    return ":" in name


def load_worker_class(spec: str) -> type[BridgeWorker]:
    """Import ``module:Class`` (``Class`` may be dotted) and check it is a usable worker."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{spec!r}: name a worker class as module:Class, e.g. my_worker:MyWorker")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise ValueError(
                f"no module named {module_name!r} (looked in the current directory "
                "and the installed packages)"
            ) from None
        raise ValueError(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's module: report whatever it raised
        raise ValueError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    found: object = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no {attribute!r}") from None
    return checked_worker_class(spec, found)


def checked_worker_class(spec: str, found: object) -> type[BridgeWorker]:
    """``found`` if it is a concrete ``BridgeWorker`` subclass, else a ValueError about ``spec``."""
    if not (isinstance(found, type) and issubclass(found, BridgeWorker)):
        raise ValueError(f"{spec} is not a subclass of caio_integration.bridge.BridgeWorker")
    if inspect.isabstract(found):
        raise ValueError(f"{spec} does not implement handle(capability, request)")
    return found

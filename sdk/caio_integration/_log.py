"""Structured logging without making structlog a dependency of the SDK.

The SDK installs with nats-py, pydantic, pyyaml and jsonschema only. When
structlog is there (the router, the CLI and the workers bring it), the
service runtime logs through it, so ``caio worker`` and ``caio up`` render
its lines like their own; otherwise through the standard ``logging`` module,
as ``event key=value ...``, which a service author can configure as usual.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

__all__ = ["Logger", "get_logger"]


class Logger(Protocol):
    """The part of structlog's bound logger the SDK uses."""

    def bind(self, **context: Any) -> Logger: ...
    def debug(self, event: str, **fields: Any) -> Any: ...
    def info(self, event: str, **fields: Any) -> Any: ...
    def warning(self, event: str, **fields: Any) -> Any: ...
    def error(self, event: str, **fields: Any) -> Any: ...
    def exception(self, event: str, **fields: Any) -> Any: ...


class _StdlibLogger:
    """``event key=value ...`` lines on a ``logging.Logger``, with bound context."""

    __slots__ = ("_context", "_logger")

    def __init__(self, logger: logging.Logger, context: dict[str, Any]) -> None:
        self._logger = logger
        self._context = context

    def bind(self, **context: Any) -> _StdlibLogger:
        return _StdlibLogger(self._logger, {**self._context, **context})

    def _log(self, level: int, event: str, fields: dict[str, Any], exc_info: bool = False) -> None:
        if not self._logger.isEnabledFor(level):
            return  # the hot path's debug lines cost no formatting
        pairs = " ".join(f"{key}={value!r}" for key, value in {**self._context, **fields}.items())
        self._logger.log(level, "%s %s", event, pairs, exc_info=exc_info)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields, exc_info=True)


def get_logger(name: str, **context: Any) -> Logger:
    """structlog's logger ``name`` when structlog is installed, else the stdlib's."""
    try:
        import structlog
    except ImportError:
        return _StdlibLogger(logging.getLogger(name), dict(context))
    logger: Logger = structlog.get_logger(name).bind(**context)
    return logger

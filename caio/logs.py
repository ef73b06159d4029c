"""structlog set-up: pretty in a terminal, JSON lines in production.

``CAIO_LOG_FORMAT`` (``console``/``json``) overrides the guess made from
whether stderr is a terminal; ``CAIO_LOG_LEVEL`` sets the level. Levels below
it are filtered by the bound logger itself, so a debug call on the hot path
costs a method lookup, not a rendered line.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Literal

import structlog

__all__ = ["configure_logging"]


def configure_logging(
    level: str | None = None, fmt: Literal["console", "json"] | None = None
) -> None:
    level_name = (level or os.environ.get("CAIO_LOG_LEVEL") or "info").upper()
    numeric = logging.getLevelNamesMapping().get(level_name, logging.INFO)
    chosen = (
        fmt or os.environ.get("CAIO_LOG_FORMAT") or ("console" if sys.stderr.isatty() else "json")
    )
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer()
        if chosen == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write per line (print() writes the line and its newline apart, and
        # stderr writes through): processes sharing a stderr, such as
        # `caio router --processes N`, never merge two lines into one.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )

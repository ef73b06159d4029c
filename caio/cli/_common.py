"""What every ``caio`` command shares: NATS options, output, error handling."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from typing import Annotated, Any, NoReturn, TypeVar

import orjson
import typer
from nats.errors import Error as NatsError
from nats.errors import NoServersError
from rich.console import Console

from caio.errors import CAIOError

__all__ = [
    "JsonOption",
    "NatsUrlOption",
    "PrefixOption",
    "connect_options",
    "console",
    "err_console",
    "fail",
    "print_json",
    "run_async",
]

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

NatsUrlOption = Annotated[
    str,
    typer.Option(
        "--nats-url",
        envvar="CAIO_NATS_URL",
        help="NATS server URL (user:password@ in the URL for plain credentials).",
        show_default=True,
    ),
]
PrefixOption = Annotated[
    str,
    typer.Option("--prefix", envvar="CAIO_PREFIX", help="Subject prefix of this CAIO."),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")
]

DEFAULT_NATS_URL = os.environ.get("CAIO_NATS_URL", "nats://127.0.0.1:4222")


async def _quiet(_: Exception) -> None:
    """nats-py logs every failed connect with a traceback; the command says it once."""


def connect_options() -> dict[str, Any]:
    """For one-shot commands: fail fast when NATS is down instead of retrying for minutes."""
    # nats-py retries the first connect inside its server selection until
    # max_reconnect_attempts is exceeded (0 would mean forever): allow one retry.
    return {
        "allow_reconnect": False,
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": 0.2,
        "connect_timeout": 5,
        "error_cb": _quiet,
    }


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; CAIO and connection errors become one clear line."""
    try:
        return asyncio.run(coro)
    except CAIOError as exc:
        fail(f"{exc.message} [dim]({exc.code})[/]")
    except (ConnectionRefusedError, OSError) as exc:
        fail(f"cannot reach NATS: {exc}. Is `caio up` running, or is --nats-url right?")
    except NoServersError:
        fail("cannot reach NATS. Is `caio up` running, or is --nats-url right?")
    except NatsError as exc:
        fail(f"NATS: {exc}. Is `caio up` running, or is --nats-url right?")

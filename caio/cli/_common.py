"""What every ``caio`` command shares: NATS options, output, error handling."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import orjson
import typer
from nats.errors import Error as NatsError
from nats.errors import NoServersError
from rich.console import Console

from caio.client import CAIOClient
from caio.errors import CAIOError
from caio.natsauth import NatsCredentials

__all__ = [
    "LOCAL_ADMIN_KEY",
    "ApiKeyOption",
    "JsonOption",
    "NatsUrlOption",
    "PrefixOption",
    "api_key_or_local",
    "cli_client",
    "connect_options",
    "console",
    "daemon_connect_options",
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
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="CAIO_API_KEY",
        help="API key (default: ./.caio/admin.key, written by `caio up`).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")
]

DEFAULT_NATS_URL = os.environ.get("CAIO_NATS_URL", "nats://127.0.0.1:4222")


LOCAL_ADMIN_KEY = Path(".caio") / "admin.key"


def api_key_or_local(api_key: str | None) -> str | None:
    """The key given, else the one `caio up` keeps in ./.caio/admin.key, else none."""
    if api_key:
        return api_key
    try:
        return LOCAL_ADMIN_KEY.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


async def _quiet(_: Exception) -> None:
    """nats-py logs every failed connect with a traceback; the command says it once."""


# Set once by the root command from --nats-* options / CAIO_NATS_* variables.
credentials = NatsCredentials()


def daemon_connect_options() -> dict[str, Any]:
    """For the router and workers: just the credentials; they reconnect forever."""
    return credentials.connect_options()


def connect_options() -> dict[str, Any]:
    """For one-shot commands: fail fast when NATS is down instead of retrying for minutes."""
    # nats-py retries the first connect inside its server selection until
    # max_reconnect_attempts is exceeded (0 would mean forever): allow one retry.
    return credentials.connect_options() | {
        "allow_reconnect": False,
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": 0.2,
        "connect_timeout": 5,
        "error_cb": _quiet,
    }


def cli_client(nats_url: str, prefix: str, api_key: str | None) -> CAIOClient:
    """The SDK client a one-shot command uses: fail-fast connect, the caller's key."""
    return CAIOClient(
        nats_url,
        prefix=prefix,
        connect_options=connect_options(),
        api_key=api_key_or_local(api_key) or "",
    )


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (not on Windows): measured 15-25% more routed
    requests per second than the stdlib loop (docs/benchmarks.md)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return None
    return uvloop.new_event_loop


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; CAIO and connection errors become one clear line."""
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(coro)
    except CAIOError as exc:
        fail(f"{exc.message} [dim]({exc.code})[/]")
    except (ConnectionRefusedError, OSError) as exc:
        fail(f"cannot reach NATS: {exc}. Is `caio up` running, or is --nats-url right?")
    except NoServersError:
        fail("cannot reach NATS. Is `caio up` running, or is --nats-url right?")
    except NatsError as exc:
        fail(f"NATS: {exc}. Is `caio up` running, or is --nats-url right?")

"""``python -m caio_<kind>_bridge CONTRACT``: the command every no-code bridge shares.

Each bridge package (HTTP, ONNX, gRPC) can run without the ``caio`` CLI,
with the SDK alone. Its ``__main__`` names itself, what it serves and how to
run a contract; this module does the rest the same way for all of them:
the arguments (``CONTRACT``, ``--nats-url``, ``--prefix``, ``--no-register``
and a bridge's own), the environment (``CAIO_NATS_URL``, ``CAIO_PREFIX``,
``CAIO_API_KEY``, as for any hosted service), and exit status 2 with one
line per problem for a contract that cannot be served.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caio_integration.errors import InvalidContract
from caio_integration.host import HostConfig

__all__ = ["BridgeCommand", "bridge_main"]

Serve = Callable[[Path, HostConfig, argparse.Namespace], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True)
class BridgeCommand:
    """One bridge's command: its name, what it serves, and how it runs a contract."""

    name: str  # the package, e.g. caio_onnx_bridge
    serves: str  # for --help: "the ONNX model a contract's api section names"
    serve: Serve
    # What a contract that cannot be served raises, besides InvalidContract.
    refusals: tuple[type[Exception], ...] = ()
    add_arguments: Callable[[argparse.ArgumentParser], None] = field(default=lambda _: None)


def _arguments(command: BridgeCommand, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {command.name}", description=f"Serve {command.serves}, on CAIO."
    )
    parser.add_argument("contract", type=Path, help="the contract file (YAML or JSON)")
    parser.add_argument("--nats-url", help="NATS server(s) (default: CAIO_NATS_URL or local)")
    parser.add_argument("--prefix", help="subject prefix (default: CAIO_PREFIX or caio)")
    command.add_arguments(parser)
    parser.add_argument(
        "--no-register",
        dest="register",
        action="store_false",
        help="do not send the contract to the registry on start",
    )
    return parser.parse_args(argv)


def bridge_main(command: BridgeCommand, argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; 2 for a contract that cannot be served."""
    args = _arguments(command, argv)
    overrides: dict[str, Any] = {"register": args.register}
    if args.nats_url:
        overrides["nats_url"] = args.nats_url
    if args.prefix:
        overrides["prefix"] = args.prefix
    refused: tuple[type[Exception], ...] = (InvalidContract, FileNotFoundError, *command.refusals)
    try:
        config = HostConfig.from_env(None, **overrides)
        asyncio.run(command.serve(args.contract, config, args))
    except refused as exc:
        errors = exc.details.get("errors", []) if isinstance(exc, InvalidContract) else []
        label = command.name.replace("_", "-")
        print(f"{label}: {exc}", file=sys.stderr)  # noqa: T201 - a command's own error
        for line in errors:
            print(f"  {line}", file=sys.stderr)  # noqa: T201
        return 2
    return 0

"""What every role process shares: event loop choice, readiness line, SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["role_main", "role_parser"]

Role = Callable[[argparse.Namespace, asyncio.Event], Awaitable[dict[str, Any] | None]]


def role_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--prefix", default="bench")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    return parser


def ready(info: dict[str, Any]) -> None:
    print("READY " + json.dumps(info), flush=True)


def role_main(parser: argparse.ArgumentParser, role: Role) -> None:
    """Run ``role`` until SIGTERM; it gets a ``stop`` event and calls ``ready`` itself.

    The role's coroutine returns once ``stop`` is set (it owns its own clean-up).
    """
    args = parser.parse_args()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        result = await role(args, stop)
        if result is not None:
            print("RESULT " + json.dumps(result), flush=True)

    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())

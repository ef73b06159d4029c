"""Running the gateway: ``run(config)`` for a CLI, ``serve(config)`` inside a loop,
``main()`` for ``python -m caio_gateway [--host H] [--port P] [--nats-url URL]``
where only the gateway and the SDK are installed (``caio gateway`` is the usual way).

uvicorn with uvloop and httptools where they are installed (they are the
pair the framework measurement used, docs/gateway.md), the standard
library's loop and h11 otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any

import uvicorn

from caio_gateway.app import create_app
from caio_gateway.config import GatewayConfig
from caio_integration.gctune import settle_after_start

__all__ = ["main", "run", "serve", "uvicorn_config"]


def uvicorn_config(config: GatewayConfig, **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration for the gateway (``overrides`` are uvicorn's own settings)."""
    settings: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "access_log": config.access_log,
        "lifespan": "on",  # NATS connects there; a gateway without it would answer nothing
        "server_header": False,
    }
    settings.update(overrides)
    return uvicorn.Config(create_app(config), **settings)


class _Server(uvicorn.Server):
    """uvicorn's server, settling the garbage collector once the gateway has started
    (caio_integration.gctune): a process of its own, as ``run`` makes it."""

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            settle_after_start()


def run(config: GatewayConfig | None = None) -> None:
    """Serve until SIGINT/SIGTERM (``caio gateway``); exits non-zero when NATS is unreachable."""
    server = _Server(uvicorn_config(config or GatewayConfig.from_env()))
    server.run()
    if not server.started:
        raise SystemExit(3)  # startup failed (uvicorn's own exit code for it)


async def serve(config: GatewayConfig | None = None, **overrides: Any) -> None:
    """The same inside a running event loop (uvicorn's ``loop`` setting does not apply)."""
    await uvicorn.Server(uvicorn_config(config or GatewayConfig.from_env(), **overrides)).serve()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m caio_gateway", description="CAIO's HTTP gateway."
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8080)")
    parser.add_argument("--nats-url", help="NATS server(s) (default CAIO_NATS_URL)")
    parser.add_argument("--prefix", help="subject prefix (default CAIO_PREFIX or caio)")
    parser.add_argument(
        "--access-log", action="store_true", default=None, help="log each request (INFO)"
    )
    args = parser.parse_args(argv)
    run(
        GatewayConfig.from_env(
            host=args.host,
            port=args.port,
            nats_url=args.nats_url,
            prefix=args.prefix,
            access_log=args.access_log,
        )
    )

"""``caio gateway``: CAIO over HTTP (the seeds' REST API, OpenAI-compatible, SSE).

The gateway is one more NATS client of the routers: callers' API keys, limits,
audit and error codes are theirs (docs/gateway.md).
"""

from __future__ import annotations

from typing import Annotated

import typer

from caio.cli._common import daemon_connect_options
from caio.cli._connect import Bus, connected
from caio.logs import configure_logging

__all__ = ["register_commands"]


@connected(api_key=False)
def gateway(
    bus: Bus,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Serve CAIO over HTTP: /api/v1 (REST), /v1 (OpenAI-compatible), /openapi.json.

    Point the official openai SDK at it with base_url http://HOST:PORT/v1, a CAIO
    API key as its api_key, and model "caio/<capability>".
    """
    from caio_gateway import GatewayConfig, run

    configure_logging()
    run(
        GatewayConfig(
            host=host,
            port=port,
            nats_url=bus.nats_url,
            prefix=bus.prefix,
            connect_options=daemon_connect_options(),
        )
    )


def register_commands(app: typer.Typer) -> None:
    app.command()(gateway)

"""CAIO's HTTP gateway: REST, OpenAI-compatible and SSE over a CAIO client.

``create_app(GatewayConfig)`` is the ASGI application; ``run(config)`` serves
it on uvicorn (``caio gateway``). docs/gateway.md describes the API.
"""

from caio_gateway.app import create_app
from caio_gateway.config import GatewayConfig
from caio_gateway.server import run, serve

__all__ = ["GatewayConfig", "create_app", "run", "serve"]

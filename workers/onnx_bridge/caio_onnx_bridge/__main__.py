"""``python -m caio_onnx_bridge CONTRACT.yaml [--nats-url URL]``: serve a contract's ONNX model.

The same as ``caio bridge onnx`` for an install without the CLI (the SDK
and this package alone). The environment gives the rest, as for any
hosted service: ``CAIO_NATS_URL``, ``CAIO_PREFIX``, and ``CAIO_API_KEY``
(a publisher key, to register the contract); caio_integration.bridgemain
runs it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from caio_integration.bridgemain import BridgeCommand, bridge_main
from caio_integration.host import HostConfig
from caio_onnx_bridge.service import run

__all__ = ["main"]


async def _serve(contract: Path, config: HostConfig, _args: argparse.Namespace) -> None:
    await run(contract, config)


COMMAND = BridgeCommand(
    name="caio_onnx_bridge",
    serves="the ONNX model a contract's api section names",
    serve=_serve,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; 2 for a contract or model that cannot be served."""
    return bridge_main(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())

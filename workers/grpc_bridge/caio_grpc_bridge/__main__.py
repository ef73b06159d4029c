"""``python -m caio_grpc_bridge CONTRACT.yaml [--nats-url URL]``: serve a contract's gRPC methods.

The same as ``caio bridge grpc`` for an install without the CLI (the SDK
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

from caio_grpc_bridge.service import CredentialError, run
from caio_integration.bridgemain import BridgeCommand, bridge_main
from caio_integration.errors import ServiceUnavailable
from caio_integration.host import HostConfig

__all__ = ["main"]


async def _serve(contract: Path, config: HostConfig, _args: argparse.Namespace) -> None:
    await run(contract, config)


COMMAND = BridgeCommand(
    name="caio_grpc_bridge",
    serves="the unary gRPC methods a contract's api section names",
    serve=_serve,
    # a credential that cannot be read, a server that does not answer reflection
    refusals=(ServiceUnavailable, CredentialError),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; 2 for a contract that cannot be served (a method the
    server lacks, a credential that cannot be read, a server that does not answer)."""
    return bridge_main(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())

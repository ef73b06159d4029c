"""``python -m caio_http_bridge CONTRACT.yaml [--nats-url URL]``: serve a contract's HTTP api.

The same as ``caio bridge http`` for an install without the CLI (the SDK
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

from caio_http_bridge.credentials import CredentialError
from caio_http_bridge.service import run
from caio_integration.bridgemain import BridgeCommand, bridge_main
from caio_integration.host import HostConfig

__all__ = ["main"]


def _base_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="the upstream's URL, instead of the contract's")


async def _serve(contract: Path, config: HostConfig, args: argparse.Namespace) -> None:
    await run(contract, config, base_url=args.base_url)


COMMAND = BridgeCommand(
    name="caio_http_bridge",
    serves="the HTTP endpoints a contract's api section declares",
    serve=_serve,
    refusals=(CredentialError,),  # a credential that cannot be read
    add_arguments=_base_url,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; 2 for a contract or credential that cannot be served."""
    return bridge_main(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m caio_grpc_bridge CONTRACT.yaml [--nats-url URL]``: serve a contract's gRPC methods.

The same as ``caio bridge grpc`` for an install without the CLI (the SDK
and this package alone). The environment gives the rest, as for any
hosted service: ``CAIO_NATS_URL``, ``CAIO_PREFIX``, and ``CAIO_API_KEY``
(a publisher key, to register the contract).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from caio_grpc_bridge.service import CredentialError, run
from caio_integration.errors import InvalidContract, ServiceUnavailable
from caio_integration.host import HostConfig

__all__ = ["main"]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m caio_grpc_bridge",
        description="Serve the unary gRPC methods a contract's api section names, on CAIO.",
    )
    parser.add_argument("contract", type=Path, help="the contract file (YAML or JSON)")
    parser.add_argument("--nats-url", help="NATS server(s) (default: CAIO_NATS_URL or local)")
    parser.add_argument("--prefix", help="subject prefix (default: CAIO_PREFIX or caio)")
    parser.add_argument(
        "--no-register",
        dest="register",
        action="store_false",
        help="do not send the contract to the registry on start",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; 2 for a contract that cannot be served (a method the
    server lacks, a credential that cannot be read, a server that does not answer)."""
    args = _arguments(argv)
    overrides: dict[str, Any] = {"register": args.register}
    if args.nats_url:
        overrides["nats_url"] = args.nats_url
    if args.prefix:
        overrides["prefix"] = args.prefix
    try:
        config = HostConfig.from_env(None, **overrides)
        asyncio.run(run(args.contract, config))
    except (InvalidContract, ServiceUnavailable, CredentialError, FileNotFoundError) as exc:
        errors = exc.details.get("errors", []) if isinstance(exc, InvalidContract) else []
        print(f"caio-grpc-bridge: {exc}", file=sys.stderr)  # noqa: T201 - a command's own error
        for line in errors:
            print(f"  {line}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

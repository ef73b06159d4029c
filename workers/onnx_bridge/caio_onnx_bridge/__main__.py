"""``python -m caio_onnx_bridge CONTRACT.yaml [--nats-url URL]``: serve a contract's ONNX model.

The same as ``caio bridge onnx`` for an install without the CLI (the SDK
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

from caio_integration.errors import InvalidContract
from caio_integration.host import HostConfig
from caio_onnx_bridge.service import run

__all__ = ["main"]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m caio_onnx_bridge",
        description="Serve the ONNX model a contract's api section names, on CAIO.",
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
    """Run until SIGTERM/SIGINT; 2 for a contract or model that cannot be served."""
    args = _arguments(argv)
    overrides: dict[str, Any] = {"register": args.register}
    if args.nats_url:
        overrides["nats_url"] = args.nats_url
    if args.prefix:
        overrides["prefix"] = args.prefix
    try:
        config = HostConfig.from_env(None, **overrides)
        asyncio.run(run(args.contract, config))
    except (InvalidContract, FileNotFoundError) as exc:
        errors = exc.details.get("errors", []) if isinstance(exc, InvalidContract) else []
        print(f"caio-onnx-bridge: {exc}", file=sys.stderr)  # noqa: T201 - a command's own error
        for line in errors:
            print(f"  {line}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

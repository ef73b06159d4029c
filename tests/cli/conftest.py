"""CLI tests: the real `caio` command, as a subprocess, against the real nats-server.

Every call runs in the test's own directory (the autouse fixture of
tests/conftest.py) at 80 columns, the width of a plain terminal. The routers
and fake services are the integration and security suites' fixtures.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.integration.conftest import live_service, router
from tests.security.conftest import admin, make_key, secure_router

__all__ = ["CAIO", "REPO", "Ran", "admin", "caio", "caio_now", "live_service", "make_key"]
__all__ += ["router", "secure_router"]

REPO = Path(__file__).parents[2]
CAIO = str(Path(sys.executable).parent / "caio")


@dataclass(frozen=True)
class Ran:
    """One finished `caio` command."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "80", **(extra or {})}


async def caio(*args: str, env: dict[str, str] | None = None) -> Ran:
    """Run `caio ARGS` in the current directory, without blocking the test's event loop."""
    process = await asyncio.create_subprocess_exec(
        CAIO,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=_env(env),
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


def caio_now(*args: str, env: dict[str, str] | None = None) -> Ran:
    """`caio ARGS` for tests without a router (nothing to serve while it runs)."""
    done = subprocess.run(
        [CAIO, *args],
        capture_output=True,
        text=True,
        env=_env(env),
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    return Ran(done.returncode, done.stdout, done.stderr)

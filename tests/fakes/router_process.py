"""A real ``caio router`` process for fault tests: started, killed with SIGKILL, stopped.

Its log (JSON lines) is kept in a file; ``start`` returns once it logged
``router_started``, so a test never guesses with a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

__all__ = ["CAIO", "RouterProcess"]

CAIO = str(Path(sys.executable).parent / "caio")


class RouterProcess:
    """One ``caio router`` process; ``start`` returns once it logged ``router_started``."""

    def __init__(self, url: str, prefix: str, log: Path, *args: str) -> None:
        self.argv = [CAIO, "router", "--insecure-no-auth", "--nats-url", url, "--prefix", prefix]
        self.argv += args
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    async def start(self, timeout_s: float = 30) -> RouterProcess:
        env = {**os.environ, "CAIO_LOG_FORMAT": "json"}
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env
        )
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self._started.wait(), timeout_s)
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        with self.log.open("ab") as log:
            async for line in self.proc.stderr:  # kept draining: a full pipe would stall it
                log.write(line)
                if b'"router_started"' in line:
                    self._started.set()

    async def kill(self) -> None:
        assert self.proc is not None and self.proc.returncode is None, "it died on its own"
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)

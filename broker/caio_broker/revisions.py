"""A KV revision that can be awaited: "has this router seen change N yet?"

The catalog and the key store both follow a KV bucket through a watch. A
write acknowledged by one router reaches the others a moment later;
``wait_for`` lets a caller (or a test) await that moment instead of guessing.
"""

from __future__ import annotations

import asyncio

__all__ = ["RevisionClock"]


class RevisionClock:
    __slots__ = ("_waiters", "revision")

    def __init__(self) -> None:
        self.revision = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def advance(self, revision: int) -> None:
        self.revision = max(self.revision, revision)
        if not self._waiters:
            return
        still: list[tuple[int, asyncio.Future[None]]] = []
        for wanted, waiter in self._waiters:
            if wanted > self.revision:
                still.append((wanted, waiter))
            elif not waiter.done():
                waiter.set_result(None)
        self._waiters = still

    async def wait_for(self, revision: int, timeout_s: float) -> bool:
        """True once changes up to ``revision`` are applied; False on timeout."""
        if self.revision >= revision:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((revision, waiter))
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return False
        return True

"""A bridge worker whose handler the test drives, to exercise ``BridgeWorker`` itself.

Capabilities: ``echo`` answers at once, ``gated`` waits until the test opens
the gate, ``crash`` raises a plain exception; the contract also lists
``not_built``, which the worker deliberately does not implement.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from caio_integration.bridge import BridgeWorker, WorkerConfig, WorkResult
from caio_integration.contracts.model import ServiceContract
from caio_integration.wire import ServiceRequest

__all__ = ["ScriptedWorker", "scripted_contract"]


def scripted_contract(service_id: str, version: str = "1.2.3") -> ServiceContract:
    return ServiceContract.model_validate(
        {
            "id": service_id,
            "name": "Scripted test service",
            "version": version,
            "capabilities": [
                {"type": "echo"},
                {"type": "gated"},
                {"type": "crash"},
                {"type": "not_built"},
            ],
        }
    )


class ScriptedWorker(BridgeWorker):
    implemented_capabilities: ClassVar[frozenset[str]] = frozenset({"echo", "gated", "crash"})

    def __init__(self, contract: ServiceContract, config: WorkerConfig) -> None:
        super().__init__(contract, config)
        self.calls: list[tuple[str, str]] = []
        self.entered = asyncio.Event()  # a gated request is inside handle()
        self.gate = asyncio.Event()  # the test opens it to let gated requests finish
        self.cancelled = asyncio.Event()  # a gated request was cancelled mid-work

    async def handle(self, capability: str, request: ServiceRequest) -> WorkResult:
        self.calls.append((capability, request.request_id))
        if capability == "echo":
            return WorkResult(
                {"context": request.context, "instance_id": self.instance_id},
                {"units": 1},
            )
        if capability == "gated":
            self.entered.set()
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
            return WorkResult({"gated": "released"})
        raise RuntimeError("boom: sk-do-not-leak")

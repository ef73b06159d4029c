"""How a bridge worker instance is configured, and what its handler returns.

``WorkerConfig`` is the hosting runtime's ``HostConfig`` with the bridge
worker's defaults: it does not register its contract (``caio worker`` and
``caio up`` do that themselves) and keeps its ``$SRV.STATS`` data to the
outcome counters. Kept apart from ``caio_integration.bridge`` so the CLI and
deployment code can build one without the NATS machinery.
"""

from __future__ import annotations

from dataclasses import dataclass

from caio_integration._host_config import DEFAULT_NATS_URL, HostConfig
from caio_integration.service import WorkResult

__all__ = ["DEFAULT_NATS_URL", "WorkResult", "WorkerConfig"]


@dataclass(frozen=True, slots=True)
class WorkerConfig(HostConfig):
    """How one worker instance connects and behaves; the contract says what it serves."""

    register: bool = False
    health_in_stats: bool = False

"""Bridge workers: AI services behind CAIO's service subjects (docs/workers.md)."""

from workers.base import BridgeWorker, WorkerConfig, WorkResult

__all__ = ["BridgeWorker", "WorkResult", "WorkerConfig"]

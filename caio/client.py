"""Moved: the client is ``caio_integration.client`` (the SDK). Kept so old imports work."""

from caio_integration.client import CAIOClient, SyncCAIOClient

__all__ = ["CAIOClient", "SyncCAIOClient"]

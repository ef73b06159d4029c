"""Where CAIO looks for NATS when nobody says: defined once, imported by every part.

The SDK client, the hosted services, the router and the ``caio`` command all
default to this URL (a local ``caio up``); ``CAIO_NATS_URL`` or an explicit
argument overrides it wherever it is used.
"""

from __future__ import annotations

__all__ = ["DEFAULT_NATS_URL"]

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"

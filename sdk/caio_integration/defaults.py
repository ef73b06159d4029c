"""Defaults defined once and imported by every part.

Where CAIO looks for NATS when nobody says: the SDK client, the hosted
services, the router and the ``caio`` command all default to this URL (a
local ``caio up``); ``CAIO_NATS_URL`` or an explicit argument overrides it
wherever it is used.

How long a JetStream publish that found "no responders" is tried again: on
a cluster that is a stream between leaders, for the few seconds an election
takes after a node is lost. Such a message is known not to be stored, so
sending it again is safe (the router's audit records, callers' jobs).
"""

from __future__ import annotations

__all__ = ["DEFAULT_NATS_URL", "LEADERLESS_BACKOFF_S"]

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"

# Waits between tries, about 3.9 s in all.
LEADERLESS_BACKOFF_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)

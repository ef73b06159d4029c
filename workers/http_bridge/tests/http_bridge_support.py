"""What the HTTP bridge's tests share besides fixtures: paths, the test credential, helpers.

A module of its own (not ``conftest``) so tests import it by a name no
other test directory uses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from caio_http_bridge import HttpBridgeService

__all__ = ["EXAMPLES", "SECRET", "CapturedLogs", "Route", "StartBridge", "serving"]

EXAMPLES = Path(__file__).resolve().parents[3] / "contracts" / "examples"
# What the tests put in OPENAI_API_KEY and friends: no real key, shaped like one.
SECRET = "sk-test-4f9c2a7e1b8d6053a1c9e7f2"  # noqa: S105

StartBridge = Callable[..., Awaitable[HttpBridgeService]]
Route = Callable[..., Awaitable[dict[str, Any]]]
CapturedLogs = Callable[[], contextlib.AbstractContextManager[list[str]]]


async def serving(router: Any, service: HttpBridgeService) -> None:
    """Wait until the router sees the bridge alive (its first heartbeat)."""
    assert await router.liveness.wait_available(service.contract.id, timeout_s=10)

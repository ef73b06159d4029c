"""The governance hook: an outside check that may deny a route, failing closed.

Seed 003's MGE hooks: before a request is matched, CAIO can ask a policy
service (a NATS subject) or call a Python function. A deny carries its
reason to the caller as ``forbidden``; a hook that times out, errors or
answers something unreadable also denies. A governance check that cannot
run must not let traffic through.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from nats.aio.client import Client as NATS

from caio_integration._json import dumps

__all__ = ["HookVerdict", "PolicyHook", "entry_point_hook", "subject_hook"]


@dataclass(frozen=True, slots=True)
class HookVerdict:
    allow: bool
    reason: str = ""


PolicyHook = Callable[[dict[str, Any]], Awaitable[HookVerdict]]


def _verdict(answer: object) -> HookVerdict:
    """Read what a hook returned: a bool, ``(bool, reason)``, or ``{"allow", "reason"}``."""
    if isinstance(answer, HookVerdict):
        return answer
    if isinstance(answer, bool):
        return HookVerdict(answer, "" if answer else "denied by policy")
    if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], bool):
        return HookVerdict(answer[0], str(answer[1]))
    if isinstance(answer, dict) and isinstance(answer.get("allow"), bool):
        return HookVerdict(answer["allow"], str(answer.get("reason", "")))
    return HookVerdict(False, "policy hook gave an unreadable answer")


def fail_closed(hook: PolicyHook, timeout_s: float) -> PolicyHook:
    """Deny on timeout or error instead of letting the request through."""

    async def guarded(query: dict[str, Any]) -> HookVerdict:
        try:
            return await asyncio.wait_for(hook(query), timeout_s)
        except TimeoutError:
            return HookVerdict(
                False, f"policy hook did not answer within {timeout_s * 1000:.0f} ms"
            )
        except Exception as exc:  # noqa: BLE001 - any failure of the hook is a deny
            return HookVerdict(False, f"policy hook failed: {type(exc).__name__}")

    return guarded


def subject_hook(nc: NATS, subject: str, timeout_s: float) -> PolicyHook:
    """Ask a policy service: request ``subject`` with the query, expect ``{"allow", "reason"}``."""

    async def ask(query: dict[str, Any]) -> HookVerdict:
        msg = await nc.request(subject, dumps(query), timeout=timeout_s)
        try:
            return _verdict(orjson.loads(msg.data))
        except orjson.JSONDecodeError:
            return HookVerdict(False, "policy hook gave an unreadable answer")

    return fail_closed(ask, timeout_s)


def entry_point_hook(spec: str, timeout_s: float) -> PolicyHook:
    """Call ``module:function`` (sync or async) with the query."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"policy hook {spec!r}: use module:function")
    function = getattr(importlib.import_module(module_name), attribute)

    async def call(query: dict[str, Any]) -> HookVerdict:
        answer = function(query)
        if inspect.isawaitable(answer):
            answer = await answer
        return _verdict(answer)

    return fail_closed(call, timeout_s)

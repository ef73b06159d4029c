"""Who is calling, and may they: authentication and the route checks, failing closed.

``Authenticator`` turns the ``Authorization: Bearer <key>`` header into a
``Caller``. A route request then passes a chain of small checks, in order:

    CapabilityAllowed   the key may use this capability
    ServicesAllowed     explicit service_ids are within the key's services
    PrivacyEnforced     the key's privacy rules become constraints the request cannot lift
    RateLimit           requests per minute, across every router (a JetStream window)
    PolicyHookCheck     the governance hook, if one is configured

Each check either lets the request on, possibly narrowed, or raises the
error the caller gets (``forbidden``, ``rate_limited``). Nothing here calls
a service: a denied request costs no call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from caio_broker.auth.hook import PolicyHook
from caio_broker.auth.keys import ApiKey, KeyStore, Role
from caio_integration.errors import Forbidden, RateLimited, Unauthenticated
from caio_integration.wire import RouteRequest

__all__ = [
    "ANONYMOUS",
    "Authenticator",
    "Caller",
    "CapabilityAllowed",
    "PolicyHookCheck",
    "PrivacyEnforced",
    "RateLimit",
    "RouteCheck",
    "RouteGuard",
    "ServicesAllowed",
]


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller; ``key`` is None only when auth is switched off."""

    name: str | None
    key: ApiKey | None

    def at_least(self, role: Role) -> bool:
        return self.key is None or self.key.at_least(role)

    def allows_service(self, service_id: str) -> bool:
        return self.key is None or self.key.allows_service(service_id)


ANONYMOUS = Caller(None, None)


class Authenticator:
    __slots__ = ("_clock", "_keys", "required")

    def __init__(
        self, keys: KeyStore | None, *, required: bool, clock: Callable[[], float] = time.time
    ) -> None:
        self._keys = keys
        self.required = required
        self._clock = clock

    def authenticate(self, headers: Mapping[str, str] | None) -> Caller:
        header = (headers or {}).get("Authorization") or (headers or {}).get("authorization")
        if header is None:
            if self.required:
                raise Unauthenticated(
                    "this CAIO requires an API key: "
                    "send the NATS header 'Authorization: Bearer <key>'"
                )
            return ANONYMOUS
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <key>'")
        key = self._keys.verify(secret.strip()) if self._keys is not None else None
        if key is None:
            raise Unauthenticated("unknown API key")
        if (problem := key.problem(self._clock())) is not None:
            raise Unauthenticated(problem)
        return Caller(key.name, key)


@dataclass(slots=True)
class RouteCheck:
    """A route request on its way through the checks."""

    caller: Caller
    capability: str
    request: RouteRequest
    request_id: str
    service_filter: Callable[[str], bool] | None = field(default=None)


class Check(Protocol):
    async def __call__(self, check: RouteCheck) -> None: ...


class CapabilityAllowed:
    __slots__ = ()

    async def __call__(self, check: RouteCheck) -> None:
        key = check.caller.key
        if key is None:
            return
        if not key.at_least("caller"):
            raise Forbidden(f"key {key.name} may not route requests")
        wanted = [check.capability, *check.request.requirements]
        for capability in wanted:
            if not key.allows_capability(capability):
                raise Forbidden(
                    f"key {key.name} may not use capability {capability}",
                    details={"capability": capability},
                )


class ServicesAllowed:
    """Asking for a service outside the key's services is refused; others are filtered."""

    __slots__ = ()

    async def __call__(self, check: RouteCheck) -> None:
        key = check.caller.key
        if key is None or key.services is None:
            return
        for service_id in check.request.constraints.service_ids or ():
            if not key.allows_service(service_id):
                raise Forbidden(
                    f"key {key.name} may not call service {service_id}",
                    details={"service_id": service_id},
                )
        check.service_filter = key.allows_service


class PrivacyEnforced:
    """The key's privacy rules narrow the request's constraints; they never widen them."""

    __slots__ = ()

    async def __call__(self, check: RouteCheck) -> None:
        key = check.caller.key
        if key is None:
            return
        policy = key.policy
        constraints = check.request.constraints
        changes: dict[str, Any] = {}
        if policy.data_locality is not None:
            asked = constraints.data_locality
            allowed = (
                list(policy.data_locality)
                if asked is None
                else [place for place in asked if place in policy.data_locality]
            )
            if not allowed:
                raise Forbidden(
                    f"key {key.name} may only reach services in "
                    f"{', '.join(policy.data_locality)}; "
                    f"the request asked for {', '.join(asked or [])}",
                    details={"data_locality": policy.data_locality},
                )
            changes["data_locality"] = allowed
        if policy.hipaa_compliant and constraints.hipaa_compliant is not True:
            changes["hipaa_compliant"] = True
        if changes:
            check.request = check.request.model_copy(
                update={"constraints": constraints.model_copy(update=changes)}
            )


class Limiter(Protocol):
    async def hit(self, key: str, limit: int, window_s: int) -> Any: ...


class RateLimit:
    __slots__ = ("_limiter",)

    def __init__(self, limiter: Limiter) -> None:
        self._limiter = limiter

    async def __call__(self, check: RouteCheck) -> None:
        key = check.caller.key
        if key is None or key.policy.requests_per_minute is None:
            return
        limit = key.policy.requests_per_minute
        decision = await self._limiter.hit(f"caller-{key.key_id}", limit, 60)
        if not decision.allowed:
            retry_after = round(decision.retry_after_s or 1.0, 3)
            raise RateLimited(
                f"key {key.name} is limited to {limit} requests per minute; "
                f"retry in {retry_after:g} s",
                details={"retry_after_s": retry_after, "limit_per_minute": limit},
            )


class PolicyHookCheck:
    __slots__ = ("_hook",)

    def __init__(self, hook: PolicyHook) -> None:
        self._hook = hook

    async def __call__(self, check: RouteCheck) -> None:
        request = check.request
        verdict = await self._hook(
            {
                "request_id": check.request_id,
                "caller": check.caller.name,
                "capability": check.capability,
                "requirements": list(request.requirements),
                "guarantees": request.guarantees.model_dump(exclude_none=True),
                "constraints": request.constraints.model_dump(exclude_none=True),
                "context": request.context,
            }
        )
        if not verdict.allow:
            reason = verdict.reason or "no reason given"
            raise Forbidden(f"denied by policy: {reason}", details={"policy": verdict.reason})


class RouteGuard:
    """Authentication plus the route checks, in order."""

    __slots__ = ("_checks", "authenticator")

    def __init__(self, authenticator: Authenticator, checks: list[Check]) -> None:
        self.authenticator = authenticator
        self._checks = checks

    async def admit(self, check: RouteCheck) -> None:
        for step in self._checks:
            await step(check)

"""What a started router is made of, built in one place, in dependency order.

``assemble`` connects each part to the ones it needs (the audit log to the
reply mux, the guard to the key store and the limiter, the forwarder to the
limits and the circuits...) and returns them together, so the router holds
one ``RouterParts`` instead of a dozen attributes that are ``None`` until
it starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from nats.aio.client import Client as NATS

from caio_broker.audit import AuditLog
from caio_broker.auth.admin import KeyAdmin
from caio_broker.auth.guard import (
    Authenticator,
    CapabilityAllowed,
    Check,
    PolicyHookCheck,
    PrivacyEnforced,
    RateLimit,
    RouteGuard,
    ServicesAllowed,
)
from caio_broker.auth.hook import entry_point_hook, subject_hook
from caio_broker.auth.keys import KeyStore
from caio_broker.budgets import BudgetCheck, SpendBook
from caio_broker.cache import ResponseCache
from caio_broker.catalog import Catalog
from caio_broker.fairshare import KeyShares
from caio_broker.forwarding import Forwarder, ForwardGuards
from caio_broker.health import ServiceHealth
from caio_broker.limits import ServiceLimits
from caio_broker.ratelimit import SlidingWindowLimiter
from caio_broker.registry import Registry
from caio_broker.replymux import ReplyMux
from caio_broker.routing import RouteHandler
from caio_broker.store import ContractStore, open_bucket
from caio_integration.subjects import Subjects

if TYPE_CHECKING:
    from caio_broker.router import AuthSettings, RouterConfig

__all__ = ["RouterParts", "assemble"]

log = structlog.get_logger("caio.router")


@dataclass(frozen=True, slots=True)
class RouterParts:
    nc: NATS
    requests: ReplyMux
    audit: AuditLog
    keys: KeyStore
    guard: RouteGuard
    key_admin: KeyAdmin
    store: ContractStore
    registry: Registry
    limits: ServiceLimits
    routes: RouteHandler


async def assemble(
    nc: NATS, config: RouterConfig, subjects: Subjects, catalog: Catalog, health: ServiceHealth
) -> RouterParts:
    """Every part of a router on connection ``nc``, its streams and buckets ensured."""
    js = nc.jetstream()
    requests = await ReplyMux(nc).start()
    # The audit stream is replicated as the rest of CAIO's streams, at least.
    replicas = max(config.audit.replicas, config.replicas)
    audit = AuditLog(js, subjects, dataclasses.replace(config.audit, replicas=replicas), requests)
    await audit.ensure_stream()
    keys = await KeyStore.open(js, subjects, config.replicas)
    await keys.follow()
    limiter = SlidingWindowLimiter(js, subjects, replicas=config.replicas)
    spend = SpendBook(
        await open_bucket(js, subjects.spend_bucket, config.replicas, "CAIO spend of budgeted keys")
    )
    guard = build_guard(nc, config.auth, limiter, keys, spend)
    cache = ResponseCache(
        await open_bucket(
            js, subjects.cache_bucket, config.replicas, "CAIO response cache", max_age_s=86_400
        )
    )
    store = await ContractStore.open(js, subjects.registry_bucket, config.replicas)
    limits = ServiceLimits(js, subjects, limiter, config.replicas)
    guards = ForwardGuards(limits=limits, breakers=health.breakers, observe=health.attempt_done)
    forwarder = Forwarder(requests, subjects, health.liveness, config.forward, guards)
    return RouterParts(
        nc=nc,
        requests=requests,
        audit=audit,
        keys=keys,
        guard=guard,
        key_admin=KeyAdmin(keys, audit),
        store=store,
        registry=Registry(store, catalog, health, audit),
        limits=limits,
        routes=RouteHandler(
            catalog,
            health,
            forwarder,
            audit,
            guard,
            config.route,
            key_shares(config),
            spend,
            cache,
        ),
    )


def key_shares(config: RouterConfig) -> KeyShares | None:
    """Each key's share of this router's in-flight requests (caio_broker.fairshare)."""
    limit = config.route.max_in_flight_per_key
    if limit is None:
        limit = max(1, config.max_in_flight // 4)
    return KeyShares(limit) if limit > 0 else None


def build_guard(
    nc: NATS,
    auth: AuthSettings,
    limiter: SlidingWindowLimiter,
    keys: KeyStore,
    spend: SpendBook | None = None,
) -> RouteGuard:
    """Who may route what: the key checks, the caller's rate limit and budget, the
    governance hooks."""
    if not auth.required:
        log.warning(
            "AUTHENTICATION IS OFF",
            detail="--insecure-no-auth: any client that reaches NATS may route and register",
        )
    checks: list[Check] = [
        CapabilityAllowed(),
        ServicesAllowed(),
        PrivacyEnforced(),
        RateLimit(limiter),
    ]
    if spend is not None:
        checks.append(BudgetCheck(spend))
    if auth.policy_hook:
        checks.append(PolicyHookCheck(entry_point_hook(auth.policy_hook, auth.hook_timeout_s)))
    if auth.policy_subject:
        checks.append(PolicyHookCheck(subject_hook(nc, auth.policy_subject, auth.hook_timeout_s)))
    return RouteGuard(Authenticator(keys, required=auth.required), checks)

"""The request-reply operations of the CAIO protocol, for its AsyncAPI document.

Each operation is a typed handler stub (request body = the parameter, reply =
the return annotation) plus its subject, summary and description;
``caio.asyncapi._spec`` registers them on a never-connected ``NatsBroker``.
Routers serve the registry, route and keys subjects; bridge workers serve
service requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from faststream import Path

from caio_integration.subjects import Subjects
from caio_integration.wire import (
    DeregisterReply,
    DiscoverReply,
    DiscoverRequest,
    DryRunReply,
    ErrorReply,
    GetReply,
    KeyCreateReply,
    KeyCreateRequest,
    KeyListReply,
    KeyListRequest,
    KeyRevokeReply,
    KeyRevokeRequest,
    ListReply,
    ListRequest,
    RegisterReply,
    RegisterRequest,
    RouteReply,
    RouteRequest,
    ServiceIdRequest,
    ServiceReply,
    ServiceRequest,
    StatsReply,
    StatsRequest,
    ValidateReply,
    ValidateRequest,
)

__all__ = ["REQUEST_REPLY", "ROUTER_QUEUE", "RequestReply"]

ROUTER_QUEUE = "caio-router"


# -- handler stubs: the signatures are the spec ------------------------------


async def registry_register(body: RegisterRequest) -> RegisterReply | ErrorReply:
    raise NotImplementedError  # documentation only; caio_broker.registry serves this


async def registry_deregister(body: ServiceIdRequest) -> DeregisterReply | ErrorReply:
    raise NotImplementedError


async def registry_get(body: ServiceIdRequest) -> GetReply | ErrorReply:
    raise NotImplementedError


async def registry_list(body: ListRequest) -> ListReply | ErrorReply:
    raise NotImplementedError


async def registry_discover(body: DiscoverRequest) -> DiscoverReply | ErrorReply:
    raise NotImplementedError


async def registry_validate(body: ValidateRequest) -> ValidateReply | ErrorReply:
    raise NotImplementedError


async def registry_stats(body: StatsRequest) -> StatsReply | ErrorReply:
    raise NotImplementedError


async def keys_create(body: KeyCreateRequest) -> KeyCreateReply | ErrorReply:
    raise NotImplementedError  # caio_broker.auth.admin serves this


async def keys_list(body: KeyListRequest) -> KeyListReply | ErrorReply:
    raise NotImplementedError


async def keys_revoke(body: KeyRevokeRequest) -> KeyRevokeReply | ErrorReply:
    raise NotImplementedError


async def route(
    body: RouteRequest, capability: Annotated[str, Path()]
) -> RouteReply | DryRunReply | ErrorReply:
    raise NotImplementedError  # caio_broker.router serves this with raw nats-py


async def service_request(
    body: ServiceRequest,
    service_id: Annotated[str, Path()],
    # Named apart from the body's own `capability`: FastStream merges the two
    # into one schema, and a shared name would drop the body field.
    subject_capability: Annotated[str, Path("capability")],
) -> ServiceReply | ErrorReply:
    raise NotImplementedError  # caio_integration.bridge serves this


@dataclass(frozen=True, slots=True)
class RequestReply:
    name: str  # channel and operation key
    subject: Callable[[Subjects], str]
    handler: Callable[..., Awaitable[Any]]
    summary: str
    description: str
    queue: str = ROUTER_QUEUE
    authenticated: bool = True  # the request carries `Authorization: Bearer <key>`


_AUTH_NOTE = (
    " Requests carry the NATS header `Authorization: Bearer <key>`: without it, or with a"
    " key that is unknown, revoked or expired, the reply is `unauthenticated`; a key without"
    " the right is `forbidden`; over its `requests_per_minute` (counted on route requests),"
    " `rate_limited` with `error.details.retry_after_s`. Each denial is audited with"
    " `kind: denied`. A router started with `--insecure-no-auth` accepts requests without"
    " the header."
)
_READ_NOTE = " Any key may ask (role `caller` or above)."
_WRITE_NOTE = (
    " Role `admin`, or `publisher` for service ids matching the key's `services` globs and"
    " only for services it owns (registered under its key name); anything else is `forbidden`."
)
_REGISTRY_NOTE = (
    " Served by the routers in the queue group `caio-router`. A request body may carry"
    " `request_id` (extension); it goes into the audit record." + _AUTH_NOTE
)
_KEYS_NOTE = (
    " Admin keys only: any other key is `forbidden`. Each create and revoke is audited"
    " with `kind: keys` and `decision: {action, key}`. Served by the routers in the queue group"
    " `caio-router`; keys live in a KV bucket every router shares (`CAIO_KEYS` for the"
    " default prefix). A request"
    " body may carry `request_id` (extension); it goes into the audit record." + _AUTH_NOTE
)

REQUEST_REPLY: tuple[RequestReply, ...] = (
    RequestReply(
        "registry_register",
        lambda s: s.registry("register"),
        registry_register,
        "Register a service contract.",
        "Both contract dialects are accepted (nested and flat) and normalize to one model."
        " Registering an id that exists with an identical contract is idempotent; with a"
        " different contract it is `conflict` unless `replace` is true. A rejected"
        " registration changes nothing." + _WRITE_NOTE + _REGISTRY_NOTE,
    ),
    RequestReply(
        "registry_deregister",
        lambda s: s.registry("deregister"),
        registry_deregister,
        "Remove a service from the registry.",
        "An unknown id is `not_found`." + _WRITE_NOTE + _REGISTRY_NOTE,
    ),
    RequestReply(
        "registry_get",
        lambda s: s.registry("get"),
        registry_get,
        "Fetch one service's normalized contract.",
        "`availability` is `available` while at least one live worker instance serves"
        " the service. `owner` (extension) is the name of the key that registered it. An"
        " unknown id is `not_found`." + _READ_NOTE + _REGISTRY_NOTE,
    ),
    RequestReply(
        "registry_list",
        lambda s: s.registry("list"),
        registry_list,
        "List registered services.",
        "Every service, or those offering `capability`." + _READ_NOTE + _REGISTRY_NOTE,
    ),
    RequestReply(
        "registry_discover",
        lambda s: s.registry("discover"),
        registry_discover,
        "Rank services against capabilities, guarantees and constraints.",
        "The same matching and ranking as routing, without calling anything."
        + _READ_NOTE
        + _REGISTRY_NOTE,
    ),
    RequestReply(
        "registry_validate",
        lambda s: s.registry("validate"),
        registry_validate,
        "Validate a contract without registering it.",
        "Both contract dialects are accepted." + _READ_NOTE + _REGISTRY_NOTE,
    ),
    RequestReply(
        "registry_stats",
        lambda s: s.registry("stats"),
        registry_stats,
        "Extension: what one router observed of each service, beside its contract.",
        "Observed p50/p95/p99, error rate, circuit state and live instances, from the"
        " answering router (routers do not share observations), and how many heartbeats"
        " and registrations it could not use." + _READ_NOTE + _REGISTRY_NOTE,
    ),
    RequestReply(
        "route",
        lambda s: s.route("{capability}"),
        route,
        "Route a request to the best service offering a capability.",
        "The router picks the best available service whose contract satisfies every"
        " capability, guarantee and constraint, forwards the request, and replies with the"
        " service's result and the chosen contract's guarantees. With `dry_run: true` it"
        " replies with the decision and calls nothing. The same inputs and the same registry"
        " revision always give the same decision. Bodies over 256 KiB get `payload_too_large`."
        " A key may use only its `capabilities` (else `forbidden`); its policy narrows the"
        " request's constraints (`data_locality`, `hipaa_compliant`), never widens them, and"
        " services outside its `services` globs are excluded with the reason `not permitted"
        " for this caller's key`. Served by the routers in the queue group `caio-router`."
        + _AUTH_NOTE,
    ),
    RequestReply(
        "keys_create",
        lambda s: s.keys("create"),
        keys_create,
        "Create an API key.",
        "The reply carries the key's `secret`, the only time it appears anywhere (only its"
        " hash is stored), and the key's public fields. A name in use by a key that is not"
        " revoked is `conflict`." + _KEYS_NOTE,
    ),
    RequestReply(
        "keys_list",
        lambda s: s.keys("list"),
        keys_list,
        "List API keys, without secrets.",
        "Every key, revoked and expired ones included, sorted by name." + _KEYS_NOTE,
    ),
    RequestReply(
        "keys_revoke",
        lambda s: s.keys("revoke"),
        keys_revoke,
        "Revoke an API key.",
        "`key` is a key name or key id; an unknown one is `not_found`. The key is kept,"
        " marked revoked, and its name is freed; it stops authenticating on every router."
        + _KEYS_NOTE,
    ),
    RequestReply(
        "service_request",
        lambda s: s.service("{service_id}", "{capability}"),
        service_request,
        "The router forwards a routed request to one service.",
        "Bridge workers of one service subscribe in a queue group named after the service"
        " id. A worker that receives a request past `deadline_ms` answers `timeout` without"
        " doing the work; an error reply may carry `retryable: true`.",
        queue="",  # per service, so not one fixed name: the description says it
        authenticated=False,  # the router calls it; the caller's key name is `caller`
    ),
)

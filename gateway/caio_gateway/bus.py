"""The gateway's one NATS connection, and a ``CAIOClient`` per caller's key on it.

The gateway is a CAIO client like any other: it holds no keys, registry or
policy of its own. Each HTTP request is sent to the router with the
caller's own ``Authorization: Bearer <key>``, so the router authenticates,
limits and audits it as that caller. ``CAIOClient`` sends one key per client
object; a client built on a shared connection (``nc=``) costs a few
attribute assignments, so each request gets its own rather than the
gateway reaching into the client's private request path.

The key comes from ``Authorization: Bearer <key>``. The gateway does not
judge keys; the router does, for every request it gets (docs/security.md).
The gateway only refuses what could not be a key at all: another scheme,
or a value with spaces or control characters, which must never be copied
into a NATS header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

import nats
import structlog
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from nats.aio.client import Client as NATS

from caio_gateway.config import GatewayConfig
from caio_integration.client import CAIOClient
from caio_integration.errors import ServiceUnavailable, Unauthenticated
from caio_integration.replymux import ReplyMux
from caio_integration.subjects import Subjects

__all__ = ["Bus", "Caller", "CallerDep", "plain_bearer_key"]

log = structlog.get_logger("caio.gateway")

# A name no capability is likely to carry: ``registry.list`` filtered on it answers
# fast with (almost) nothing, and authenticates the key on the way (see ``authenticate``).
_PROBE_CAPABILITY = "caio-gateway-key-check"


class Bus:
    """Connected at start-up, drained at shutdown; ``client(key)`` per request."""

    __slots__ = ("_closing", "_nc", "_replies", "config", "subjects")

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.subjects = Subjects(config.prefix)
        self._nc: NATS | None = None
        self._replies: ReplyMux | None = None
        self._closing = False

    async def connect(self) -> None:
        """Connect, waiting for NATS as long as it takes, as the router does.

        ``max_reconnect_attempts=-1``: a gateway outlives NATS restarts (nats-py
        gives up after 60 attempts by default, and a gateway that gave up
        would answer 503 until restarted). It also means a gateway started
        before NATS waits for it, logging each attempt, and serves once in.
        """
        options: dict[str, Any] = {
            "name": "caio-gateway",
            "max_reconnect_attempts": -1,
            "error_cb": _report_error,
            "disconnected_cb": self._disconnected,
            "reconnected_cb": _report_reconnected,
        }
        options.update(self.config.connect_options)
        servers = [url.strip() for url in self.config.nats_url.split(",") if url.strip()]
        self._nc = await nats.connect(servers, **options)
        # One reply inbox for the clients made per request (CAIOClient's ``replies``).
        self._replies = await ReplyMux(self._nc).start()

    async def close(self) -> None:
        self._closing = True
        if self._nc is not None:
            await self._nc.drain()
        self._nc = None

    @property
    def nc(self) -> NATS:
        if self._nc is None or not self._nc.is_connected:
            raise ServiceUnavailable("the gateway is not connected to NATS right now")
        return self._nc

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def _disconnected(self) -> None:
        if not self._closing:  # draining at shutdown disconnects too; that is no news
            log.warning("nats_disconnected")

    def client(self, api_key: str | None) -> CAIOClient:
        """A client sending ``api_key`` (or no key at all) on the shared connection."""
        # "" and not None: with None the client would fall back to the gateway
        # process's own CAIO_API_KEY and lend it to an anonymous caller.
        return CAIOClient(
            nc=self.nc,
            prefix=self.config.prefix,
            timeout_s=self.config.request_timeout_s,
            api_key=api_key or "",
            replies=self._replies,
        )

    async def authenticate(self, api_key: str | None) -> None:
        """Raise ``Unauthenticated`` unless the router accepts ``api_key``.

        For what the gateway serves itself (job results): the router has no
        "who am I" subject, so the cheapest authenticated call stands in.
        """
        await self.client(api_key).list_services(_PROBE_CAPABILITY)

    async def require_admin(self, api_key: str | None) -> None:
        """Raise ``Unauthenticated`` / ``Forbidden`` unless ``api_key`` is an admin's.

        Listing keys is the router's admin-only operation that changes nothing
        and writes no audit record: the check costs one round trip.
        """
        await self.client(api_key).list_keys()


async def _report_error(exc: Exception) -> None:
    log.warning("nats_error", error=str(exc) or type(exc).__name__)


async def _report_reconnected() -> None:
    log.info("nats_reconnected")


_KEY = re.compile(r"^[\x21-\x7e]{1,512}$")  # printable ASCII, no spaces
# auto_error off: a missing key is the router's to refuse (an --insecure-no-auth
# router takes requests without one); the scheme puts "bearer" in the OpenAPI document.
_bearer = HTTPBearer(
    auto_error=False,
    description="A CAIO API key (`caio_<id>_<secret>`), sent on to the router.",
)


@dataclass(frozen=True, slots=True)
class Caller:
    """The gateway's connection and the caller's key: what a request is sent with."""

    bus: Bus
    api_key: str | None

    def client(self) -> CAIOClient:
        return self.bus.client(self.api_key)


async def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Caller:
    bus: Bus = request.app.state.bus
    if credentials is None:
        if request.headers.get("authorization"):
            raise Unauthenticated("the Authorization header must be `Bearer <api key>`")
        return Caller(bus, None)
    if not _KEY.fullmatch(credentials.credentials):
        raise Unauthenticated("the API key in the Authorization header is not a CAIO key")
    return Caller(bus, credentials.credentials)


CallerDep = Annotated[Caller, Depends(_caller)]


def plain_bearer_key(authorization: bytes) -> str | None:
    """The key of an ``Authorization`` value ``_caller`` takes as it is, else None.

    For ``hot_path``, which reads raw headers: ``Bearer <key>`` (any case of
    the scheme, one space) with a key ``_KEY`` accepts is the one form where
    ``HTTPBearer`` and ``_caller`` yield exactly that key. Anything else
    (no key, another scheme, odd spacing) is left to them and their errors.
    """
    if authorization[:7].lower() != b"bearer ":
        return None
    key = authorization[7:].decode("latin-1")
    return key if _KEY.fullmatch(key) else None

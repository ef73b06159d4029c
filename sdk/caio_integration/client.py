"""``CAIOClient``: the protocol's subjects as typed async calls.

Nothing here is more than a bare NATS client could do: each method sends
one request to a protocol subject and turns the reply into a typed result,
or an error reply into the ``CAIOError`` subclass for its code::

    async with CAIOClient("nats://127.0.0.1:4222", api_key="caio_...") as caio:
        await caio.register_service(Path("contracts/local-review.yaml"))
        answer = await caio.route_request("code_review", {"code": "import os\\n"})

``SyncCAIOClient`` offers the same calls for code without an event loop.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import nats
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from caio_integration import jobs
from caio_integration._json import dumps, loads
from caio_integration._natsconn import server_list
from caio_integration._stream import RouteStream
from caio_integration.contracts._files import contract_body
from caio_integration.defaults import DEFAULT_NATS_URL
from caio_integration.errors import (
    CAIOError,
    ServiceUnavailable,
    Timeout,
    raise_for_reply,
)
from caio_integration.replymux import ReplyMux
from caio_integration.subjects import DEFAULT_PREFIX, Subjects
from caio_integration.wire import (
    DiscoverReply,
    DryRunReply,
    GetReply,
    RegisterReply,
    RouteReply,
    ServiceSummary,
    ValidateReply,
    new_request_id,
)

__all__ = ["CAIOClient", "RouteStream", "SyncCAIOClient", "raise_for_reply"]

T = TypeVar("T")
ContractSource = Mapping[str, Any] | str | Path


def _contract_body(contract: ContractSource) -> dict[str, Any]:
    """A Path is a contract file (its schema files read in); a str is YAML text."""
    if isinstance(contract, Path):
        return contract_body(contract)
    if isinstance(contract, str):
        return {"contract_yaml": contract}
    return {"contract": dict(contract)}


def _route_body(
    context: Mapping[str, Any],
    requirements: list[str] | None,
    guarantees: Mapping[str, Any] | None,
    constraints: Mapping[str, Any] | None,
    timeout_ms: int,
    request_id: str | None,
) -> dict[str, Any]:
    """A route request's body with only the options given (the router's defaults apply)."""
    body: dict[str, Any] = {"context": dict(context), "timeout_ms": timeout_ms}
    if requirements:
        body["requirements"] = requirements
    if guarantees:
        body["guarantees"] = dict(guarantees)
    if constraints:
        body["constraints"] = dict(constraints)
    if request_id:
        body["request_id"] = request_id
    return body


class CAIOClient:
    def __init__(
        self,
        nats_url: str = DEFAULT_NATS_URL,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = 10.0,
        connect_options: Mapping[str, Any] | None = None,
        nc: NATS | None = None,
        api_key: str | None = None,
        replies: ReplyMux | None = None,
    ) -> None:
        """``nc``: a connection to share (else one is made at ``connect``); ``replies``:
        the started ``ReplyMux`` of that connection, to share one reply inbox between
        clients made per request (as the HTTP gateway does); else each client makes
        its own at its first request."""
        self.nats_url = nats_url
        key = api_key if api_key is not None else os.environ.get("CAIO_API_KEY")
        # Sent as a NATS header on every request (PROTOCOL: caller identity).
        self._headers = {"Authorization": f"Bearer {key}"} if key else None
        self.subjects = Subjects(prefix)
        self.timeout_s = timeout_s
        self._connect_options = dict(connect_options or {})
        self._nc = nc
        self._owns_connection = nc is None
        self._replies = replies
        self._owns_replies = replies is None

    async def connect(self) -> CAIOClient:
        if self._nc is None:
            options: dict[str, Any] = {"name": "caio-client"}
            options.update(self._connect_options)
            self._nc = await nats.connect(server_list(self.nats_url), **options)
        return self

    async def close(self) -> None:
        replies = self._replies if self._owns_replies else None
        if self._owns_replies:
            self._replies = None
        if self._nc is not None and self._owns_connection:
            await self._nc.drain()
        elif replies is not None and self._nc is not None and not self._nc.is_closed:
            await replies.stop()  # the connection is the caller's: leave it as it was
        self._nc = None

    async def __aenter__(self) -> CAIOClient:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def request(
        self, subject: str, body: dict[str, Any], timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Send one protocol request; the ok reply as a dict, or the error raised."""
        if self._nc is None:
            await self.connect()
        assert self._nc is not None
        timeout = timeout_s if timeout_s is not None else self.timeout_s
        replies = self._replies
        if replies is None:
            replies = self._replies = await ReplyMux(self._nc).start()
        try:
            msg = await replies.request(subject, dumps(body), timeout, self._headers)
        except NoRespondersError:
            raise ServiceUnavailable(
                f"no CAIO router answers on {subject}; is `caio up` or `caio router` running?"
            ) from None
        except NatsTimeoutError:
            raise Timeout(f"no reply on {subject} within {timeout:g} s") from None
        reply = loads(msg.data)
        if not isinstance(reply, dict):
            raise CAIOError(f"unreadable reply on {subject}")
        return raise_for_reply(reply)

    # -- registry ----------------------------------------------------------

    async def register_service(
        self, contract: ContractSource, *, replace: bool = False
    ) -> RegisterReply:
        body = _contract_body(contract)
        if replace:
            body["replace"] = True
        reply = await self.request(self.subjects.registry("register"), body)
        return RegisterReply.model_validate(reply)

    async def deregister_service(self, service_id: str) -> None:
        await self.request(self.subjects.registry("deregister"), {"service_id": service_id})

    async def get_service(self, service_id: str) -> GetReply:
        reply = await self.request(self.subjects.registry("get"), {"service_id": service_id})
        return GetReply.model_validate(reply)

    async def list_services(self, capability: str | None = None) -> list[ServiceSummary]:
        body = {"capability": capability} if capability else {}
        reply = await self.request(self.subjects.registry("list"), body)
        return [ServiceSummary.model_validate(s) for s in reply["services"]]

    async def discover_services(
        self,
        capabilities: list[str],
        guarantees: Mapping[str, Any] | None = None,
        constraints: Mapping[str, Any] | None = None,
    ) -> DiscoverReply:
        body = {
            "capabilities": capabilities,
            "guarantees": dict(guarantees or {}),
            "constraints": dict(constraints or {}),
        }
        return DiscoverReply.model_validate(
            await self.request(self.subjects.registry("discover"), body)
        )

    async def service_stats(self, capability: str | None = None) -> list[dict[str, Any]]:
        """One router's view of each service: contract bounds beside observed latency."""
        body = {"capability": capability} if capability else {}
        services: list[dict[str, Any]] = (
            await self.request(self.subjects.registry("stats"), body)
        )["services"]
        return services

    async def validate_contract(self, contract: ContractSource) -> ValidateReply:
        reply = await self.request(self.subjects.registry("validate"), _contract_body(contract))
        return ValidateReply.model_validate(reply)

    # -- API keys (admin keys only) ------------------------------------------

    async def create_key(
        self,
        name: str,
        role: str,
        *,
        capabilities: list[str] | None = None,
        services: list[str] | None = None,
        expires_in_s: float | None = None,
        policy: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A new API key; the reply's ``secret`` is shown this once and stored nowhere."""
        body: dict[str, Any] = {"name": name, "role": role}
        if capabilities is not None:
            body["capabilities"] = capabilities
        if services is not None:
            body["services"] = services
        if expires_in_s is not None:
            body["expires_in_s"] = expires_in_s
        if policy:
            body["policy"] = dict(policy)
        return await self.request(self.subjects.keys("create"), body)

    async def list_keys(self) -> list[dict[str, Any]]:
        keys: list[dict[str, Any]] = (await self.request(self.subjects.keys("list"), {}))["keys"]
        return keys

    async def revoke_key(self, key: str) -> dict[str, Any]:
        return await self.request(self.subjects.keys("revoke"), {"key": key})

    # -- routing -------------------------------------------------------------

    @overload
    async def route_request(
        self,
        capability: str,
        context: Mapping[str, Any],
        *,
        requirements: list[str] | None = None,
        guarantees: Mapping[str, Any] | None = None,
        constraints: Mapping[str, Any] | None = None,
        timeout_ms: int = 30_000,
        dry_run: Literal[False] = False,
        request_id: str | None = None,
    ) -> RouteReply: ...

    @overload
    async def route_request(
        self,
        capability: str,
        context: Mapping[str, Any],
        *,
        requirements: list[str] | None = None,
        guarantees: Mapping[str, Any] | None = None,
        constraints: Mapping[str, Any] | None = None,
        timeout_ms: int = 30_000,
        dry_run: Literal[True],
        request_id: str | None = None,
    ) -> DryRunReply: ...

    @overload
    async def route_request(
        self,
        capability: str,
        context: Mapping[str, Any],
        *,
        requirements: list[str] | None = None,
        guarantees: Mapping[str, Any] | None = None,
        constraints: Mapping[str, Any] | None = None,
        timeout_ms: int = 30_000,
        dry_run: bool = False,
        request_id: str | None = None,
    ) -> RouteReply | DryRunReply: ...

    async def route_request(
        self,
        capability: str,
        context: Mapping[str, Any],
        *,
        requirements: list[str] | None = None,
        guarantees: Mapping[str, Any] | None = None,
        constraints: Mapping[str, Any] | None = None,
        timeout_ms: int = 30_000,
        dry_run: bool = False,
        request_id: str | None = None,
    ) -> RouteReply | DryRunReply:
        """The routed answer, or with ``dry_run`` the decision alone (see ``dry_run``)."""
        body = _route_body(context, requirements, guarantees, constraints, timeout_ms, request_id)
        if dry_run:
            body["dry_run"] = True
        # The router answers within timeout_ms; give the reply a moment to travel back.
        reply = await self.request(self.subjects.route(capability), body, timeout_ms / 1000 + 2.0)
        if reply.get("dry_run") is True:
            return DryRunReply.model_validate(reply)
        return RouteReply.model_validate(reply)

    async def route(
        self, capability: str, context: Mapping[str, Any], **options: Any
    ) -> RouteReply:
        """Route one request and return the chosen service's answer."""
        answer = await self.route_request(capability, context, **options)
        if not isinstance(answer, RouteReply):
            raise TypeError("route() does not do dry runs: use dry_run()")
        return answer

    def stream(
        self,
        capability: str,
        context: Mapping[str, Any],
        *,
        requirements: list[str] | None = None,
        guarantees: Mapping[str, Any] | None = None,
        constraints: Mapping[str, Any] | None = None,
        timeout_ms: int = 30_000,
        request_id: str | None = None,
    ) -> RouteStream:
        """Route one request and read the answer as it comes::

            async with caio.stream("chat", {"messages": [...]}) as stream:
                async for chunk in stream:
                    ...  # chunk.data, as the service streamed it
            stream.reply  # the final RouteReply (usage, stream summary)

        A service that does not stream answers with no chunks and its reply.
        """
        if self._nc is None:
            raise RuntimeError("connect first: `async with CAIOClient(...)` or `await connect()`")
        body = _route_body(context, requirements, guarantees, constraints, timeout_ms, request_id)
        # Between two messages the router may wait up to timeout_ms; allow the trip back.
        return RouteStream(
            self._nc,
            self.subjects.route(capability),
            body,
            headers=self._headers,
            timeout_s=timeout_ms / 1000 + 2.0,
        )

    async def dry_run(
        self, capability: str, context: Mapping[str, Any] | None = None, **options: Any
    ) -> DryRunReply:
        """The routing decision for a request, calling no service."""
        answer = await self.route_request(capability, context or {}, dry_run=True, **options)
        assert isinstance(answer, DryRunReply)
        return answer

    # -- durable jobs (docs/jobs.md) -------------------------------------------

    async def submit_job(
        self,
        capability: str,
        context: Mapping[str, Any],
        *,
        request_id: str | None = None,
        requirements: list[str] | None = None,
        guarantees: Mapping[str, Any] | None = None,
        constraints: Mapping[str, Any] | None = None,
        timeout_ms: int = 30_000,
    ) -> str:
        """Store a job in JetStream (deduplicated by request id); returns the request id.

        Once this returns the job is not lost: a router runs it, retrying per
        policy, and its outcome appears under ``get_result``/``wait_result``.
        """
        body = jobs.job_body(
            context,
            request_id or new_request_id(),
            requirements=requirements,
            guarantees=guarantees,
            constraints=constraints,
            timeout_ms=timeout_ms,
        )
        nc = await self._connected()
        submitted, _ = await jobs.submit_job(
            nc, self.subjects, self._headers, capability, body, timeout_s=self.timeout_s
        )
        return submitted

    async def get_result(self, request_id: str) -> dict[str, Any] | None:
        """A job's stored result (an ok or error reply), or None while it has none."""
        return await jobs.get_result(await self._connected(), self.subjects, request_id)

    async def wait_result(self, request_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """A job's result as soon as it is stored; raises ``Timeout`` after ``timeout_s``."""
        return await jobs.wait_result(await self._connected(), self.subjects, request_id, timeout_s)

    async def _connected(self) -> NATS:
        if self._nc is None:
            await self.connect()
        assert self._nc is not None
        return self._nc


class SyncCAIOClient:
    """The same calls, blocking; runs a private event loop in a daemon thread."""

    def __init__(self, nats_url: str = DEFAULT_NATS_URL, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="caio-sync"
        )
        self._thread.start()
        self._client = CAIOClient(nats_url, **options)
        self._run(self._client.connect())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> SyncCAIOClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register_service(self, contract: ContractSource, *, replace: bool = False) -> RegisterReply:
        return self._run(self._client.register_service(contract, replace=replace))

    def deregister_service(self, service_id: str) -> None:
        self._run(self._client.deregister_service(service_id))

    def get_service(self, service_id: str) -> GetReply:
        return self._run(self._client.get_service(service_id))

    def list_services(self, capability: str | None = None) -> list[ServiceSummary]:
        return self._run(self._client.list_services(capability))

    def discover_services(self, capabilities: list[str], **kwargs: Any) -> DiscoverReply:
        return self._run(self._client.discover_services(capabilities, **kwargs))

    def validate_contract(self, contract: ContractSource) -> ValidateReply:
        return self._run(self._client.validate_contract(contract))

    def route_request(
        self, capability: str, context: Mapping[str, Any], **kwargs: Any
    ) -> RouteReply | DryRunReply:
        answer: RouteReply | DryRunReply = self._run(
            self._client.route_request(capability, context, **kwargs)
        )
        return answer

    def submit_job(self, capability: str, context: Mapping[str, Any], **kwargs: Any) -> str:
        return self._run(self._client.submit_job(capability, context, **kwargs))

    def get_result(self, request_id: str) -> dict[str, Any] | None:
        return self._run(self._client.get_result(request_id))

    def wait_result(self, request_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        return self._run(self._client.wait_result(request_id, timeout_s))

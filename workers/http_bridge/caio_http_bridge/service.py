"""``HttpBridgeService``: any contract whose ``api`` declares HTTP endpoints, served with no code.

::

    python -m caio_http_bridge contracts/examples/openai-compatible-chat.yaml \\
        --nats-url nats://127.0.0.1:4222

or, in Python, ``await run("openai-compatible-chat.yaml", HostConfig(...))``. The
service is an ``AIUCPService`` on the SDK's host, so registration,
heartbeats, deadlines, concurrency and error replies are the host's; the
bridge only turns a request into an HTTP call (``calls``) along the route
the contract gives its capability (``routes``).

One ``aiohttp.ClientSession`` per instance, opened in ``setup()`` and closed
in ``teardown()``: HTTP/1.1 over a keep-alive pool of as many connections as
the contract's ``max_concurrent_requests``. Credentials are read in
``setup()`` too, so a missing one stops the start. Why aiohttp and no
HTTP/2: docs/http-bridge.md, "Connections".
"""

from __future__ import annotations

import contextlib
import os
import urllib.request
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from caio_http_bridge.calls import Budget, Upstream
from caio_http_bridge.credentials import Credential, read_credential
from caio_http_bridge.routes import BridgePlan, Route, plan_routes
from caio_integration._log import get_logger
from caio_integration.contracts.model import HttpAuth
from caio_integration.errors import ServiceUnavailable
from caio_integration.host import HostConfig, ServiceHost
from caio_integration.service import AIUCPService, WorkResult, current_context

__all__ = ["HttpBridgeService", "create_host", "run"]

_DEFAULT_CONNECTIONS = 64  # the host's default concurrency: one connection per request at most
# Below the 5 s after which uvicorn (vLLM, most Python model servers) closes an
# idle connection, so the bridge drops one before the server can, rather than
# sending a request down a connection that is closing.
_KEEPALIVE_S = 4.0


class HttpBridgeService(AIUCPService):
    """Serves each capability of a contract by calling the HTTP endpoint its ``api`` names."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        env: Mapping[str, str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """``base_url`` replaces the contract's (the same contract, another deployment);
        ``env`` is where ``auth.env`` credentials are read (default: ``os.environ``);
        ``base_dir`` resolves relative paths of a contract assigned in code
        (``initialize`` uses the contract file's directory)."""
        self._base_url = base_url
        self._env = env
        self._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self._plan: BridgePlan | None = None
        self._upstream: Upstream | None = None
        self._session: aiohttp.ClientSession | None = None
        self._log = get_logger("caio.http_bridge")

    # -- the contract ------------------------------------------------------------

    def initialize(self, contract_path: str | os.PathLike[str]) -> None:
        """Load the contract and plan its routes; raises ``InvalidContract`` with every problem.

        The contract registered is the file's, as ``caio register FILE`` sends
        it: ``base_url`` overrides and schema files stay this instance's own.
        """
        super().initialize(contract_path)
        self._base_dir = Path(contract_path).resolve().parent
        self._plan = self.plan()

    def plan(self) -> BridgePlan:
        """The routes of ``self.contract`` (planned on first use for a contract set in code)."""
        if self._plan is None:
            self._plan = plan_routes(self.contract, self._base_dir, base_url=self._base_url)
        return self._plan

    def implements(self, capability: str) -> bool:
        return capability in self.plan().routes

    # -- lifecycle ---------------------------------------------------------------

    async def setup(self) -> None:
        """Read the credentials and open the session; raises to refuse to start."""
        plan = self.plan()
        self._log = get_logger("caio.http_bridge", service_id=self.contract.id)
        credentials = self._credentials(plan.routes.values())
        connections = self.contract.constraints.max_concurrent_requests or _DEFAULT_CONNECTIONS
        proxy = _env_proxy(plan.base_url)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, keepalive_timeout=_KEEPALIVE_S),
            timeout=aiohttp.ClientTimeout(total=None),  # each call has its own budget (calls)
            # Every caller's requests share this session: none may see another's cookies.
            cookie_jar=aiohttp.DummyCookieJar(),
            # trust_env would read the proxy variables and ~/.netrc (in a thread) on
            # every request, and put a netrc password on calls: _env_proxy reads once.
            trust_env=False,
        )
        self._upstream = Upstream(self._session, plan, credentials, self._log, proxy=proxy)
        self._log.info(
            "http_bridge_ready",
            base_url=plan.base_url,
            connections=connections,
            proxy=proxy is not None,  # a proxy URL may carry its own password: never logged
            routes={r.capability: f"{r.method} {r.path}" for r in plan.routes.values()},
            credentials=sorted({c.source for c in credentials.values()}),
        )

    async def teardown(self) -> None:
        session, self._session, self._upstream = self._session, None, None
        if session is not None:
            await session.close()

    def _credentials(self, routes: Iterable[Route]) -> dict[str, Credential]:
        read: dict[HttpAuth, Credential] = {}  # each source read once, shared by its routes
        by_capability: dict[str, Credential] = {}
        for route in routes:
            if route.auth is None:
                continue
            if route.auth not in read:
                read[route.auth] = read_credential(route.auth, self._base_dir, self._env)
            by_capability[route.capability] = read[route.auth]
        return by_capability

    # -- the work ----------------------------------------------------------------

    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> WorkResult:
        route, budget = self._route_and_budget(context)
        return await self._started().call(route, request, budget)

    async def execute_stream(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any] | WorkResult]:
        """The upstream's chunks as they come, then ``{"chunks": n, "text"?}`` and usage."""
        route, budget = self._route_and_budget(context)
        # Closed here, not whenever the garbage collector gets to it: a caller
        # that stops reading must free the upstream connection at once.
        async with contextlib.aclosing(self._started().stream(route, request, budget)) as items:
            async for item in items:
                yield item

    def get_health_status(self) -> dict[str, Any]:
        status = "healthy" if self._upstream is not None else "unhealthy"
        return {"status": status, "upstream": self.plan().base_url}

    def _route_and_budget(self, context: Mapping[str, Any] | None) -> tuple[Route, Budget]:
        context = context if context is not None else current_context() or {}
        capability = context.get("capability")
        route = self.plan().routes.get(capability) if isinstance(capability, str) else None
        if route is None:  # the host only calls execute for implemented capabilities
            raise ServiceUnavailable(
                f"no route for capability {capability!r}", details={"reason": "no_route"}
            )
        deadline = context.get("deadline_ms")
        budget = Budget.for_request(
            self.contract.p95_latency_ms, deadline if isinstance(deadline, int) else None
        )
        return route, budget

    def _started(self) -> Upstream:
        if self._upstream is None:
            raise ServiceUnavailable(
                "the HTTP bridge is not started", details={"reason": "not_started"}
            )
        return self._upstream


def _env_proxy(base_url: str) -> str | None:
    """The proxy ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` name for the upstream
    (any case), or None when there is none or ``NO_PROXY`` covers its host."""
    url = urlsplit(base_url)
    proxies = urllib.request.getproxies_environment()
    if not proxies or urllib.request.proxy_bypass(url.netloc):
        return None
    return proxies.get(url.scheme) or proxies.get("all")


def create_host(
    contract_path: str | os.PathLike[str],
    config: HostConfig | None = None,
    *,
    base_url: str | None = None,
) -> ServiceHost:
    """A host serving ``contract_path`` through the bridge (not started yet)."""
    service = HttpBridgeService(base_url=base_url)
    service.initialize(contract_path)
    return ServiceHost(service, config if config is not None else HostConfig.from_env())


async def run(
    contract_path: str | os.PathLike[str],
    config: HostConfig | None = None,
    *,
    base_url: str | None = None,
) -> None:
    """Serve ``contract_path`` until SIGTERM/SIGINT (``caio bridge http CONTRACT``)."""
    await create_host(contract_path, config, base_url=base_url).run()

"""``/ui``: the web console, one static page over the gateway's own JSON API.

The page (``console/index.html``, ``console.js``, ``console.css``) has no
build step and no data of its own: the browser asks ``/api/v1`` for
everything with the key the user typed, so the console can show nothing
that key could not read with ``curl``. The page is served without a key;
it holds no data until one is given.

Two read-only endpoints are added here for it, each one router request
with the caller's key, as every ``/api/v1`` endpoint is:

- ``GET /api/v1/stats``: the registry's ``stats`` (contract bounds beside
  the answering router's observed p50/p95/p99), any key;
- ``GET /api/v1/keys``: the router's ``keys.list``, admin keys only, each
  entry cut to ``ApiKeyInfo``'s fields so that nothing a future router adds
  to a key's record reaches a browser unless that model names it.

The page's Content-Security-Policy allows scripts, styles and requests
from the gateway itself only. ``console.js`` renders with ``textContent``
(service names, reasons and callers are other people's text); the policy
is the second line: markup that slipped through still could not run.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import RedirectResponse, Response

from caio_gateway.bus import CallerDep
from caio_gateway.errors import CAIO_ERRORS, json_response
from caio_integration.subjects import SAFE_TOKEN
from caio_integration.wire import ApiKeyInfo, KeyListReply, StatsReply

__all__ = ["ASSETS", "CONTENT_SECURITY_POLICY", "router"]

router = APIRouter()

#: The files under ``/ui``, by the name they are served at, with their media types.
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated on each load: an upgraded gateway must not run last version's script.
    "Cache-Control": "no-cache",
}
_KEY_FIELDS = frozenset(ApiKeyInfo.model_fields)


@functools.cache
def _asset(name: str) -> bytes:
    """A file of the console, read once from the installed package."""
    return (resources.files("caio_gateway") / "console" / name).read_bytes()


def _serve(name: str) -> Response:
    return Response(_asset(name), 200, _HEADERS, media_type=ASSETS[name])


# -- the page ---------------------------------------------------------------------------


@router.get("/ui", include_in_schema=False)
async def console_page() -> Response:
    return _serve("index.html")


@router.get("/ui/", include_in_schema=False)
async def console_slash() -> Response:
    # The page links its assets and the API relative to /ui (so it works behind a
    # proxy's path prefix); under /ui/ those links would point one level too deep.
    return RedirectResponse("../ui", status_code=308)


@router.get("/ui/console.js", include_in_schema=False)
async def console_script() -> Response:
    return _serve("console.js")


@router.get("/ui/console.css", include_in_schema=False)
async def console_style() -> Response:
    return _serve("console.css")


# -- what the console reads that /api/v1 had no endpoint for -----------------------------


@router.get(
    "/api/v1/stats",
    response_model=StatsReply,
    responses=CAIO_ERRORS,
    tags=["Services"],
    summary="Contract bounds beside observed latency",
)
async def service_stats(
    caller: CallerDep,
    capability: Annotated[
        str | None, Query(pattern=SAFE_TOKEN.pattern, description="Only those offering it.")
    ] = None,
) -> Response:
    """The answering router's view of each service: live instances, circuit, the contract's
    p95 bound and limits, and the p50/p95/p99 it observed (`caio stats`). Any key."""
    client = caller.client()
    body = {"capability": capability} if capability else {}
    return json_response(await client.request(client.subjects.registry("stats"), body))


@router.get(
    "/api/v1/keys",
    response_model=KeyListReply,
    responses=CAIO_ERRORS,
    tags=["Keys"],
    summary="List API keys",
)
async def list_keys(caller: CallerDep) -> Response:
    """Each key's name, role, allowed capabilities and services, limits and expiry; never a
    secret (the router stores none). Admin keys only (`caio keys list`)."""
    client = caller.client()
    reply = await client.request(client.subjects.keys("list"), {})
    keys = [_public(key) for key in reply.get("keys", [])]
    return json_response({"status": "ok", "keys": keys, "count": len(keys)})


def _public(key: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in key.items() if name in _KEY_FIELDS}

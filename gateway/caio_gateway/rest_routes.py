"""``/api/v1``: seed 002's integration API, routing, jobs and the audit over HTTP.

Request bodies are the protocol's own messages (``caio_integration.wire``),
so the OpenAPI document and docs/protocol.md describe the same fields, and
replies are the router's, passed on as it sent them. Errors are CAIO's
error reply with the HTTP status of its code (``errors``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from pydantic import BaseModel, Field
from starlette.responses import Response

from caio_gateway.audit_page import AuditPage, read_page
from caio_gateway.bus import Caller, CallerDep
from caio_gateway.errors import CAIO_ERRORS, json_response, reply_headers
from caio_gateway.sse import route_stream
from caio_integration.audit import ReplayFilter
from caio_integration.errors import InvalidContract, Timeout
from caio_integration.subjects import SAFE_REQUEST_ID, SAFE_TOKEN
from caio_integration.wire import (
    AuditKind,
    AuditOutcome,
    DeregisterReply,
    DiscoverReply,
    DiscoverRequest,
    GetReply,
    ListReply,
    RegisterReply,
    RegisterRequest,
    RouteReply,
    RouteRequest,
    ValidateReply,
    ValidateRequest,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=CAIO_ERRORS)
Capability = Annotated[str, Path(pattern=SAFE_TOKEN.pattern, description="A capability name.")]
ServiceId = Annotated[str, Path(pattern=SAFE_TOKEN.pattern, description="A service id.")]


async def _ask(caller: Caller, operation: str, body: dict[str, Any]) -> Response:
    """A registry request with the caller's key; the router's reply as it is."""
    client = caller.client()
    return json_response(await client.request(client.subjects.registry(operation), body))


def _body(model: Any) -> dict[str, Any]:
    body: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True)
    return body


# -- seed 002: /api/v1/integration ------------------------------------------------------


@router.post(
    "/integration/register-service",
    response_model=RegisterReply,
    tags=["Integration"],
    summary="Register a service contract",
)
async def register_service(body: RegisterRequest, caller: CallerDep) -> Response:
    """`contract` (the YAML contract as JSON) or `contract_yaml` (its text); a publisher's
    or admin's key."""
    return await _ask(caller, "register", _body(body))


@router.post(
    "/integration/discover-services",
    response_model=DiscoverReply,
    tags=["Integration"],
    summary="Rank services against requirements",
)
async def discover_services(body: DiscoverRequest, caller: CallerDep) -> Response:
    return await _ask(caller, "discover", _body(body))


@router.post(
    "/integration/validate-contract",
    response_model=ValidateReply,
    tags=["Integration"],
    summary="Validate a contract without registering it",
)
async def validate_contract(body: ValidateRequest, caller: CallerDep) -> Response:
    return await _ask(caller, "validate", _body(body))


@router.post(
    "/integration/upload-contract",
    response_model=RegisterReply,
    tags=["Integration"],
    summary="Register a contract uploaded as a YAML file",
)
async def upload_contract(
    caller: CallerDep,
    file: Annotated[UploadFile, File(description="The contract, a YAML file (UTF-8).")],
    replace: Annotated[bool, Form(description="Replace a different stored contract.")] = False,
) -> Response:
    """Multipart form: `file` (YAML). Schemas must be inline: the router reads no files."""
    try:
        text = (await file.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidContract(f"{file.filename or 'the upload'} is not UTF-8 text") from None
    body: dict[str, Any] = {"contract_yaml": text}
    if replace:
        body["replace"] = True
    return await _ask(caller, "register", body)


# -- services ----------------------------------------------------------------------------


@router.get("/services", response_model=ListReply, tags=["Services"], summary="List services")
async def list_services(
    caller: CallerDep,
    capability: Annotated[
        str | None, Query(pattern=SAFE_TOKEN.pattern, description="Only those offering it.")
    ] = None,
) -> Response:
    return await _ask(caller, "list", {"capability": capability} if capability else {})


@router.get(
    "/services/{service_id}", response_model=GetReply, tags=["Services"], summary="Get a service"
)
async def get_service(service_id: ServiceId, caller: CallerDep) -> Response:
    return await _ask(caller, "get", {"service_id": service_id})


@router.delete(
    "/services/{service_id}",
    response_model=DeregisterReply,
    tags=["Services"],
    summary="Deregister a service",
)
async def deregister_service(service_id: ServiceId, caller: CallerDep) -> Response:
    return await _ask(caller, "deregister", {"service_id": service_id})


# -- routing and jobs ----------------------------------------------------------------------


@router.post(
    "/route/{capability}",
    response_model=RouteReply,
    tags=["Routing"],
    summary="Route a request by contract",
)
async def route(capability: Capability, body: RouteRequest, caller: CallerDep) -> Response:
    """The wire protocol's route request. `dry_run: true` answers with the decision;
    `stream: true` answers with server-sent events (`chunk`, then `reply` or `error`)."""
    client = caller.client()
    if body.stream:
        return await route_stream(client, capability, body)
    # The router answers within timeout_ms; give its reply a moment to travel back.
    timeout_s = body.timeout_ms / 1000 + 2.0
    reply = await client.request(client.subjects.route(capability), _body(body), timeout_s)
    return json_response(
        reply, headers=reply_headers(reply.get("request_id"), reply.get("service_id"))
    )


class JobAccepted(BaseModel):
    status: str = Field("accepted", description="Always `accepted`: the job is stored.")
    request_id: str = Field(description="The job's id: `GET /api/v1/jobs/{request_id}`.")


@router.post(
    "/route/{capability}/job",
    response_model=JobAccepted,
    status_code=202,
    tags=["Jobs"],
    summary="Submit a durable job",
)
async def submit_job(capability: Capability, body: RouteRequest, caller: CallerDep) -> Response:
    """A route request stored in JetStream and run by a router (docs/jobs.md)."""
    request_id = await caller.client().submit_job(
        capability,
        body.context,
        request_id=body.request_id,
        requirements=body.requirements or None,
        guarantees=body.guarantees.model_dump(exclude_none=True) or None,
        constraints=body.constraints.model_dump(exclude_none=True) or None,
        timeout_ms=body.timeout_ms,
    )
    return json_response({"status": "accepted", "request_id": request_id}, 202)


class JobPending(BaseModel):
    status: str = Field("pending", description="`pending`: no result is stored yet.")
    request_id: str


@router.get(
    "/jobs/{request_id}",
    tags=["Jobs"],
    summary="A job's result",
    responses={
        200: {"description": "The stored result: a route reply, or the error reply it ended in"},
        202: {"model": JobPending, "description": "No result yet"},
    },
)
async def get_job(
    request_id: Annotated[str, Path(pattern=SAFE_REQUEST_ID.pattern)],
    caller: CallerDep,
    wait_s: Annotated[
        float, Query(ge=0, le=30, description="Wait up to this long for the result.")
    ] = 0,
) -> Response:
    """200 with the stored result once there is one; 202 `pending` until then."""
    await caller.bus.authenticate(caller.api_key)
    client = caller.client()
    try:
        result = (
            await client.wait_result(request_id, wait_s)
            if wait_s > 0
            else await client.get_result(request_id)
        )
    except Timeout:
        result = None
    if result is None:
        return json_response({"status": "pending", "request_id": request_id}, 202)
    return json_response(result)


# -- audit -----------------------------------------------------------------------------------


@router.get("/audit", response_model=AuditPage, tags=["Audit"], summary="Read the audit")
async def audit(
    caller: CallerDep,
    after: Annotated[int, Query(ge=0, description="Records after this sequence.")] = 0,
    limit: Annotated[int, Query(ge=1, description="Most records on the page.")] = 100,
    since: Annotated[
        dt.datetime | None, Query(description="From this time (when `after` is 0).")
    ] = None,
    kind: Annotated[AuditKind | None, Query()] = None,
    service_id: Annotated[str | None, Query(pattern=SAFE_TOKEN.pattern)] = None,
    outcome: Annotated[AuditOutcome | None, Query()] = None,
) -> Response:
    """Admin keys only: records carry callers' names and request ids (docs/security.md)."""
    await caller.bus.require_admin(caller.api_key)
    page = await read_page(
        caller.bus.nc,
        caller.bus.subjects,
        ReplayFilter(since=since, service_id=service_id, kind=kind, outcome=outcome),
        after=after,
        limit=min(limit, caller.bus.config.audit_page_max),
    )
    return json_response(page.model_dump())

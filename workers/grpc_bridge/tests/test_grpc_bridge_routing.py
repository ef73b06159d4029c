"""A routed request, through a real router, answered by a real gRPC server's unary method:
found by server reflection or in a compiled descriptor set."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from grpc_bridge_support import SERVICE, Demo, Route, contract_document, write_contract

from caio_grpc_bridge import GrpcBridgeService
from caio_integration.errors import InvalidContract, Timeout

GREETING = {
    "message": "Hello, Ada! Hello, Ada!",
    "count": 3,
    "tags": ["b", "a"],
    "at": "2023-11-14T22:13:20Z",
    "authorization": "",
}


async def serve(
    caio_host: Any, router: Any, tmp_path: Path, document: dict[str, Any], demo: Demo | None = None
) -> GrpcBridgeService:
    """The bridge for ``document`` (with the demo's descriptor set when ``demo`` is given),
    hosted and available to the router."""
    service = GrpcBridgeService()
    path = write_contract(tmp_path, document, demo.descriptor_set if demo else None)
    await caio_host(service, path, register=True)
    assert await router.liveness.wait_available("greeter", timeout_s=10)
    return service


async def test_a_routed_request_reaches_the_method_found_by_reflection(
    caio_host: Any, router: Any, route: Route, tmp_path: Path, grpc_target: str
) -> None:
    await serve(caio_host, router, tmp_path, contract_document(grpc_target))

    reply = await route("greet", {"name": "Ada", "times": 2, "tags": ["a", "b"]})

    assert reply["status"] == "ok", reply
    assert reply["service_id"] == "greeter"
    assert reply["result"] == GREETING


async def test_a_descriptor_set_serves_without_asking_the_server(
    caio_host: Any, router: Any, route: Route, tmp_path: Path, demo: Demo
) -> None:
    from grpc_bridge_support import start_server

    server, target = await start_server(demo, reflecting=False)  # reflection would fail
    try:
        document = contract_document(target, descriptor_set="protos/demo.pb")
        service = await serve(caio_host, router, tmp_path, document, demo)

        reply = await route("greet", {"name": "Ada", "times": 2, "tags": ["a", "b"]})
    finally:
        await server.stop(None)

    assert reply["status"] == "ok", reply
    assert reply["result"] == GREETING
    assert service.methods()["greet"].request_type == "caio.demo.GreetRequest"


async def test_the_credential_named_by_auth_is_sent_as_metadata(
    caio_host: Any,
    router: Any,
    route: Route,
    tmp_path: Path,
    grpc_target: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAIO_TEST_GRPC_TOKEN", "s3cret-token")
    auth = {"env": "CAIO_TEST_GRPC_TOKEN", "scheme": "Bearer"}
    await serve(caio_host, router, tmp_path, contract_document(grpc_target, auth=auth))

    reply = await route("greet", {"name": "Ada"})

    assert reply["status"] == "ok", reply
    assert reply["result"]["authorization"] == "Bearer s3cret-token"


@pytest.mark.parametrize(
    ("context", "field", "says"),
    [
        ({"nmae": "Ada"}, "nmae", 'has no field named "nmae"'),
        ({"name": "Ada", "times": "twice"}, "times", "Failed to parse times field"),
        ({"name": ["Ada"]}, "name", "Failed to parse name field"),
    ],
    ids=["unknown-field", "wrong-type", "list-for-string"],
)
async def test_a_context_that_does_not_fit_the_request_is_invalid_naming_the_field(
    caio_host: Any,
    router: Any,
    route: Route,
    tmp_path: Path,
    grpc_target: str,
    context: dict[str, Any],
    field: str,
    says: str,
) -> None:
    await serve(caio_host, router, tmp_path, contract_document(grpc_target))

    reply = await route("greet", context)

    assert reply["status"] == "error", reply
    error = reply["error"]
    assert error["code"] == "invalid_request"
    assert says in error["message"]
    assert "caio.demo.GreetRequest" in error["message"]
    (attempt,) = error["details"]["attempts"]
    assert attempt["error"]["details"]["field"] == field
    assert attempt["error"]["details"]["reason"] == "invalid_input"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("INVALID_ARGUMENT", "invalid_request"),
        ("UNAVAILABLE", "service_unavailable"),
        ("DEADLINE_EXCEEDED", "timeout"),
        ("RESOURCE_EXHAUSTED", "rate_limited"),
        ("NOT_FOUND", "service_error"),
        ("INTERNAL", "service_error"),
    ],
)
async def test_a_grpc_status_becomes_its_caio_code(
    caio_host: Any,
    router: Any,
    route: Route,
    tmp_path: Path,
    grpc_target: str,
    status: str,
    code: str,
) -> None:
    await serve(caio_host, router, tmp_path, contract_document(grpc_target))

    reply = await route("fail", {"code": status, "message": "the server says no"})

    assert reply["status"] == "error", reply
    # The router passes the code on; a retryable one it may try again: every attempt got it.
    attempts = reply["error"]["details"]["attempts"]
    assert {attempt["error"]["code"] for attempt in attempts} == {code}
    assert reply["error"]["code"] == code
    error = attempts[-1]["error"]
    assert error["message"] == f"{SERVICE}/Fail answered {status}: the server says no"
    assert error["details"]["grpc_status"] == status


async def test_the_request_deadline_is_the_calls_deadline(tmp_path: Path, grpc_target: str) -> None:
    service = GrpcBridgeService()
    service.initialize(write_contract(tmp_path, contract_document(grpc_target)))
    await service.setup()
    started = time.monotonic()
    try:
        with pytest.raises(Timeout) as raised:
            await service.execute(
                {"name": "Ada", "times": 3000},
                {"capability": "slow", "deadline_ms": int(time.time() * 1000) + 300},
            )
    finally:
        await service.teardown()

    assert time.monotonic() - started < 1.5
    assert raised.value.details["grpc_status"] == "DEADLINE_EXCEEDED"


async def test_a_method_the_server_lacks_stops_the_start_naming_it(
    caio_host: Any, tmp_path: Path, grpc_target: str
) -> None:
    document = contract_document(grpc_target)
    document["service"]["api"]["methods"][0]["method"] = f"{SERVICE}/Greeet"
    document["service"]["api"]["methods"][1]["method"] = "caio.demo.Nobody/Fail"
    service = GrpcBridgeService()

    with pytest.raises(InvalidContract) as raised:
        await caio_host(service, write_contract(tmp_path, document))

    assert raised.value.details["errors"] == [
        f"$.service.api.methods[0].method: {SERVICE} has no method 'Greeet' "
        "(its methods: Count, Fail, Greet, Slow)",
        f"$.service.api.methods[1].method: the gRPC server at {grpc_target} has no service "
        f"'caio.demo.Nobody' (services: {SERVICE})",
    ]
    assert raised.value.message.startswith("the gRPC bridge cannot serve greeter: ")

"""Seed 002's REST API, routing, jobs and the audit over HTTP, against the live gateway."""

from __future__ import annotations

import json

import httpx
import yaml
from conftest import Keys, Services
from services import contract


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_publisher_registers_a_contract_and_a_caller_may_not(
    http: httpx.AsyncClient, keys: Keys, caio_prefix: str
) -> None:
    document = contract(f"new-{caio_prefix}", ["translation"])

    registered = await http.post(
        "/api/v1/integration/register-service",
        json={"contract": document},
        headers=bearer(keys.publisher),
    )
    refused = await http.post(
        "/api/v1/integration/register-service",
        json={"contract": contract(f"other-{caio_prefix}", ["translation"])},
        headers=bearer(keys.caller),
    )

    assert registered.status_code == 200
    assert registered.json()["status"] == "registered"
    assert registered.json()["service_id"] == f"new-{caio_prefix}"
    assert refused.status_code == 403
    assert refused.json()["status"] == "error"
    assert refused.json()["error"]["code"] == "forbidden"


async def test_a_contract_path_on_the_server_is_refused_with_what_to_send_instead(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    response = await http.post(
        "/api/v1/integration/register-service",
        json={"contract_path": "contracts/my_service.yaml"},
        headers=bearer(keys.publisher),
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "upload-contract" in response.json()["error"]["message"]


async def test_an_uploaded_yaml_file_is_registered(
    http: httpx.AsyncClient, keys: Keys, caio_prefix: str
) -> None:
    text = yaml.safe_dump(contract(f"uploaded-{caio_prefix}", ["translation"]))

    response = await http.post(
        "/api/v1/integration/upload-contract",
        files={"file": ("service.yaml", text.encode(), "application/yaml")},
        headers=bearer(keys.publisher),
    )
    listed = await http.get("/api/v1/services", headers=bearer(keys.caller))

    assert response.status_code == 200
    assert response.json()["service_id"] == f"uploaded-{caio_prefix}"
    assert f"uploaded-{caio_prefix}" in [s["service_id"] for s in listed.json()["services"]]


async def test_an_upload_that_is_not_a_contract_is_invalid_contract(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    response = await http.post(
        "/api/v1/integration/upload-contract",
        files={"file": ("service.yaml", b"service: {id: Not A Token}\n", "application/yaml")},
        headers=bearer(keys.publisher),
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_contract"


async def test_validation_reports_each_problem_without_registering(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    valid = await http.post(
        "/api/v1/integration/validate-contract",
        json={"contract": contract("fine", ["chat"])},
        headers=bearer(keys.caller),
    )
    invalid = await http.post(
        "/api/v1/integration/validate-contract",
        json={"contract_yaml": "service: {id: fine}\n"},
        headers=bearer(keys.caller),
    )

    assert valid.json()["is_valid"] is True
    assert invalid.status_code == 200
    assert invalid.json()["is_valid"] is False
    assert invalid.json()["errors"]


async def test_discovery_ranks_the_services_offering_a_capability(
    http: httpx.AsyncClient, keys: Keys, services: Services
) -> None:
    response = await http.post(
        "/api/v1/integration/discover-services",
        json={"capabilities": ["chat"], "constraints": {"data_locality": ["on_prem"]}},
        headers=bearer(keys.caller),
    )

    assert response.status_code == 200
    assert [s["service_id"] for s in response.json()["services"]] == [services.echo_id]


async def test_services_are_listed_fetched_and_deregistered_by_their_owner(
    http: httpx.AsyncClient, keys: Keys, services: Services
) -> None:
    listed = await http.get(
        "/api/v1/services", params={"capability": "summary"}, headers=bearer(keys.caller)
    )
    fetched = await http.get(f"/api/v1/services/{services.echo_id}", headers=bearer(keys.caller))
    removed = await http.delete(
        f"/api/v1/services/{services.plain_id}", headers=bearer(keys.publisher)
    )
    gone = await http.get(f"/api/v1/services/{services.plain_id}", headers=bearer(keys.caller))

    assert [s["service_id"] for s in listed.json()["services"]] == [services.plain_id]
    assert fetched.json()["availability"] == "available"
    assert removed.json()["status"] == "deregistered"
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


async def test_a_route_request_is_answered_with_the_routers_reply(
    http: httpx.AsyncClient, keys: Keys, services: Services
) -> None:
    response = await http.post(
        "/api/v1/route/summary",
        json={"context": {"messages": [{"role": "user", "content": "x"}]}, "request_id": "r-1"},
        headers=bearer(keys.caller),
    )

    assert response.status_code == 200
    assert response.json()["result"] == {"text": "in short: x"}
    assert response.json()["request_id"] == "r-1"
    assert response.headers["x-caio-request-id"] == "r-1"


async def test_a_dry_run_answers_with_the_decision(
    http: httpx.AsyncClient, keys: Keys, services: Services
) -> None:
    response = await http.post(
        "/api/v1/route/chat", json={"context": {}, "dry_run": True}, headers=bearer(keys.caller)
    )

    assert response.json()["dry_run"] is True
    assert response.json()["service_id"] == services.echo_id


async def test_a_streamed_route_is_server_sent_chunks_then_the_reply(
    http: httpx.AsyncClient, keys: Keys, services: Services
) -> None:
    body = {"context": {"messages": [{"role": "user", "content": "hi"}]}, "stream": True}
    async with http.stream(
        "POST", "/api/v1/route/chat", json=body, headers=bearer(keys.caller)
    ) as response:
        text = (await response.aread()).decode()
    events = [block.split("\n") for block in text.strip().split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in events]
    last = json.loads(events[-1][1].removeprefix("data: "))

    assert response.headers["content-type"].startswith("text/event-stream")
    assert names == ["chunk", "chunk", "chunk", "chunk", "reply"]
    assert last["stream"]["chunks"] == 4


async def test_a_route_nobody_can_serve_is_503_with_caios_error_body(
    http: httpx.AsyncClient, keys: Keys, services: Services
) -> None:
    response = await http.post(
        "/api/v1/route/translation", json={"context": {}}, headers=bearer(keys.caller)
    )

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "no_matching_service"


async def test_a_job_is_accepted_and_its_result_read_back(
    http: httpx.AsyncClient, keys: Keys, services: Services
) -> None:
    body = {"context": {"messages": [{"role": "user", "content": "later"}]}, "request_id": "job-1"}
    accepted = await http.post("/api/v1/route/summary/job", json=body, headers=bearer(keys.caller))
    done = await http.get("/api/v1/jobs/job-1", params={"wait_s": 10}, headers=bearer(keys.caller))
    unknown = await http.get("/api/v1/jobs/job-unknown", headers=bearer(keys.caller))

    assert accepted.status_code == 202
    assert accepted.json() == {"status": "accepted", "request_id": "job-1"}
    assert done.status_code == 200
    assert done.json()["result"] == {"text": "in short: later"}
    assert unknown.status_code == 202
    assert unknown.json()["status"] == "pending"


async def test_job_results_need_a_key_the_router_accepts(
    http: httpx.AsyncClient, services: Services
) -> None:
    response = await http.get("/api/v1/jobs/job-1", headers=bearer("caio_forged_key"))

    assert response.status_code == 401


async def test_the_audit_pages_through_decisions_for_admins_only(
    http: httpx.AsyncClient, keys: Keys, services: Services
) -> None:
    for n in range(3):
        await http.post(
            "/api/v1/route/summary",
            json={"context": {"messages": [{"role": "user", "content": str(n)}]}},
            headers=bearer(keys.caller),
        )
    query = {"kind": "route", "limit": 2}
    first = await http.get("/api/v1/audit", params=query, headers=bearer(keys.admin))
    after = first.json()["next_after"]
    second = await http.get(
        "/api/v1/audit", params={**query, "after": after}, headers=bearer(keys.admin)
    )
    refused = await http.get("/api/v1/audit", headers=bearer(keys.caller))

    assert [r["kind"] for r in first.json()["records"]] == ["route", "route"]
    assert first.json()["more"] is True
    assert [r["caller"] for r in second.json()["records"]] == ["test-caller"]
    assert second.json()["more"] is False
    assert second.json()["records"][0]["seq"] > after
    assert refused.status_code == 403


async def test_the_audit_reads_from_a_time_on(
    http: httpx.AsyncClient, keys: Keys, services: Services
) -> None:
    everything = await http.get("/api/v1/audit", headers=bearer(keys.admin))
    records = everything.json()["records"]
    middle = records[len(records) // 2]
    from_middle = await http.get(
        "/api/v1/audit", params={"since": middle["ts"]}, headers=bearer(keys.admin)
    )
    from_the_future = await http.get(
        "/api/v1/audit", params={"since": "2999-01-01T00:00:00Z"}, headers=bearer(keys.admin)
    )

    assert len(records) >= 2  # the two services' registrations at least
    assert from_middle.json()["records"] == records[len(records) // 2 :]
    assert from_the_future.json()["records"] == []


async def test_an_empty_audit_page_answers_at_once(
    http: httpx.AsyncClient, keys: Keys, services: Services
) -> None:
    response = await http.get(
        "/api/v1/audit", params={"outcome": "timeout", "kind": "denied"}, headers=bearer(keys.admin)
    )

    assert response.json()["records"] == []
    assert response.json()["more"] is False


async def test_a_body_over_the_limit_is_413_before_it_is_read(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    response = await http.post(
        "/api/v1/route/chat",
        content=b'{"context": {"x": "' + b"a" * 70_000 + b'"}}',
        headers={**bearer(keys.caller), "content-type": "application/json"},
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_a_malformed_body_is_invalid_request_naming_the_field(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    response = await http.post(
        "/api/v1/route/chat",
        json={"context": {}, "timeout_ms": "soon"},
        headers=bearer(keys.caller),
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["details"]["errors"][0].startswith("timeout_ms:")


async def test_an_unknown_path_is_not_found_in_the_shape_of_its_api(
    http: httpx.AsyncClient,
) -> None:
    rest = await http.get("/api/v1/nothing")
    openai_style = await http.get("/v1/nothing")

    assert rest.json()["error"]["code"] == "not_found"
    assert openai_style.json()["error"]["code"] == "not_found"
    assert openai_style.json()["error"]["type"] == "not_found_error"


async def test_the_openapi_document_describes_both_apis(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()

    assert "/api/v1/integration/register-service" in document["paths"]
    assert "/v1/chat/completions" in document["paths"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"

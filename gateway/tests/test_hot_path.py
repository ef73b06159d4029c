"""``POST /v1/chat/completions`` answers the same through the hot path as through FastAPI.

Each request is sent twice: as ``application/json`` (the hot path serves
the common request) and as ``application/x-caio+json``, which FastAPI reads
as JSON but the hot path leaves to FastAPI's route. Status, headers and
body must match, once the request id each routed request gets is left out.
A spy on the hot path's call of the route's code tells which path served.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from conftest import Keys, Services

from caio_gateway import hot_path, openai_routes
from caio_gateway.app import _sticky

HOT = "application/json"
FASTAPI = "application/x-caio+json"  # +json: FastAPI parses it, the hot path passes it on
CHAT = "/v1/chat/completions"


@pytest.fixture
def served_hot(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The model of each request the hot path answered (it looks the route's code up per call)."""
    served: list[str] = []
    route = openai_routes.chat_completion

    async def spy(request: Any, caller: Any, constraints: str | None) -> Any:
        served.append(request.model)
        return await route(request, caller, constraints)

    monkeypatch.setattr(hot_path, "chat_completion", spy)
    return served


def _seen(response: httpx.Response) -> tuple[int, dict[str, str], str]:
    """What a caller sees, without what differs per routed request (date, request id, time)."""
    headers = {k: v for k, v in response.headers.items() if k not in ("date", "content-length")}
    text = re.sub(r'"created":\d+', '"created":0', response.text)
    request_id = headers.pop("x-caio-request-id", None)
    if request_id:
        text = text.replace(request_id, "<request id>")
    return response.status_code, headers, text


async def _both(
    http: httpx.AsyncClient, body: Any, headers: dict[str, str] | None = None
) -> tuple[tuple[int, dict[str, str], str], tuple[int, dict[str, str], str]]:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answers = []
    for content_type in (HOT, FASTAPI):
        sent = {**(headers or {}), "Content-Type": content_type}
        answers.append(_seen(await http.post(CHAT, content=content, headers=sent)))
    hot, fastapi = answers
    return hot, fastapi


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _chat(model: str = "caio/chat", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello"}], **fields}


@pytest.mark.parametrize(
    ("body", "case"),
    [
        (_chat(), "routed by capability"),
        (_chat(max_tokens=12345678901234567890123), "an integer past 64 bits"),
        (_chat(temperature=float("nan")), "NaN, which Python's json reads"),
        (_chat("caio/summary"), "a result wrapped as one message"),
        (_chat("caio/no_such_capability"), "no matching service"),
        (_chat("caio/Not A Capability"), "not a capability name"),
        (_chat("no-such-service"), "no service with that id"),
        (_chat(caio={"constraints": {"data_locality": ["on_prem"]}}), "options in the body"),
        (_chat(metadata={"caio": "{not json"}), "metadata.caio that is not JSON"),
        (_chat(metadata={"caio": json.dumps({"timeout_ms": 5000}), "team": "b"}), "metadata"),
        (_chat(stream=True), "streamed"),
        (_chat("caio/summary", stream=True), "streamed by a service that does not stream"),
    ],
)
async def test_a_request_the_hot_path_serves_is_answered_as_fastapi_answers_it(
    http: httpx.AsyncClient,
    keys: Keys,
    services: Services,
    served_hot: list[str],
    body: dict[str, Any],
    case: str,
) -> None:
    hot, fastapi = await _both(http, body, _bearer(keys.caller))

    assert hot == fastapi, case
    assert served_hot == [body["model"]]  # the first of the two, and only that one


async def test_a_service_id_as_model_is_answered_alike(
    http: httpx.AsyncClient, keys: Keys, services: Services, served_hot: list[str]
) -> None:
    body = _chat(services.echo_id)

    hot, fastapi = await _both(http, body, _bearer(keys.caller))

    assert hot == fastapi
    assert hot[0] == 200
    assert served_hot == [services.echo_id]


@pytest.mark.parametrize(
    ("headers", "case"),
    [
        ({"X-CAIO-Constraints": '{"data_locality": ["on_prem"]}'}, "constraints header"),
        ({"X-CAIO-Constraints": "not json"}, "a constraints header that is not JSON"),
        ({"X-CAIO-Constraints": ""}, "an empty constraints header"),
    ],
)
async def test_the_constraints_header_is_read_alike(
    http: httpx.AsyncClient,
    keys: Keys,
    services: Services,
    served_hot: list[str],
    headers: dict[str, str],
    case: str,
) -> None:
    hot, fastapi = await _both(http, _chat(), {**_bearer(keys.caller), **headers})

    assert hot == fastapi, case
    assert served_hot == ["caio/chat"]


@pytest.mark.parametrize(
    ("authorization", "hot_path_serves"),
    [
        (None, True),  # no key: the router refuses it (401)
        ("Bearer caio_0000_forged", True),  # a key the router does not know
        ("bearer {key}", True),  # the scheme in any case
        ("Bearer  {key}", False),  # two spaces: HTTPBearer strips them, the hot path passes
        ("Basic dXNlcjpwdw==", False),  # another scheme: the gateway's own 401
        ("Bearer", False),  # no key at all
        ("Bearer key with spaces", False),  # not a key
    ],
)
async def test_each_authorization_is_answered_alike(
    http: httpx.AsyncClient,
    keys: Keys,
    services: Services,
    served_hot: list[str],
    authorization: str | None,
    hot_path_serves: bool,
) -> None:
    headers = (
        {} if authorization is None else {"Authorization": authorization.format(key=keys.caller)}
    )

    hot, fastapi = await _both(http, _chat(), headers)

    assert hot == fastapi
    assert served_hot == (["caio/chat"] if hot_path_serves else [])


@pytest.mark.parametrize(
    ("body", "case"),
    [
        (b'{"model": "caio/chat"', "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"model": "caio/chat", "messages": []}', "no messages"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "no model"),
        (
            b'{"model": "caio/chat", "messages": [{}], "caio": {"constraints": {"localty": 1}}}',
            "a misspelled option",
        ),
        (b"", "no body"),
    ],
)
async def test_a_body_the_route_refuses_is_left_to_fastapi(
    http: httpx.AsyncClient,
    keys: Keys,
    services: Services,
    served_hot: list[str],
    body: bytes,
    case: str,
) -> None:
    hot, fastapi = await _both(http, body, _bearer(keys.caller))

    assert hot == fastapi, case
    assert served_hot == []


async def test_other_content_types_and_methods_are_fastapis(
    http: httpx.AsyncClient, keys: Keys, services: Services, served_hot: list[str]
) -> None:
    content = json.dumps(_chat()).encode()
    plain = await http.post(
        CHAT, content=content, headers={**_bearer(keys.caller), "Content-Type": "text/plain"}
    )
    got = await http.get(CHAT, headers=_bearer(keys.caller))

    assert plain.status_code == 400
    assert plain.json()["error"]["code"] == "invalid_request"
    assert got.status_code == 405
    assert served_hot == []


async def test_a_body_over_the_limit_is_413_on_either_path(
    http: httpx.AsyncClient, keys: Keys, services: Services, served_hot: list[str]
) -> None:
    body = _chat(padding="x" * (64 * 1024))  # the tests' gateway takes 64 KiB

    hot, fastapi = await _both(http, body, _bearer(keys.caller))

    assert hot == fastapi
    assert hot[0] == 413
    assert served_hot == []


def test_the_telemetry_check_is_asked_again_only_while_false_and_not_within_the_period() -> None:
    answers = [False, True, False]
    asked: list[bool] = []

    def check() -> bool:
        asked.append(answers[len(asked)])
        return asked[-1]

    within = _sticky(check, every_s=3600)
    assert [within(), within()] == [False, False]
    assert asked == [False]  # the second call within the period did not ask

    again = _sticky(check, every_s=0)
    assert [again(), again(), again()] == [True, True, True]
    assert asked == [False, True]  # once True, never asked again

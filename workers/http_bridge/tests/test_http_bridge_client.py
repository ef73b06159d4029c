"""The bridge's HTTP client (one aiohttp session per instance), called directly, without NATS.

What the other tests reach through a host, here pinned at the call: the URL
a route makes, the query a GET sends, what a session must not carry from one
caller to the next, and the lines a streamed body is cut into.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from fake_upstream import FakeUpstream, Reply, json_reply

from caio_http_bridge import HttpBridgeService
from caio_http_bridge.streams import lines
from caio_integration.errors import ServiceError


def lookup_contract(tmp_path: Path, method: str) -> Path:
    document = {
        "service": {
            "id": "lookup",
            "name": "Lookup",
            "version": "1.0.0",
            "capabilities": [{"type": "lookup"}],
            "api": {
                "protocol": "http",
                "base_url": "http://127.0.0.1:9",
                "endpoints": [{"capability": "lookup", "path": "/find", "method": method}],
            },
        }
    }
    path = tmp_path / "lookup.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


async def started(path: Path, base_url: str) -> HttpBridgeService:
    service = HttpBridgeService(base_url=base_url)
    service.initialize(path)
    await service.setup()
    return service


@pytest.mark.parametrize("base", ["/api", "/api/"])
async def test_a_get_sends_the_context_as_the_query_under_the_base_urls_path(
    upstream: FakeUpstream, tmp_path: Path, base: str
) -> None:
    upstream.answer_with(json_reply(200, {"found": True}))
    service = await started(lookup_contract(tmp_path, "GET"), upstream.base_url + base)
    try:
        reply = await service.execute(
            {"q": "a b", "n": 2, "exact": True, "skip": None}, {"capability": "lookup"}
        )
    finally:
        await service.teardown()

    assert reply.result == {"found": True}
    assert upstream.last.method == "GET"
    assert upstream.last.path == "/api/find?q=a+b&n=2&exact=true"


async def test_no_cookie_an_upstream_sets_reaches_the_next_caller(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.answer_with(json_reply(200, {}, {"set-cookie": "session=first-callers; Path=/"}))
    service = await started(lookup_contract(tmp_path, "POST"), upstream.base_url)
    try:
        for _ in range(2):
            await service.execute({"q": "x"}, {"capability": "lookup"})
    finally:
        await service.teardown()

    assert [seen.headers.get("cookie") for seen in upstream.seen] == [None, None]
    assert upstream.last.headers["content-type"] == "application/json"
    assert upstream.last.body == {"q": "x"}


async def test_an_error_page_is_read_no_further_than_its_message_needs(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.answer_with(Reply(503, {"content-type": "text/plain"}, b"x" * (1 << 20)))
    service = await started(lookup_contract(tmp_path, "POST"), upstream.base_url)
    try:
        with pytest.raises(ServiceError) as failed:
            await service.execute({"q": "x"}, {"capability": "lookup"})
    finally:
        await service.teardown()

    assert failed.value.details == {"status": 503, "reason": "upstream_error"}
    assert failed.value.retryable is True


async def pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((b"a\nb\n",), ["a", "b"]),
        ((b"a\r", b"\nb\r\n\r\n"), ["a", "b", ""]),  # a CRLF split across two pieces
        ((b"a\rb", b"\rc"), ["a", "b", "c"]),  # lone CRs end lines too
        ((b"da", b"ta: x", b"\n"), ["data: x"]),
        ((b'{"t": "x\xe2\x80\xa8y"}\n',), ['{"t": "x\u2028y"}']),  # U+2028 is not a line end
        ((b"\xc3", b"\xa9\n"), ["é"]),  # a character split across two pieces
        ((b"last",), ["last"]),
    ],
)
async def test_a_body_is_cut_into_lines_where_server_sent_events_end_them(
    parts: tuple[bytes, ...], expected: list[str]
) -> None:
    assert [line async for line in lines(pieces(*parts))] == expected

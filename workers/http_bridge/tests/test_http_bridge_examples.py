"""Each example contract in contracts/examples, served by the bridge behind a real router.

A caller routes by capability with nothing but NATS; the router picks the
bridge; the bridge calls the (fake, real-HTTP) upstream the contract names
and answers with the upstream's JSON. What the upstream received is checked
too: the body the contract's defaults complete, the credential from the
environment, the contract's static headers.
"""

from __future__ import annotations

from typing import Any

from fake_upstream import FakeUpstream, fake_vector
from http_bridge_support import EXAMPLES, SECRET, Route, StartBridge, serving

HELLO = {"messages": [{"role": "user", "content": "hello there"}]}


async def test_an_openai_compatible_chat_server_answers_routed_chat_completions(
    bridge: StartBridge, router: Any, route: Route, upstream: FakeUpstream
) -> None:
    service = await bridge(
        EXAMPLES / "openai-compatible-chat.yaml",
        path="/v1",
        env={"OPENAI_API_KEY": SECRET},
        register=True,
    )
    await serving(router, service)

    reply = await route("chat_completion", HELLO)

    assert reply["status"] == "ok", reply
    assert reply["service_id"] == "openai-compatible-chat"
    assert reply["result"]["choices"][0]["message"]["content"] == "Echo: hello there"
    assert reply["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    sent = upstream.last
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.body == {**HELLO, "model": "meta-llama/Llama-3.1-8B-Instruct", "stream": False}
    assert sent.headers["authorization"] == f"Bearer {SECRET}"


async def test_the_callers_model_wins_over_the_contracts_default(
    bridge: StartBridge, router: Any, route: Route, upstream: FakeUpstream
) -> None:
    service = await bridge(
        EXAMPLES / "openai-compatible-chat.yaml",
        path="/v1",
        env={"OPENAI_API_KEY": SECRET},
        register=True,
    )
    await serving(router, service)

    reply = await route("chat_completion", {**HELLO, "model": "qwen2.5:7b"})

    assert reply["result"]["model"] == "qwen2.5:7b"
    assert upstream.last.body["model"] == "qwen2.5:7b"


async def test_the_anthropic_messages_api_answers_with_its_key_and_version_headers(
    bridge: StartBridge, router: Any, route: Route, upstream: FakeUpstream
) -> None:
    service = await bridge(
        EXAMPLES / "anthropic-messages.yaml", env={"ANTHROPIC_API_KEY": SECRET}, register=True
    )
    await serving(router, service)

    reply = await route("anthropic_message", HELLO)

    assert reply["status"] == "ok", reply
    assert reply["result"]["content"] == [{"type": "text", "text": "Echo: hello there"}]
    assert reply["usage"] == {"input_tokens": 3, "output_tokens": 3}
    sent = upstream.last
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == SECRET
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body["max_tokens"] == 1024


async def test_an_embeddings_server_answers_text_embedding(
    bridge: StartBridge, router: Any, route: Route, upstream: FakeUpstream
) -> None:
    service = await bridge(EXAMPLES / "text-embeddings.yaml", path="/v1", register=True)
    await serving(router, service)

    reply = await route("text_embedding", {"input": ["first text", "second text"]})

    assert reply["status"] == "ok", reply
    vectors = [item["embedding"] for item in reply["result"]["data"]]
    assert vectors == [fake_vector("first text"), fake_vector("second text")]
    assert upstream.last.body["model"] == "nomic-embed-text"
    assert "authorization" not in upstream.last.headers  # the contract names no credential


async def test_a_custom_json_model_server_answers_with_its_own_shapes(
    bridge: StartBridge, router: Any, route: Route, upstream: FakeUpstream
) -> None:
    service = await bridge(EXAMPLES / "sentiment-model.yaml", register=True)
    await serving(router, service)

    reply = await route("sentiment_analysis", {"texts": ["I love it", "I hate it", "a chair"]})

    assert reply["status"] == "ok", reply
    labels = [p["label"] for p in reply["result"]["predictions"]]
    assert labels == ["positive", "negative", "neutral"]
    assert upstream.last.headers["x-model-version"] == "2024-06"
    assert upstream.last.body == {"texts": ["I love it", "I hate it", "a chair"]}


async def test_the_registry_holds_the_contract_as_its_file_says_it(
    bridge: StartBridge, router: Any, caio_nc: Any, caio_prefix: str
) -> None:
    """Overrides (here the base URL) are the instance's own: registering stays idempotent
    with ``caio register FILE``."""
    from caio_integration.client import CAIOClient

    service = await bridge(EXAMPLES / "sentiment-model.yaml", register=True)
    await serving(router, service)
    async with CAIOClient(prefix=caio_prefix, nc=caio_nc) as caio:
        stored = await caio.get_service("sentiment-model")

    assert stored.contract["service"]["api"]["base_url"] == "http://127.0.0.1:9000"
    assert stored.availability == "available"
